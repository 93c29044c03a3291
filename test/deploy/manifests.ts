/**
 * The deployment tests' view of `deploy/kubernetes/`: each overlay rendered by kustomize
 * and checked by kubeconform against the strict Kubernetes JSON schemas committed in
 * `deploy/kubernetes/schemas/`, both tools from `.tools/bin` (`scripts/install-tools.sh`,
 * which `npm test` runs first). Nothing here touches a network or a cluster.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const KUBERNETES_DIR = join(ROOT, 'deploy/kubernetes');
export const SCHEMAS_DIR = join(KUBERNETES_DIR, 'schemas');
/** Every overlay a user may apply (the tests check this is every folder of `overlays/`). */
export const OVERLAYS = [
  'cronjob',
  'daemon',
  'aws-irsa',
  'cronjob-kubernetes-store',
  'daemon-kubernetes-store',
] as const;
export type Overlay = (typeof OVERLAYS)[number];
/** The overlays with the Kubernetes store: the overlay they build on, plus `components/kubernetes-store`. */
export const KUBERNETES_STORE_OVERLAYS = {
  'cronjob-kubernetes-store': 'cronjob',
  'daemon-kubernetes-store': 'daemon',
} as const satisfies Partial<Record<Overlay, Overlay>>;
/** True for an overlay of {@link KUBERNETES_STORE_OVERLAYS}. */
export function usesKubernetesStore(overlay: Overlay): overlay is keyof typeof KUBERNETES_STORE_OVERLAYS {
  return Object.hasOwn(KUBERNETES_STORE_OVERLAYS, overlay);
}
/** The workload an overlay runs: `daemon` for the Deployment, `cronjob` for the CronJob. */
export function componentOf(overlay: Overlay): 'daemon' | 'cronjob' {
  return overlay === 'daemon' || overlay === 'daemon-kubernetes-store' ? 'daemon' : 'cronjob';
}

/** The one Kubernetes version the committed schemas are for (`v1.30.14-standalone-strict` → `1.30.14`). */
export function schemaVersion(): string {
  const versions = readdirSync(SCHEMAS_DIR)
    .map((entry) => /^v(\d+\.\d+\.\d+)-standalone-strict$/.exec(entry)?.[1])
    .filter((version) => version !== undefined);
  if (versions.length !== 1) throw new Error(`expected one schema set in ${SCHEMAS_DIR}, found ${versions.length}`);
  return versions[0]!;
}

/** The path of a tool `scripts/install-tools.sh` installs. */
export function tool(name: 'kustomize' | 'kubeconform' | 'hadolint'): string {
  const path = join(ROOT, '.tools/bin', name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/install-tools.sh (npm test does)`);
  return path;
}

/** What a process printed and how it ended. */
export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool to completion, feeding `input` on stdin. */
export function runTool(path: string, args: readonly string[], input = ''): Promise<ToolResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(path, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

// The fields the tests read, typed loosely: the schemas, not these types, are the check.
export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  [field: string]: unknown;
}
export interface Probe {
  httpGet?: { path?: string; port?: number | string };
}
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: VolumeMount[];
}
export interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string; defaultMode?: number };
  emptyDir?: { medium?: string; sizeLimit?: string };
  projected?: {
    sources: {
      serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
      configMap?: { name: string; items?: { key: string; path: string }[] };
      downwardAPI?: { items: { path: string; fieldRef?: { fieldPath: string } }[] };
    }[];
  };
}
export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  hostPID?: boolean;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    fsGroup?: number;
    seccompProfile?: { type: string };
  };
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
}
export interface PodTemplate {
  metadata?: { labels?: Record<string, string> };
  spec: PodSpec;
}
export interface CronJob extends K8sObject {
  spec: {
    schedule: string;
    timeZone?: string;
    concurrencyPolicy?: string;
    startingDeadlineSeconds?: number;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate: {
      spec: {
        backoffLimit?: number;
        activeDeadlineSeconds?: number;
        ttlSecondsAfterFinished?: number;
        podFailurePolicy?: {
          rules: { action: string; onExitCodes?: { containerName?: string; operator: string; values: number[] } }[];
        };
        template: PodTemplate;
      };
    };
  };
}
export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    template: PodTemplate;
  };
}
export interface Service extends K8sObject {
  spec: {
    selector: Record<string, string>;
    publishNotReadyAddresses?: boolean;
    ports: { name?: string; port: number; targetPort?: number | string }[];
  };
}
export interface PodDisruptionBudget extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    maxUnavailable?: number | string;
    minAvailable?: number | string;
  };
}
export interface ConfigMap extends K8sObject {
  data: Record<string, string>;
}

/** One overlay, rendered. */
export interface Rendered {
  readonly overlay: Overlay;
  /** kustomize's output, as it would be applied. */
  readonly yaml: string;
  readonly objects: K8sObject[];
  /** The one object of a kind (throws when there is not exactly one). */
  one<T extends K8sObject>(kind: string): T;
  all<T extends K8sObject>(kind: string): T[];
}

/** Renders an overlay with `kustomize build`. */
export async function render(overlay: Overlay): Promise<Rendered> {
  const result = await runTool(tool('kustomize'), ['build', join(KUBERNETES_DIR, 'overlays', overlay)]);
  if (result.code !== 0) throw new Error(`kustomize build ${overlay} failed: ${result.stderr}`);
  const objects = parseAllDocuments(result.stdout).map((document) => {
    if (document.errors.length > 0) throw document.errors[0]!;
    return document.toJS() as K8sObject;
  });
  const all = <T extends K8sObject>(kind: string) => objects.filter((object) => object.kind === kind) as T[];
  return {
    overlay,
    yaml: result.stdout,
    objects,
    all,
    one<T extends K8sObject>(kind: string) {
      const found = all<T>(kind);
      if (found.length !== 1) throw new Error(`${overlay}: expected one ${kind}, found ${found.length}`);
      return found[0]!;
    },
  };
}

/** kubeconform's verdict on one object. */
export interface Verdict {
  readonly kind: string;
  readonly name: string;
  readonly status: 'statusValid' | 'statusInvalid' | 'statusError' | 'statusSkipped' | 'statusEmpty';
  readonly msg: string;
}

/**
 * Validates objects (or a YAML stream) with kubeconform in strict mode against the
 * committed schemas only: no download, and a kind without a schema is an error, not a skip,
 * except the `skipKinds` named (a CRD such as ServiceMonitor, whose schema is not committed).
 */
export async function validate(
  input: string | readonly K8sObject[],
  options: { readonly skipKinds?: readonly string[] } = {},
): Promise<{ code: number | null; verdicts: Verdict[] }> {
  // JSON documents: YAML to kubeconform, with no YAML 1.1/1.2 ambiguity in what we mutated.
  const text = typeof input === 'string' ? input : input.map((object) => JSON.stringify(object)).join('\n---\n');
  const result = await runTool(
    tool('kubeconform'),
    [
      '-strict',
      '-summary',
      '-verbose',
      '-output',
      'json',
      '-kubernetes-version',
      schemaVersion(),
      '-schema-location',
      SCHEMAS_DIR,
      ...(options.skipKinds === undefined || options.skipKinds.length === 0
        ? []
        : ['-skip', options.skipKinds.join(',')]),
      '-',
    ],
    text,
  );
  let report: { resources?: Verdict[] };
  try {
    report = JSON.parse(result.stdout) as { resources?: Verdict[] };
  } catch (error) {
    throw new Error(`kubeconform printed no JSON report (exit ${result.code}): ${result.stderr}`, { cause: error });
  }
  return { code: result.code, verdicts: report.resources ?? [] };
}

/** The pod template of a workload (CronJob or Deployment). */
export function podTemplateOf(object: K8sObject): PodTemplate {
  if (object.kind === 'CronJob') return (object as CronJob).spec.jobTemplate.spec.template;
  if (object.kind === 'Deployment') return (object as Deployment).spec.template;
  throw new Error(`${object.kind} has no pod template here`);
}

/** The one workload of an overlay: its CronJob or its Deployment. */
export function workloadOf(rendered: Rendered): CronJob | Deployment {
  const workloads = rendered.objects.filter((object) => object.kind === 'CronJob' || object.kind === 'Deployment');
  if (workloads.length !== 1) throw new Error(`${rendered.overlay}: expected one workload, found ${workloads.length}`);
  return workloads[0] as CronJob | Deployment;
}

/** The rotator container of a pod (named token-rotator). */
export function rotatorContainer(pod: PodSpec): Container {
  const container = pod.containers.find((candidate) => candidate.name === 'token-rotator');
  if (container === undefined) throw new Error('no token-rotator container');
  return container;
}
