/**
 * deploy/helm/token-rotator (issue 12, "Packaging"): the chart passes `helm lint`, every
 * value set it is tested with renders (`helm template`) objects that kubeconform finds
 * valid, strict, against the Kubernetes schemas committed in `deploy/kubernetes/schemas/`,
 * and what it renders keeps the promises of the Kustomize overlays: the same workload
 * settings (compared field by field with `kustomize build` of the matching overlay),
 * restricted pod security, the config from a ConfigMap, credentials only from existing
 * Secrets, and no Secret of its own. A bad value fails the render with a clear message.
 *
 * The Prometheus Operator's CRDs (`monitoring.coreos.com/v1`: ServiceMonitor,
 * PrometheusRule) have no schema among the committed ones: kubeconform is run with
 * `-skip ServiceMonitor,PrometheusRule`, so those kinds and only they are reported
 * skipped; any other kind without a schema is still an error. The PrometheusRule's groups
 * are checked instead: the same as deploy/prometheus/token-rotator.rules.yaml, and valid
 * for `promtool check rules`. helm and promtool are built by `scripts/install-tools.sh`
 * into `.tools/bin`, like kustomize and kubeconform.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { rawConfigSchema } from '../../src/config/schema.js';
import { scheduleGapSeconds } from '../../src/engine/policy.js';
import {
  type ConfigMap,
  type Container,
  type CronJob,
  type Deployment,
  type K8sObject,
  type Overlay,
  type PodDisruptionBudget,
  type PodSpec,
  podTemplateOf,
  type Rendered,
  ROOT,
  render,
  rotatorContainer,
  runTool,
  type Service,
  schemaVersion,
  type ToolResult,
  type Verdict,
  type Volume,
  validate,
} from './manifests.js';

const CHART_DIR = join(ROOT, 'deploy/helm/token-rotator');
const RELEASE = 'token-rotator';
const NAMESPACE = 'token-rotator';
const CONFIG_PATH = '/etc/token-rotator/config.yaml';
/** The image's user (Dockerfile `USER 1000:1000`). */
const IMAGE_UID = 1000;

/** The path of helm, built by `scripts/install-tools.sh`. */
function helmPath(): string {
  const path = join(ROOT, '.tools/bin/helm');
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/install-tools.sh (npm test does)`);
  return path;
}

/** Runs `helm template` of the chart, as release token-rotator in namespace token-rotator, with extra arguments. */
function helmTemplate(args: readonly string[]): Promise<ToolResult> {
  return runTool(helmPath(), [
    'template',
    RELEASE,
    CHART_DIR,
    '--namespace',
    NAMESPACE,
    // The version of the committed schemas, not the one helm assumes (1.31).
    '--kube-version',
    schemaVersion(),
    ...args,
  ]);
}

/** The value sets under test: the chart's defaults and its `ci/*-values.yaml` files. */
const SCENARIOS = {
  cronjob: { values: [], overlay: 'cronjob' },
  daemon: { values: ['ci/daemon-values.yaml'], overlay: 'daemon' },
  // With the ServiceMonitor, the PrometheusRule and the Grafana dashboard on.
  'daemon with serviceMonitor and networkPolicy': { values: ['ci/daemon-monitored-values.yaml'], overlay: 'daemon' },
  'aws-irsa': { values: ['ci/aws-irsa-values.yaml'], overlay: 'aws-irsa' },
} as const satisfies Record<string, { values: readonly string[]; overlay: Overlay }>;
type Scenario = keyof typeof SCENARIOS;
const SCENARIO_NAMES = Object.keys(SCENARIOS) as Scenario[];
const valuesArgs = (scenario: Scenario) => SCENARIOS[scenario].values.flatMap((file) => ['-f', join(CHART_DIR, file)]);

/** One `helm template` output, parsed. */
interface Chart {
  readonly yaml: string;
  readonly objects: K8sObject[];
  all<T extends K8sObject>(kind: string): T[];
  one<T extends K8sObject>(kind: string): T;
}

async function renderChart(args: readonly string[]): Promise<Chart> {
  const result = await helmTemplate(args);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${result.stderr}`);
  const objects = parseAllDocuments(result.stdout)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0]!;
      return document.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
  const all = <T extends K8sObject>(kind: string) => objects.filter((object) => object.kind === kind) as T[];
  return {
    yaml: result.stdout,
    objects,
    all,
    one<T extends K8sObject>(kind: string) {
      const found = all<T>(kind);
      if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
      return found[0]!;
    },
  };
}

/** The Prometheus Operator's kinds, which have no schema among the committed ones. */
const OPERATOR_KINDS = ['ServiceMonitor', 'PrometheusRule'];

/** kubeconform, strict, against the committed schemas only, with the Prometheus Operator's CRDs skipped. */
function kubeconform(yaml: string): Promise<{ code: number | null; verdicts: Verdict[] }> {
  return validate(yaml, { skipKinds: OPERATOR_KINDS });
}

function workloadOf(objects: readonly K8sObject[]): CronJob | Deployment {
  const workloads = objects.filter((object) => object.kind === 'CronJob' || object.kind === 'Deployment');
  if (workloads.length !== 1) throw new Error(`expected one workload, found ${workloads.length}`);
  return workloads[0] as CronJob | Deployment;
}

/** The config file the pods read: the ConfigMap's `config.yaml`, as text and parsed. */
function configOf(chart: Chart): { text: string; config: Record<string, any> } {
  const pod = podTemplateOf(workloadOf(chart.objects)).spec;
  const volume = pod.volumes?.find((v) => v.name === 'config');
  const map = chart.all<ConfigMap>('ConfigMap').find((m) => m.metadata.name === volume?.configMap?.name);
  const text = map?.data['config.yaml'];
  if (text === undefined) throw new Error('the config volume names no rendered ConfigMap with a config.yaml');
  return { text, config: parse(text) as Record<string, any> };
}

/** Every `${kind:target}` reference of a text, for one kind. */
function references(text: string, kind: 'file' | 'env'): string[] {
  return [...text.matchAll(/\$\{(env|file):([^}]+)\}/g)].filter((m) => m[1] === kind).map((m) => m[2]!);
}

/** The volume mounted at the deepest mount path that holds `path`. */
function mountHolding(pod: PodSpec, path: string) {
  const mounts = rotatorContainer(pod).volumeMounts ?? [];
  const holding = mounts
    .filter((mount) => path.startsWith(`${mount.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  return holding && { mount: holding, volume: pod.volumes?.find((v) => v.name === holding.name) };
}

/** A volume without its name, and a ConfigMap without the name its generator gave it. */
function volumeShape(volume: Volume | undefined): unknown {
  if (volume === undefined) return undefined;
  const { name: _name, ...rest } = volume;
  return rest.configMap ? { configMap: 'config' } : rest;
}

/** What a pod's rotator container sees: its settings and, by mount path, what each mount is. */
function podShape(pod: PodSpec) {
  const c: Container & { imagePullPolicy?: string } = rotatorContainer(pod);
  const mounts = Object.fromEntries(
    (c.volumeMounts ?? []).map((m) => [
      m.mountPath,
      { readOnly: m.readOnly ?? false, volume: volumeShape(pod.volumes?.find((v) => v.name === m.name)) },
    ]),
  );
  const spread = (pod as PodSpec & { topologySpreadConstraints?: Record<string, unknown>[] }).topologySpreadConstraints;
  return {
    automountServiceAccountToken: pod.automountServiceAccountToken,
    restartPolicy: pod.restartPolicy,
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds,
    podSecurityContext: pod.securityContext,
    // The selector's labels differ (the chart's carry the release): the rest must not.
    topologySpread: spread?.map(({ labelSelector: _selector, ...rest }) => rest),
    containers: pod.containers.length,
    image: c.image,
    imagePullPolicy: c.imagePullPolicy,
    command: c.command,
    args: c.args,
    ports: c.ports,
    livenessProbe: c.livenessProbe,
    readinessProbe: c.readinessProbe,
    resources: c.resources,
    securityContext: c.securityContext,
    mounts,
  };
}

const charts = new Map<Scenario, Chart>();
const overlays = new Map<Overlay, Rendered>();
beforeAll(async () => {
  for (const scenario of SCENARIO_NAMES) charts.set(scenario, await renderChart(valuesArgs(scenario)));
  for (const overlay of new Set(SCENARIO_NAMES.map((s) => SCENARIOS[s].overlay))) {
    overlays.set(overlay, await render(overlay));
  }
});
const get = (scenario: Scenario) => charts.get(scenario)!;

describe('helm lint', () => {
  it.each([[], ...SCENARIO_NAMES.filter((s) => SCENARIOS[s].values.length > 0).map((s) => [s])])(
    'passes, strict, with the values of %s',
    async (scenario?: Scenario) => {
      const result = await runTool(helmPath(), [
        'lint',
        '--strict',
        '--kube-version',
        schemaVersion(),
        CHART_DIR,
        ...(scenario ? valuesArgs(scenario) : []),
      ]);
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      expect(result.code).toBe(0);
    },
  );
});

describe.each(SCENARIO_NAMES)('helm template, %s', (scenario) => {
  it('renders objects that are all valid Kubernetes objects (kubeconform, strict); only a ServiceMonitor and a PrometheusRule are skipped', async () => {
    const chart = get(scenario);
    const { code, verdicts } = await kubeconform(chart.yaml);
    expect(verdicts.map((v) => `${v.kind}/${v.name}: ${v.status} ${v.msg}`.trim()).sort()).toEqual(
      chart.objects
        .map(
          (o) => `${o.kind}/${o.metadata.name}: ${OPERATOR_KINDS.includes(o.kind) ? 'statusSkipped' : 'statusValid'}`,
        )
        .sort(),
    );
    expect(code).toBe(0);
  });

  it("puts every object in the release's namespace, with the app.kubernetes.io labels of the mode", () => {
    const chart = get(scenario);
    const component = SCENARIOS[scenario].overlay === 'daemon' ? 'daemon' : 'cronjob';
    expect(chart.all('Namespace')).toEqual([]);
    for (const object of chart.objects) {
      const id = `${object.kind}/${object.metadata.name}`;
      expect(object.metadata.namespace, id).toBe(NAMESPACE);
      expect(object.metadata.labels, id).toMatchObject({
        'app.kubernetes.io/name': 'token-rotator',
        'app.kubernetes.io/instance': RELEASE,
        'app.kubernetes.io/part-of': 'token-rotator',
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/component': component,
      });
    }
  });

  it('runs the pod as the restricted Pod Security profile requires: non-root, read-only root filesystem, no capabilities, seccomp RuntimeDefault', () => {
    const pod = podTemplateOf(workloadOf(get(scenario).objects)).spec;
    const container = rotatorContainer(pod);
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: IMAGE_UID,
      runAsGroup: IMAGE_UID,
      fsGroup: IMAGE_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    for (const mount of container.volumeMounts ?? [])
      expect(mount.readOnly ?? false, mount.mountPath).toBe(mount.mountPath !== '/tmp');
  });

  it('renders no Secret, takes credentials only from existing Secrets, and has a config that the schema accepts', () => {
    const chart = get(scenario);
    expect(chart.all('Secret')).toEqual([]);
    const pod = podTemplateOf(workloadOf(chart.objects)).spec;
    const container = rotatorContainer(pod);
    const args = container.args ?? [];
    expect(args[args.indexOf('--config') + 1]).toBe(CONFIG_PATH);
    expect(mountHolding(pod, CONFIG_PATH)?.volume?.configMap?.name).toBe(`${RELEASE}-config`);

    const { text, config } = configOf(chart);
    // The schema refuses a plain-text client_secret, password or private_key.
    expect(rawConfigSchema.safeParse(config).error?.issues ?? []).toEqual([]);
    expect(config['store']['kind']).not.toBe('file');
    const files = references(text, 'file');
    expect(files.length).toBeGreaterThan(0);
    for (const path of files) expect(mountHolding(pod, path)?.volume?.secret?.secretName, path).toBeTruthy();
    // Every variable is set, and only from a Secret's key: no env var has a plain value.
    const env = (container as Container & { env?: { name: string; value?: string; valueFrom?: any }[] }).env ?? [];
    for (const variable of env) {
      expect(variable.value, variable.name).toBeUndefined();
      expect(variable.valueFrom?.secretKeyRef, variable.name).toMatchObject({ name: expect.any(String) });
    }
    expect(env.map((variable) => variable.name).sort()).toEqual([...new Set(references(text, 'env'))].sort());
  });

  it('gives the pod no Kubernetes API token, and Vault (when it is the store) a projected token of its own audience', () => {
    const chart = get(scenario);
    const pod = podTemplateOf(workloadOf(chart.objects)).spec;
    const serviceAccount = chart.one<K8sObject & { automountServiceAccountToken?: boolean }>('ServiceAccount');
    expect(pod.serviceAccountName).toBe(serviceAccount.metadata.name);
    expect(serviceAccount.automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(chart.objects.filter((o) => /Role/.test(o.kind))).toEqual([]);
    const { config } = configOf(chart);
    const projected = (pod.volumes ?? []).flatMap((v) => v.projected?.sources ?? []);
    if (config['store']['kind'] === 'vault') {
      const jwtFile = config['store']['auth']['jwt_file'] as string;
      const holder = mountHolding(pod, jwtFile);
      const token = holder?.volume?.projected?.sources[0]?.serviceAccountToken;
      expect(token?.audience).toBe('vault');
      expect(posix.join(holder!.mount.mountPath, token!.path)).toBe(jwtFile);
      expect(token?.expirationSeconds).toBeLessThanOrEqual(3600);
    } else {
      expect(config['store']['kind']).toBe('aws');
      expect(serviceAccount.metadata.annotations?.['eks.amazonaws.com/role-arn']).toMatch(
        /^arn:aws:iam::\d{12}:role\//,
      );
      expect(projected).toEqual([]);
    }
  });

  it('renders the workload of the matching Kustomize overlay, setting for setting', () => {
    const chart = get(scenario);
    const overlay = overlays.get(SCENARIOS[scenario].overlay)!;
    const ours = workloadOf(chart.objects);
    const theirs = workloadOf(overlay.objects);
    expect(ours.kind).toBe(theirs.kind);
    expect(podShape(podTemplateOf(ours).spec)).toEqual(podShape(podTemplateOf(theirs).spec));
    if (ours.kind === 'CronJob') {
      const { jobTemplate, ...spec } = (ours as CronJob).spec;
      const { jobTemplate: overlayJob, ...overlaySpec } = (theirs as CronJob).spec;
      const { template: _t, ...job } = jobTemplate.spec;
      const { template: _o, ...overlayJobSpec } = overlayJob.spec;
      expect(spec).toEqual(overlaySpec);
      expect(job).toEqual(overlayJobSpec);
    } else {
      const { selector: _s, template: _t, ...spec } = (ours as Deployment).spec;
      const { selector: _o, template: _ot, ...overlaySpec } = (theirs as Deployment).spec;
      expect(spec).toEqual(overlaySpec);
    }
  });
});

describe('the CronJob (mode cronjob)', () => {
  const cronJob = () => get('cronjob').one<CronJob>('CronJob');

  it("runs on the config's schedule and time zone, one Job at a time, ending before the next tick", () => {
    const { spec } = cronJob();
    const { config } = configOf(get('cronjob'));
    expect(spec.schedule).toBe(config['policy']['schedule']);
    expect(spec.timeZone).toBe(config['policy']['timezone']);
    expect(spec.concurrencyPolicy).toBe('Forbid');
    const gap = scheduleGapSeconds(spec.schedule, spec.timeZone);
    expect(spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.startingDeadlineSeconds).toBeLessThan(gap);
    expect(spec.jobTemplate.spec.activeDeadlineSeconds).toBeLessThan(gap);
    expect(spec.jobTemplate.spec.backoffLimit).toBe(1);
    expect(spec.jobTemplate.spec.template.spec.restartPolicy).toBe('Never');
  });

  it('fails the Job at once on a config error (exit 2) instead of retrying it', () => {
    expect(cronJob().spec.jobTemplate.spec.podFailurePolicy?.rules).toContainEqual({
      action: 'FailJob',
      onExitCodes: { containerName: 'token-rotator', operator: 'In', values: [2] },
    });
  });

  it('renders no Service, PodDisruptionBudget or ServiceMonitor', () => {
    const kinds = get('cronjob').objects.map((o) => o.kind);
    expect(kinds.sort()).toEqual(['ConfigMap', 'CronJob', 'NetworkPolicy', 'ServiceAccount']);
  });
});

describe('the daemon (mode daemon)', () => {
  const deployment = () => get('daemon').one<Deployment>('Deployment');

  it('listens on 9464 and probes /healthz (liveness) and /readyz (readiness) on the named port', () => {
    const container = rotatorContainer(deployment().spec.template.spec);
    const args = container.args ?? [];
    expect(args[0]).toBe('daemon');
    expect(args[args.indexOf('--listen') + 1]).toBe('0.0.0.0:9464');
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  });

  it('is scraped through a headless Service, unready pods included, and drained one pod at a time', () => {
    const labels = deployment().spec.template.metadata?.labels ?? {};
    expect(labels).toMatchObject(deployment().spec.selector.matchLabels);
    const service = get('daemon').one<Service>('Service');
    expect(labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toEqual([{ name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' }]);
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    const budget = get('daemon').one<PodDisruptionBudget>('PodDisruptionBudget');
    expect(labels).toMatchObject(budget.spec.selector.matchLabels);
    expect(budget.spec.maxUnavailable).toBe(1);
    expect(get('daemon').all('ServiceMonitor')).toEqual([]);
  });

  it('with serviceMonitor on, renders a ServiceMonitor that scrapes port metrics of the Service', () => {
    const chart = get('daemon with serviceMonitor and networkPolicy');
    const monitor = chart.one<K8sObject & { spec: any }>('ServiceMonitor');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels).toMatchObject({ release: 'prometheus' });
    expect(chart.one<Service>('Service').metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints).toMatchObject([{ port: 'metrics', path: '/metrics' }]);
  });
});

describe('networkPolicy', () => {
  type Policy = K8sObject & {
    spec: {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress?: { ports?: { port: number | string }[] }[];
      egress?: { ports?: { port: number | string }[] }[];
    };
  };
  const ports = (rules: { ports?: { port: number | string }[] }[]) =>
    rules.flatMap((rule) => (rule.ports ?? []).map((port) => port.port));

  it.each(['cronjob', 'daemon with serviceMonitor and networkPolicy'] as const)(
    'in %s, lets the pods reach only DNS, Vault and HTTPS, and accept nothing but the daemon metrics port',
    (scenario) => {
      const chart = get(scenario);
      const policies = chart.all<Policy>('NetworkPolicy');
      const podLabels = podTemplateOf(workloadOf(chart.objects)).metadata?.labels ?? {};
      for (const policy of policies)
        expect(podLabels, policy.metadata.name).toMatchObject(policy.spec.podSelector.matchLabels);
      expect(
        policies.some((p) => p.spec.policyTypes.includes('Ingress') && p.spec.policyTypes.includes('Egress')),
      ).toBe(true);
      expect(new Set(ports(policies.flatMap((p) => p.spec.egress ?? [])))).toEqual(new Set([53, 8200, 443]));
      expect(ports(policies.flatMap((p) => p.spec.ingress ?? []))).toEqual(scenario === 'cronjob' ? [] : ['metrics']);
    },
  );

  it('off, renders no NetworkPolicy', async () => {
    const chart = await renderChart([...valuesArgs('daemon'), '--set', 'networkPolicy.enabled=false']);
    expect(chart.all('NetworkPolicy')).toEqual([]);
    expect(chart.all('Deployment')).toHaveLength(1);
  });
});

describe('monitoring toggles', () => {
  type PrometheusRule = K8sObject & { spec: { groups: unknown[] } };
  const RULES = join(ROOT, 'deploy/prometheus/token-rotator.rules.yaml');
  const DASHBOARD = join(ROOT, 'deploy/grafana/token-rotator.json');
  const CRONJOB_PUSH = ['-f', join(CHART_DIR, 'ci/cronjob-pushgateway-values.yaml')];

  function promtoolPath(): string {
    const path = join(ROOT, '.tools/bin/promtool');
    if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/install-tools.sh (npm test does)`);
    return path;
  }

  it('off by default: no PrometheusRule and no dashboard', () => {
    for (const scenario of ['cronjob', 'daemon'] as const) {
      expect(get(scenario).all('PrometheusRule'), scenario).toEqual([]);
      expect(
        get(scenario)
          .all<ConfigMap>('ConfigMap')
          .map((map) => map.metadata.name),
        scenario,
      ).toEqual([`${RELEASE}-config`]);
    }
  });

  it('with prometheusRule on, renders the groups of deploy/prometheus/token-rotator.rules.yaml, which promtool accepts', async () => {
    const rule = get('daemon with serviceMonitor and networkPolicy').one<PrometheusRule>('PrometheusRule');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.labels).toMatchObject({ release: 'prometheus' });
    expect(rule.spec).toEqual(parse(readFileSync(RULES, 'utf8')));

    const dir = mkdtempSync(join(tmpdir(), 'tr-helm-rules-'));
    try {
      writeFileSync(join(dir, 'rendered.rules.yaml'), stringify(rule.spec));
      const result = await runTool(promtoolPath(), ['check', 'rules', join(dir, 'rendered.rules.yaml')]);
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('SUCCESS: 5 rules found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with grafanaDashboard on, renders deploy/grafana/token-rotator.json in a ConfigMap labelled grafana_dashboard: "1"', () => {
    const chart = get('daemon with serviceMonitor and networkPolicy');
    const map = chart.all<ConfigMap>('ConfigMap').find((m) => m.metadata.name === `${RELEASE}-dashboard`);
    expect(map?.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(map?.metadata.annotations).toEqual({ grafana_folder: 'Tokens' });
    expect(Object.keys(map?.data ?? {})).toEqual(['token-rotator.json']);
    expect(JSON.parse(map!.data['token-rotator.json']!)).toEqual(JSON.parse(readFileSync(DASHBOARD, 'utf8')));
  });

  it('in cronjob mode with pushgateway.url, passes helm lint and kubeconform, pushes as the release and may reach the Pushgateway', async () => {
    const lint = await runTool(helmPath(), [
      'lint',
      '--strict',
      '--kube-version',
      schemaVersion(),
      CHART_DIR,
      ...CRONJOB_PUSH,
    ]);
    expect(lint.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(lint.code).toBe(0);
    const chart = await renderChart(CRONJOB_PUSH);
    const { code, verdicts } = await kubeconform(chart.yaml);
    expect(verdicts.filter((v) => v.status !== 'statusValid').map((v) => `${v.kind}: ${v.status}`)).toEqual([
      'PrometheusRule: statusSkipped',
    ]);
    expect(code).toBe(0);

    const args = rotatorContainer(chart.one<CronJob>('CronJob').spec.jobTemplate.spec.template.spec).args ?? [];
    expect(args).toEqual([
      'run',
      '--config',
      CONFIG_PATH,
      '--pushgateway',
      'http://pushgateway.monitoring:9091',
      '--pushgateway-instance',
      RELEASE,
    ]);
    const egress = chart
      .all<K8sObject & { spec: { egress?: { ports?: { port: number | string }[] }[] } }>('NetworkPolicy')
      .flatMap((policy) => policy.spec.egress ?? [])
      .flatMap((rule) => (rule.ports ?? []).map((port) => port.port));
    expect(new Set(egress)).toEqual(new Set([53, 8200, 443, 9091]));
    expect(chart.all('PrometheusRule')).toHaveLength(1);
    expect(
      chart
        .all<ConfigMap>('ConfigMap')
        .map((map) => map.metadata.name)
        .sort(),
    ).toEqual([`${RELEASE}-config`, `${RELEASE}-dashboard`]);
  });
});

describe('bad values', () => {
  it.each([
    ['an unknown mode', ['--set', 'mode=nope'], /mode: mode must be one of the following: "cronjob", "daemon"/],
    [
      'a plain-text env value',
      ['--set', 'secretEnv[0].name=BILLING_CLIENT_SECRET,secretEnv[0].value=plain-text'],
      /secretEnv\.0: Additional property value is not allowed/,
    ],
    [
      'the file store',
      ['--set-json', 'config={"store":{"kind":"file","directory":"/data"},"providers":{}}'],
      /store\.kind file keeps records on one host's disk/,
    ],
    [
      'a Pushgateway for the daemon',
      ['--set', 'mode=daemon,pushgateway.url=http://pushgateway:9091'],
      /pushgateway\.url is for mode cronjob/,
    ],
    [
      'a Pushgateway URL that is not http(s)',
      ['--set', 'pushgateway.url=pushgateway:9091'],
      /pushgateway\.url: Does not match pattern/,
    ],
    [
      'a ServiceMonitor for the CronJob',
      ['--set', 'serviceMonitor.enabled=true'],
      /serviceMonitor\.enabled needs mode daemon/,
    ],
  ])('fails the render on %s, saying why', async (_name, args, message) => {
    const result = await helmTemplate(args);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});
