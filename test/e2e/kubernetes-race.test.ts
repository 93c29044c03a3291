/**
 * Eight `token-rotator run` processes racing on the same providers through a real
 * kube-apiserver (test/helpers/kube.ts), each authenticated as the rotator's service
 * account bound to the Role of deploy/kubernetes/rbac/rotator-role.yaml (its resource
 * names made for this scenario's providers): the lease, a compare-and-set on the state
 * Secret's resourceVersion, lets one runner at a time rotate a provider, so no refresh
 * token is ever presented twice and every provider ends valid.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { SandboxTarget } from '../../src/sandbox/index.js';
import type { RecordLister, SecretStore } from '../../src/stores/contract.js';
import { secretNameOf } from '../../src/stores/kubernetes/index.js';
import { adminRecords, type Kube, startKube } from '../helpers/kube.js';
import { type CliResult, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

const RUNNERS = 8;
const FORCED_ROUNDS = 2;
const NAMESPACE = 'token-rotator';
const PREFIX = 'token-rotator-';

const TARGETS: Record<(typeof PROVIDERS)[number], SandboxTarget> = {
  'keliweb-api': 'keliweb-api-v2',
  'keliweb-fatture': 'keliweb-fatture',
  klikoo: 'klikoo',
  generic: 'oauth2',
};

interface Outcome {
  provider: string;
  status: string;
  ok: boolean;
  method?: string;
}

let kube: Kube;
let scenario: Scenario;
let records: (SecretStore & RecordLister) | undefined;

beforeAll(async () => {
  kube = await startKube();
  await kube.createNamespace(NAMESPACE);
  const objects = parseAllDocuments(
    await readFile(join(import.meta.dirname, '../../deploy/kubernetes/rbac/rotator-role.yaml'), 'utf8'),
  ).map((document) => document.toJS());
  const role = objects.find((object) => object.kind === 'Role');
  role.rules[1].resourceNames = [
    secretNameOf(PREFIX, 'runner/heartbeat'),
    ...PROVIDERS.flatMap((p) => [secretNameOf(PREFIX, `tokens/${p}`), secretNameOf(PREFIX, `state/${p}`)]),
  ];
  await kube.apply(objects, NAMESPACE);
  const token = await kube.serviceAccountToken(NAMESPACE, 'token-rotator');
  records = await adminRecords(kube, NAMESPACE, PREFIX);
  scenario = await startScenario({
    workspace: { policy: { lease_seconds: 60, concurrency: 4 } },
    store: {
      section: {
        kind: 'kubernetes',
        namespace: NAMESPACE,
        prefix: PREFIX,
        kubeconfig: await kube.kubeconfig({ token }),
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

async function race(args: readonly string[]): Promise<Outcome[]> {
  const results: CliResult[] = await Promise.all(
    Array.from({ length: RUNNERS }, () => scenario.cli(['run', '--json', ...args], { timeoutMs: 90_000 })),
  );
  for (const result of results) expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return results.flatMap((result) => (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes);
}

async function expectEveryProviderValid(context: string): Promise<void> {
  for (const provider of PROVIDERS) {
    const published = await scenario.publicRecord(provider);
    const state = await scenario.stateRecord(provider);
    expect(published, `${provider} ${context}`).toBeDefined();
    expect(scenario.sandbox.introspect(published!['access_token'] as string), `${provider} ${context}`).toMatchObject({
      active: true,
      token_kind: 'access',
      target: TARGETS[provider],
    });
    expect(state!['token'], `${provider} ${context}`).toMatchObject({ access_token: published!['access_token'] });
    expect(state!['lease'], `${provider} ${context}: no lease left`).toBeUndefined();
  }
}

describe(`${RUNNERS} token-rotator run processes on one kube-apiserver`, () => {
  it('obtain each missing provider exactly once between them', async () => {
    const outcomes = await race([]);
    await scenario.harvestTokens();

    expect(outcomes).toHaveLength(RUNNERS * PROVIDERS.length);
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
    const rotated = outcomes.filter((outcome) => outcome.status === 'rotated');
    expect(rotated.map((outcome) => outcome.provider).sort()).toEqual([...PROVIDERS].sort());
    for (const target of Object.values(TARGETS)) {
      expect(scenario.sandbox.stats(target), target).toMatchObject({ obtained: 1, refreshed: 0, reuseDetected: 0 });
    }
    await expectEveryProviderValid('after the first race');
  }, 150_000);

  it('with --force, rotate one after another, never reusing a refresh token', async () => {
    for (let round = 1; round <= FORCED_ROUNDS; round++) {
      const outcomes = await race(['--force']);
      await scenario.harvestTokens();
      expect(
        outcomes.filter((outcome) => outcome.status !== 'rotated'),
        `round ${round}`,
      ).toEqual([]);
      await expectEveryProviderValid(`after forced round ${round}`);
    }

    const rotations = RUNNERS * FORCED_ROUNDS;
    expect(scenario.sandbox.stats().reuseDetected).toBe(0);
    expect(scenario.sandbox.stats('keliweb-api-v2')).toMatchObject({ refreshed: rotations, reuseDetected: 0 });
    for (const provider of PROVIDERS) {
      expect((await scenario.publicRecord(provider))!['generation'], provider).toBe(1 + rotations);
    }
  }, 300_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThanOrEqual(RUNNERS * (1 + FORCED_ROUNDS) * 2);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
