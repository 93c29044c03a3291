/**
 * Restart on rotation through the built CLI, as a CronJob runs it: `token-rotator run`
 * processes with `store.restart_on_rotation: true` in their config file, authenticated as
 * the rotator's service account bound to the Roles of deploy/kubernetes/rbac/ (the
 * rotator's, named for this scenario's providers, and the restart component's), against a
 * real kube-apiserver (test/helpers/kube.ts). Each run is a new process: the rate limit
 * must come from the Deployment, not from memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordLister, SecretStore } from '../../src/stores/contract.js';
import {
  RESTART_ON_ROTATION_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  secretNameOf,
} from '../../src/stores/kubernetes/index.js';
import { adminRecords, type Kube, rbacManifests, startKube } from '../helpers/kube.js';
import { createDeployments, restartView } from '../helpers/kube-workloads.js';
import { PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

const NAMESPACE = 'token-rotator';
const PREFIX = 'token-rotator-';
const APPS = ['klikoo-app', 'plain-app'] as const;

let kube: Kube;
let scenario: Scenario;
let records: (SecretStore & RecordLister) | undefined;

beforeAll(async () => {
  kube = await startKube();
  await kube.createNamespace(NAMESPACE);
  const rotatorRole = await rbacManifests('rotator-role.yaml');
  rotatorRole.find((object) => object['kind'] === 'Role')!['rules'][1].resourceNames = [
    secretNameOf(PREFIX, 'runner/heartbeat'),
    ...PROVIDERS.flatMap((p) => [secretNameOf(PREFIX, `tokens/${p}`), secretNameOf(PREFIX, `state/${p}`)]),
  ];
  await kube.apply([...rotatorRole, ...(await rbacManifests('restart/restart-role.yaml'))], NAMESPACE);
  await createDeployments(kube, NAMESPACE, [
    { name: 'klikoo-app', annotations: { [RESTART_ON_ROTATION_ANNOTATION]: 'klikoo' } },
    { name: 'plain-app' },
  ]);
  const token = await kube.serviceAccountToken(NAMESPACE, 'token-rotator');
  records = await adminRecords(kube, NAMESPACE, PREFIX);
  scenario = await startScenario({
    store: {
      section: {
        kind: 'kubernetes',
        namespace: NAMESPACE,
        prefix: PREFIX,
        kubeconfig: await kube.kubeconfig({ token }),
        restart_on_rotation: true,
      },
      records,
    },
  });
  scenario.canary.addSecret(token);
  scenario.canary.addSecret(kube.tokens.admin);
}, 120_000);

afterAll(async () => {
  await scenario?.close();
  await records?.close();
  await kube?.stop();
});

/** The JSON log lines of a run's stderr about restart on rotation. */
function restartLines(stderr: string): Record<string, any>[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>)
    .filter((line) => String(line['msg']).includes('restart'));
}

describe('token-rotator run with restart_on_rotation on a real kube-apiserver', () => {
  it('restarts the Deployment annotated for klikoo at its new token only, once per interval across runs', async () => {
    const first = await scenario.cli(['run']);
    const created = await restartView(kube, NAMESPACE, APPS);
    const forced = await scenario.cli(['run', '--force', '--provider', 'klikoo']);
    const restarted = await restartView(kube, NAMESPACE, APPS);
    const dry = await scenario.cli(['run', '--force', '--dry-run', '--provider', 'klikoo']);
    const again = await scenario.cli(['run', '--force', '--provider', 'klikoo']);
    const limited = await restartView(kube, NAMESPACE, APPS);
    await scenario.harvestTokens();

    for (const result of [first, forced, dry, again]) expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(created).toEqual({
      'klikoo-app': { generation: 1, templateAnnotations: {} },
      'plain-app': { generation: 1, templateAnnotations: {} },
    });
    expect(restarted['klikoo-app']).toEqual({
      generation: 2,
      templateAnnotations: { [RESTARTED_AT_ANNOTATION]: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) },
    });
    expect(restarted['plain-app']).toEqual(created['plain-app']);
    expect(limited).toEqual(restarted);
    expect((await scenario.publicRecord('klikoo'))?.['generation']).toBe(3);
    expect(restartLines(first.stderr)).toEqual([]);
    expect(restartLines(forced.stderr)).toMatchObject([
      { provider: 'klikoo', generation: 2, deployment: 'klikoo-app', msg: 'restarted Deployment (rollout restart)' },
    ]);
    expect(restartLines(dry.stderr)).toEqual([]);
    expect(restartLines(again.stderr)).toMatchObject([
      { provider: 'klikoo', generation: 3, deployment: 'klikoo-app', msg: expect.stringContaining('skipped') },
    ]);
  }, 120_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThanOrEqual(8);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
