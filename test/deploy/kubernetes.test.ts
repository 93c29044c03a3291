/**
 * deploy/kubernetes/: every overlay renders with kustomize, every object it renders is
 * valid against the Kubernetes API schemas (kubeconform, strict, the committed schemas of
 * the oldest supported version), and the rendered objects hold the operational promises
 * of issue 5: one run at a time, bounded in time and retries, non-root on a read-only
 * root filesystem, config from a ConfigMap and credentials from a Secret, probes and a
 * metrics port for the daemon. The checks read kustomize's output, not the source files,
 * so they see what `kubectl apply -k` would send.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { rawConfigSchema } from '../../src/config/schema.js';
import { scheduleGapSeconds } from '../../src/engine/policy.js';
import { SERVICE_ACCOUNT_DIRECTORY } from '../../src/stores/kubernetes/connection.js';
import { secretNameOf } from '../../src/stores/kubernetes/layout.js';
import {
  type ConfigMap,
  type CronJob,
  componentOf,
  type Deployment,
  type K8sObject,
  KUBERNETES_DIR,
  KUBERNETES_STORE_OVERLAYS,
  OVERLAYS,
  type Overlay,
  type PodDisruptionBudget,
  type PodSpec,
  podTemplateOf,
  type Rendered,
  render,
  rotatorContainer,
  type Service,
  usesKubernetesStore,
  validate,
  workloadOf,
} from './manifests.js';

const NAMESPACE = 'token-rotator';
const CONFIG_PATH = '/etc/token-rotator/config.yaml';
/** The image's user (Dockerfile `USER 1000:1000`, the node user of the node images). */
const IMAGE_UID = 1000;
const CLUSTER_SCOPED = new Set(['Namespace']);

const rendered = new Map<Overlay, Rendered>();
beforeAll(async () => {
  for (const overlay of OVERLAYS) rendered.set(overlay, await render(overlay));
});
const get = (overlay: Overlay) => rendered.get(overlay)!;

/** The config file the overlay's pods read: the ConfigMap's `config.yaml`, parsed. */
function configOf(overlay: Overlay): { text: string; config: Record<string, any> } {
  const r = get(overlay);
  const pod = podTemplateOf(workloadOf(r)).spec;
  const volume = pod.volumes?.find((v) => v.name === 'config');
  const configMap = r.all<ConfigMap>('ConfigMap').find((map) => map.metadata.name === volume?.configMap?.name);
  if (configMap === undefined) throw new Error(`${overlay}: the config volume names no rendered ConfigMap`);
  const text = configMap.data[basename(CONFIG_PATH)];
  if (text === undefined) throw new Error(`${overlay}: the ConfigMap has no ${basename(CONFIG_PATH)}`);
  return { text, config: parse(text) as Record<string, any> };
}

/**
 * An upper estimate of one pass, in seconds, from the config's policy: in each wave of
 * `concurrency` providers, a provider may wait up to `lease_seconds` for another runner's
 * lease, then holds its own lease for the token calls and retry waits (the engine starts
 * no attempt that would outlast it), then makes a few store requests (read, lease,
 * state, public) each bounded by the store's request timeout.
 */
function worstPassSeconds(config: Record<string, any>): number {
  const policy = config['policy'] as Record<string, number>;
  const providers = Object.keys(config['providers'] as object).length;
  const waves = Math.ceil(providers / (policy['concurrency'] ?? 4));
  const storeRequest = (config['store']?.['request_timeout_seconds'] as number | undefined) ?? 10;
  return waves * (2 * (policy['lease_seconds'] ?? 120) + 4 * storeRequest);
}

/** Every `${file:/path}` a text references. */
function fileReferences(text: string): string[] {
  return [...text.matchAll(/\$\{file:(\/[^}]+)\}/g)].map((match) => match[1]!);
}

/** The volume mounted at the deepest mount path that holds `path`. */
function mountHolding(pod: PodSpec, path: string) {
  const mounts = rotatorContainer(pod).volumeMounts ?? [];
  const holding = mounts
    .filter((mount) => path.startsWith(`${mount.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  return holding && { mount: holding, volume: pod.volumes?.find((v) => v.name === holding.name) };
}

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  it('renders objects that are all valid Kubernetes objects (kubeconform, strict)', async () => {
    const r = get(overlay);
    const { code, verdicts } = await validate(r.yaml);
    // kubeconform works in parallel: compare in a fixed order.
    expect(verdicts.map((v) => `${v.kind}/${v.name}: ${v.status} ${v.msg}`.trim()).sort()).toEqual(
      r.objects.map((o) => `${o.kind}/${o.metadata.name}: statusValid`).sort(),
    );
    expect(code).toBe(0);
  });

  it('puts every namespaced object in the token-rotator namespace, with the app.kubernetes.io labels', () => {
    const r = get(overlay);
    const component = componentOf(overlay);
    expect(r.one('Namespace').metadata.name).toBe(NAMESPACE);
    for (const object of r.objects) {
      const id = `${object.kind}/${object.metadata.name}`;
      expect(object.metadata.namespace, id).toBe(CLUSTER_SCOPED.has(object.kind) ? undefined : NAMESPACE);
      expect(object.metadata.labels, id).toMatchObject({
        'app.kubernetes.io/name': 'token-rotator',
        'app.kubernetes.io/part-of': 'token-rotator',
        'app.kubernetes.io/managed-by': 'kustomize',
        'app.kubernetes.io/component': component,
      });
    }
    expect(podTemplateOf(workloadOf(r)).metadata?.labels).toMatchObject({
      'app.kubernetes.io/name': 'token-rotator',
      'app.kubernetes.io/component': component,
    });
  });

  it("runs the image from the overlay's images: entry, as a non-root user on a read-only root filesystem with a writable /tmp", () => {
    const pod = podTemplateOf(workloadOf(get(overlay))).spec;
    const container = rotatorContainer(pod);
    expect(container.image).toBe('registry.example.com/token-rotator:0.1.0');
    expect(container.command).toBeUndefined(); // the image's ENTRYPOINT (tini, node, the CLI) stays
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: IMAGE_UID,
      runAsGroup: IMAGE_UID,
      fsGroup: IMAGE_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.initContainers ?? []).toEqual([]);
    expect(pod.containers).toHaveLength(1);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.securityContext?.privileged ?? false).toBe(false);
    expect(container.securityContext?.capabilities?.add ?? []).toEqual([]);
    const tmp = mountHolding(pod, '/tmp/x');
    expect(tmp?.mount.mountPath).toBe('/tmp');
    expect(tmp?.mount.readOnly ?? false).toBe(false);
    expect(tmp?.volume?.emptyDir?.sizeLimit).toBeDefined();
    for (const mount of container.volumeMounts ?? [])
      if (mount.mountPath !== '/tmp') expect(mount.readOnly, mount.mountPath).toBe(true);
    expect(container.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources?.limits).toMatchObject({ memory: expect.any(String) });
  });

  it('mounts the config from the ConfigMap at the --config path, and commits no Secret', () => {
    const r = get(overlay);
    const pod = podTemplateOf(workloadOf(r)).spec;
    const args = rotatorContainer(pod).args ?? [];
    expect(args[args.indexOf('--config') + 1]).toBe(CONFIG_PATH);
    expect(mountHolding(pod, CONFIG_PATH)?.volume?.configMap?.name).toMatch(/^token-rotator-config-[a-z0-9]+$/);
    expect(r.all('Secret')).toEqual([]);
    expect(pod.volumes?.find((v) => v.secret !== undefined)?.secret?.secretName).toBe('token-rotator-credentials');
  });

  it('has a config whose credentials are all files from the mounted Secret, and which loads once they exist', async () => {
    const { text, config } = configOf(overlay);
    const pod = podTemplateOf(workloadOf(get(overlay))).spec;
    // The schema refuses a plain-text client_secret, password or private_key.
    expect(rawConfigSchema.safeParse(config).error?.issues ?? []).toEqual([]);
    expect(config['store']?.['kind']).not.toBe('file'); // one host only: not for Kubernetes
    const references = fileReferences(text);
    expect(references.length).toBeGreaterThan(0);
    for (const path of references) {
      expect(mountHolding(pod, path)?.volume?.secret?.secretName, path).toBe('token-rotator-credentials');
    }

    // With the Secret's files in place (generated here, never committed), the config loads.
    const dir = await mkdtemp(join(tmpdir(), 'tr-k8s-config-'));
    try {
      const { privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
      let local = text;
      for (const path of new Set(references)) {
        const name = basename(path);
        const value = name.endsWith('.pem')
          ? privateKey
          : name === 'klikoo-client-id'
            ? randomUUID()
            : randomBytes(16).toString('hex');
        await writeFile(join(dir, name), value, { mode: 0o600 });
        local = local.replaceAll(`\${file:${path}}`, `\${file:${join(dir, name)}}`);
      }
      const loaded = await parseConfig(local, CONFIG_PATH, {});
      expect(loaded.policy.schedule).toBe(config['policy']['schedule']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("lets the pods reach only DNS, Vault and HTTPS (and the API server's 6443 with the Kubernetes store), and accept nothing but the daemon's metrics port", () => {
    const r = get(overlay);
    type Policy = K8sObject & {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress?: { ports?: { port: number | string }[] }[];
        egress?: { ports?: { port: number | string }[] }[];
      };
    };
    const policies = r.all<Policy>('NetworkPolicy');
    const podLabels = podTemplateOf(workloadOf(r)).metadata?.labels ?? {};
    const selecting = policies.filter((p) =>
      Object.entries(p.spec.podSelector.matchLabels).every(([k, v]) => podLabels[k] === v),
    );
    expect(selecting.length).toBe(policies.length);
    expect(selecting.some((p) => p.spec.policyTypes.includes('Ingress') && p.spec.policyTypes.includes('Egress'))).toBe(
      true,
    );
    const egressPorts = selecting
      .flatMap((p) => p.spec.egress ?? [])
      .flatMap((rule) => (rule.ports ?? []).map((port) => port.port));
    expect(new Set(egressPorts)).toEqual(new Set([53, 8200, 443, ...(usesKubernetesStore(overlay) ? [6443] : [])]));
    const ingressPorts = selecting
      .flatMap((p) => p.spec.ingress ?? [])
      .flatMap((rule) => (rule.ports ?? []).map((port) => port.port));
    expect(ingressPorts).toEqual(componentOf(overlay) === 'daemon' ? ['metrics'] : []);
  });
});

describe.each(OVERLAYS.filter((overlay) => !usesKubernetesStore(overlay)))('overlay %s', (overlay) => {
  it('gives the pod no Kubernetes API token, and Vault a projected token with its own audience', () => {
    const r = get(overlay);
    const pod = podTemplateOf(workloadOf(r)).spec;
    const serviceAccount = r.one<K8sObject & { automountServiceAccountToken?: boolean }>('ServiceAccount');
    expect(pod.serviceAccountName).toBe(serviceAccount.metadata.name);
    expect(serviceAccount.automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    const { config } = configOf(overlay);
    const projected = (pod.volumes ?? [])
      .flatMap((v) => v.projected?.sources ?? [])
      .flatMap((s) => (s.serviceAccountToken ? [s.serviceAccountToken] : []));
    if (config['store']['kind'] === 'vault') {
      expect(config['store']['auth']).toMatchObject({ method: 'kubernetes', role: 'token-rotator' });
      const jwtFile = config['store']['auth']['jwt_file'] as string;
      const holder = mountHolding(pod, jwtFile);
      const token = holder?.volume?.projected?.sources.find(
        (s) => s.serviceAccountToken !== undefined,
      )?.serviceAccountToken;
      expect(token?.audience).toBe('vault');
      expect(posix.join(holder!.mount.mountPath, token!.path)).toBe(jwtFile);
      expect(token?.expirationSeconds).toBeLessThanOrEqual(3600);
    } else {
      // IRSA: the EKS webhook adds its own token; nothing of Vault's is left.
      expect(config['store']['kind']).toBe('aws');
      expect(serviceAccount.metadata.annotations?.['eks.amazonaws.com/role-arn']).toMatch(
        /^arn:aws:iam::\d{12}:role\//,
      );
      expect(projected).toEqual([]);
    }
  });
});

describe.each(Object.entries(KUBERNETES_STORE_OVERLAYS) as [Overlay, Overlay][])(
  'overlay %s (the Kubernetes store on overlay %s)',
  (overlay, base) => {
    it("mounts the pod's API token (the API server's audience, an hour at most), the cluster CA and the namespace where the store reads them in-cluster, and no Vault token", () => {
      const r = get(overlay);
      const pod = podTemplateOf(workloadOf(r)).spec;
      const { config } = configOf(overlay);
      expect(config['store']).toMatchObject({ kind: 'kubernetes' });
      expect(config['store']['kubeconfig']).toBeUndefined(); // in-cluster
      // Automount stays off: the one token is the explicit volume, in the rotator's container only.
      const serviceAccount = r.one<K8sObject & { automountServiceAccountToken?: boolean }>('ServiceAccount');
      expect(pod.serviceAccountName).toBe(serviceAccount.metadata.name);
      expect(serviceAccount.automountServiceAccountToken).toBe(false);
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const file of ['token', 'ca.crt', 'namespace']) {
        const holder = mountHolding(pod, posix.join(SERVICE_ACCOUNT_DIRECTORY, file));
        expect(holder?.mount.mountPath, file).toBe(SERVICE_ACCOUNT_DIRECTORY);
        expect(holder?.mount.readOnly, file).toBe(true);
      }
      const sources =
        mountHolding(pod, posix.join(SERVICE_ACCOUNT_DIRECTORY, 'token'))?.volume?.projected?.sources ?? [];
      expect(sources).toEqual([
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }, // no audience: the API server's
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ]);
      const tokens = (pod.volumes ?? [])
        .flatMap((v) => v.projected?.sources ?? [])
        .flatMap((s) => (s.serviceAccountToken ? [s.serviceAccountToken] : []));
      expect(tokens).toHaveLength(1);
      expect(rotatorContainer(pod).volumeMounts?.map((m) => m.mountPath)).not.toContain('/var/run/secrets/vault');
    });

    it('differs from its base overlay only in the store section of the config and what the store needs: the Role, its binding, egress to the API server and the token', () => {
      const r = get(overlay);
      const original = get(base);
      const { store: _store, ...settings } = configOf(overlay).config;
      const { store: _vault, ...baseSettings } = configOf(base).config;
      expect(settings).toEqual(baseSettings);

      // The ConfigMap's name ends in the hash of its (other) content.
      const ids = (objects: readonly K8sObject[]) =>
        objects
          .map(
            (o) =>
              `${o.kind}/${o.kind === 'ConfigMap' ? o.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>') : o.metadata.name}`,
          )
          .sort();
      const added = ['NetworkPolicy/token-rotator-kube-api', 'Role/token-rotator', 'RoleBinding/token-rotator'];
      expect(ids(r.objects)).toEqual([...ids(original.objects), ...added].sort());

      // The workload, once the config's generated name and the two token volumes are set aside.
      const comparable = (workload: K8sObject) => {
        const copy = structuredClone(workload);
        const pod = podTemplateOf(copy).spec;
        const tokenVolumes = new Set(['vault-token', 'kube-api-token']);
        pod.volumes = (pod.volumes ?? [])
          .filter((v) => !tokenVolumes.has(v.name))
          .map((v) => (v.configMap ? { ...v, configMap: { name: 'config' } } : v));
        for (const c of pod.containers)
          c.volumeMounts = (c.volumeMounts ?? []).filter((m) => !tokenVolumes.has(m.name));
        return copy;
      };
      expect(comparable(workloadOf(r))).toEqual(comparable(workloadOf(original)));
    });

    it("lets the rotator's Role get and update exactly the Secrets of the config's providers and the heartbeat", () => {
      const r = get(overlay);
      const { config } = configOf(overlay);
      const prefix = (config['store']['prefix'] as string | undefined) ?? 'token-rotator-';
      const paths = [
        'runner/heartbeat',
        ...Object.keys(config['providers'] as object).flatMap((p) => [`tokens/${p}`, `state/${p}`]),
      ];
      type Role = K8sObject & { rules: { verbs: string[]; resourceNames?: string[] }[] };
      const rules = r.one<Role>('Role').rules;
      const named = rules.find((rule) => rule.verbs.includes('update'));
      expect(named?.verbs).toEqual(['get', 'update']);
      expect([...(named?.resourceNames ?? [])].sort()).toEqual(paths.map((path) => secretNameOf(prefix, path)).sort());
      expect(r.one('RoleBinding')).toMatchObject({
        roleRef: { kind: 'Role', name: 'token-rotator' },
        subjects: [{ kind: 'ServiceAccount', name: r.one('ServiceAccount').metadata.name, namespace: NAMESPACE }],
      });
    });
  },
);

describe('deploy/kubernetes/overlays', () => {
  it('holds exactly the overlays under test', async () => {
    const folders = (await readdir(join(KUBERNETES_DIR, 'overlays'), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.sort()).toEqual([...OVERLAYS].sort());
  });
});

describe.each(['cronjob', 'aws-irsa', 'cronjob-kubernetes-store'] as const)('the CronJob of overlay %s', (overlay) => {
  const cronJob = () => get(overlay).one<CronJob>('CronJob');

  it("runs on the config's schedule and time zone, one Job at a time, never catching up on old ticks", () => {
    const { spec } = cronJob();
    const { config } = configOf(overlay);
    expect(spec.schedule).toBe(config['policy']['schedule']);
    expect(spec.timeZone).toBe('Etc/UTC');
    expect(spec.timeZone).toBe(config['policy']['timezone']);
    expect(spec.concurrencyPolicy).toBe('Forbid');
    const gap = scheduleGapSeconds(spec.schedule, spec.timeZone);
    expect(spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.startingDeadlineSeconds).toBeLessThan(gap);
  });

  it('keeps a short history, bounds retries, and ends a Job before the next tick', () => {
    const { spec } = cronJob();
    const job = spec.jobTemplate.spec;
    const { config } = configOf(overlay);
    const gap = scheduleGapSeconds(spec.schedule, spec.timeZone);
    expect(spec.successfulJobsHistoryLimit).toBeGreaterThanOrEqual(1);
    expect(spec.successfulJobsHistoryLimit).toBeLessThanOrEqual(5);
    expect(spec.failedJobsHistoryLimit).toBeGreaterThanOrEqual(1);
    expect(spec.failedJobsHistoryLimit).toBeLessThanOrEqual(5);
    expect(job.backoffLimit).toBeGreaterThanOrEqual(0);
    expect(job.backoffLimit).toBeLessThanOrEqual(2);
    expect(job.activeDeadlineSeconds).toBeGreaterThan(worstPassSeconds(config));
    expect(job.activeDeadlineSeconds).toBeLessThan(gap);
    expect(job.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(job.template.spec.restartPolicy).toBe('Never');
  });

  it('fails the Job at once on a config error (exit 2) instead of retrying it', () => {
    const rules = cronJob().spec.jobTemplate.spec.podFailurePolicy?.rules ?? [];
    expect(rules).toContainEqual({
      action: 'FailJob',
      onExitCodes: { containerName: 'token-rotator', operator: 'In', values: [2] },
    });
  });
});

describe('the daemon Deployment', () => {
  const deployment = () => get('daemon').one<Deployment>('Deployment');
  const container = () => rotatorContainer(deployment().spec.template.spec);

  it('serves /healthz to the liveness probe and /readyz to the readiness probe on the named metrics port 9464', () => {
    const c = container();
    expect(c.ports).toContainEqual({ name: 'metrics', containerPort: 9464, protocol: 'TCP' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    const args = c.args ?? [];
    expect(args[0]).toBe('daemon');
    expect(args[args.indexOf('--listen') + 1]).toBe('0.0.0.0:9464');
  });

  it('rolls without a gap, and gives SIGTERM time to finish the longest pass', () => {
    const { spec } = deployment();
    const { config } = configOf('daemon');
    expect(spec.replicas).toBeGreaterThanOrEqual(1);
    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(worstPassSeconds(config));
    expect(spec.template.metadata?.labels).toMatchObject(spec.selector.matchLabels);
  });

  it('is scraped through a Service on the metrics port, unready pods included, and drained one pod at a time', () => {
    const labels = deployment().spec.template.metadata?.labels ?? {};
    const service = get('daemon').one<Service>('Service');
    expect(labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toContainEqual({ name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' });
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    const budget = get('daemon').one<PodDisruptionBudget>('PodDisruptionBudget');
    expect(labels).toMatchObject(budget.spec.selector.matchLabels);
    expect(budget.spec.maxUnavailable).toBe(1);
  });
});

describe('the schema check', () => {
  // Each case breaks one rendered object the way a typo would; all must be refused, which
  // proves the validator reads the objects and the schemas are strict. (Enumerated values
  // such as concurrencyPolicy are not in Kubernetes 1.30's OpenAPI spec, so the schemas
  // cannot check them: the tests above assert the values that matter.)
  const broken: [string, (objects: K8sObject[]) => void, RegExp][] = [
    [
      'an unknown field in a container',
      (o) =>
        ((workload(o, 'Deployment').spec.template.spec.containers[0] as unknown as Record<string, unknown>)[
          'imagePullPolicyy'
        ] = 'Always'),
      /imagePullPolicyy/,
    ],
    [
      'a number given as a string',
      (o) => ((workload<CronJob>(o, 'CronJob').spec.jobTemplate.spec as Record<string, unknown>)['backoffLimit'] = '1'),
      /backoffLimit/,
    ],
    [
      'a field placed one level too high',
      (o) => ((workload<CronJob>(o, 'CronJob').spec as Record<string, unknown>)['restartPolicy'] = 'Never'),
      /restartPolicy/,
    ],
    [
      'a string where a list belongs',
      (o) =>
        ((
          workload<CronJob>(o, 'CronJob').spec.jobTemplate.spec.template.spec.containers[0] as unknown as Record<
            string,
            unknown
          >
        )['args'] = 'run --config x'),
      /args/,
    ],
    [
      'a missing required field',
      (o) => delete (workload<Deployment>(o, 'Deployment').spec as Partial<Deployment['spec']>).selector,
      /selector/,
    ],
  ];
  function workload<T extends K8sObject = Deployment>(objects: K8sObject[], kind: string): T {
    return objects.find((object) => object.kind === kind) as T;
  }

  it.each(broken)('refuses %s', async (_name, breakIt, field) => {
    const objects = structuredClone([...get('cronjob').objects, ...get('daemon').all('Deployment')]);
    breakIt(objects);
    const { code, verdicts } = await validate(objects);
    const invalid = verdicts.filter((v) => v.status !== 'statusValid');
    expect(code).toBe(1);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]!.msg).toMatch(field);
  });

  it('refuses a kind it has no schema for, rather than skipping it', async () => {
    const { code, verdicts } = await validate([
      { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } },
    ]);
    expect(code).toBe(1);
    expect(verdicts).toMatchObject([
      { kind: 'Widget', status: 'statusError', msg: expect.stringMatching(/could not find schema/) },
    ]);
  });
});

describe('deploy/kubernetes/README.md', () => {
  it('creates the Secret with exactly the keys the configs reference', async () => {
    const readme = await readFile(join(KUBERNETES_DIR, 'README.md'), 'utf8');
    const documented = new Set([...readme.matchAll(/--from-file=([\w.-]+)=/g)].map((m) => m[1]!));
    const referenced = new Set(
      OVERLAYS.flatMap((overlay) => fileReferences(configOf(overlay).text).map((path) => basename(path))),
    );
    expect(referenced.size).toBeGreaterThan(0);
    expect(documented).toEqual(referenced);
  });
});
