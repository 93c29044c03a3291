/**
 * Deployments on the test control plane of test/helpers/kube.ts, for the Kubernetes
 * store's restart on rotation. The API server stores Deployments (and bumps
 * `metadata.generation` at each change of the spec) although no controller-manager runs
 * to roll pods: what the store changed is read back from the object itself.
 */
import type { Kube } from './kube.js';

/** What a test says of a Deployment it creates. */
export interface DeploymentSpec {
  readonly name: string;
  /** `metadata.annotations` (e.g. `token-rotator/restart-on-rotation`). */
  readonly annotations?: Readonly<Record<string, string>>;
  /** `spec.template.metadata.annotations` (e.g. an earlier `kubectl.kubernetes.io/restartedAt`). */
  readonly templateAnnotations?: Readonly<Record<string, string>>;
  readonly paused?: boolean;
}

/** A minimal valid Deployment: one container that mounts nothing. */
export function deploymentObject(spec: DeploymentSpec): Record<string, any> {
  const labels = { app: spec.name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: spec.name, ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }) },
    spec: {
      replicas: 1,
      ...(spec.paused === undefined ? {} : { paused: spec.paused }),
      selector: { matchLabels: labels },
      template: {
        metadata: {
          labels,
          ...(spec.templateAnnotations === undefined ? {} : { annotations: spec.templateAnnotations }),
        },
        spec: { containers: [{ name: 'app', image: 'registry.example.com/app:1.0' }] },
      },
    },
  };
}

/** Creates the Deployments in `namespace` as admin, strictly validated (an unknown field fails). */
export async function createDeployments(
  kube: Kube,
  namespace: string,
  specs: readonly DeploymentSpec[],
): Promise<void> {
  for (const spec of specs) {
    await kube.ok(
      'POST',
      `/apis/apps/v1/namespaces/${namespace}/deployments?fieldValidation=Strict`,
      deploymentObject(spec),
    );
  }
}

/** The Deployment as the API server holds it (admin). */
export async function deploymentOf(kube: Kube, namespace: string, name: string): Promise<any> {
  return kube.ok('GET', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`);
}

/** What restarting changes, per Deployment: its spec's generation and the template's annotations. */
export async function restartView(
  kube: Kube,
  namespace: string,
  names: readonly string[],
): Promise<Record<string, { generation: number; templateAnnotations: Record<string, string> }>> {
  const view: Record<string, { generation: number; templateAnnotations: Record<string, string> }> = {};
  for (const name of names) {
    const deployment = await deploymentOf(kube, namespace, name);
    view[name] = {
      generation: deployment.metadata.generation,
      templateAnnotations: deployment.spec.template.metadata.annotations ?? {},
    };
  }
  return view;
}

/**
 * Sets a Deployment's `restartedAt` as an earlier `kubectl rollout restart` at `at` would
 * have (admin), by a replace: the helper's client sends JSON only, not the patch types.
 */
export async function setRestartedAt(kube: Kube, namespace: string, name: string, at: string): Promise<void> {
  const deployment = await deploymentOf(kube, namespace, name);
  deployment.spec.template.metadata.annotations = {
    ...deployment.spec.template.metadata.annotations,
    'kubectl.kubernetes.io/restartedAt': at,
  };
  await kube.ok('PUT', `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`, deployment);
}
