/**
 * Fan-out end to end (issue 14): the built CLI rotates with OpenBao as its primary store
 * (state, lease, public record) and publishes the public records of the providers named in
 * `publish_to` to a file store as well. The file store is then made unwritable: the primary
 * is still rotated, the failure is a warning, and the next run repairs the secondary.
 *
 * "Unwritable" is a regular file where the store's `tokens/` folder must be: tests run as
 * root here, which a read-only directory (chmod) would not stop, and a file in the way
 * stops every user the same way.
 *
 * A second scenario publishes to a real kube-apiserver (test/helpers/kube.ts) as a
 * service account whose Role may get and update only the public records' Secrets (and
 * create, which RBAC cannot restrict by name); no state, lease or heartbeat Secret may
 * appear there. The API server is then paused (SIGSTOP), so
 * the secondary does not answer at all, and the next run after it resumes repairs it.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { SecretStore } from '../../src/stores/contract.js';
import { createFileStore } from '../../src/stores/file/index.js';
import { secretNameOf } from '../../src/stores/kubernetes/index.js';
import { adminRecords, type Kube, startKube } from '../helpers/kube.js';
import { type CliResult, PROVIDERS } from '../helpers/scenario.js';
import { startVaultScenario, type VaultScenario } from '../helpers/vault-scenario.js';

/** The providers published to the secondary; the others stay in OpenBao only. */
const FANNED = ['generic', 'klikoo'] as const;

interface Outcome {
  provider: string;
  status: string;
  ok: boolean;
  generation?: number;
}

let scenario: VaultScenario;
let mirrorDir: string;
let mirror: SecretStore;
let config: Record<string, unknown>;

const outcomesOf = (result: CliResult) => (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes;
const logLines = (result: CliResult) =>
  result.stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const mirrored = async (provider: string) => (await mirror.read(`tokens/${provider}`))?.value;

beforeAll(async () => {
  scenario = await startVaultScenario({
    auth: 'token',
    workspace: { policy: { lease_seconds: 5, request_timeout_seconds: 5, retries: 0 } },
  });
  mirrorDir = join(scenario.dir, 'mirror');
  config = parse(await readFile(scenario.configPath, 'utf8')) as Record<string, unknown>;
  config['stores'] = { mirror: { kind: 'file', directory: mirrorDir } };
  config['publish_to'] = Object.fromEntries(FANNED.map((provider) => [provider, ['mirror']]));
  await writeFile(scenario.configPath, stringify(config), { mode: 0o600 });
  mirror = createFileStore({ kind: 'file', directory: mirrorDir });
});
afterAll(async () => {
  await mirror?.close();
  await scenario?.close();
});

describe('fan-out (built CLI, OpenBao primary, file store secondary)', () => {
  it('publishes the same public record to the secondary, and nothing else', async () => {
    const run = await scenario.cli(['run', '--json']);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    for (const provider of FANNED) {
      const primary = await scenario.publicRecord(provider);
      expect(primary).toMatchObject({ provider, generation: 1 });
      expect(await mirrored(provider)).toEqual(primary);
    }
    for (const provider of PROVIDERS.filter((p) => !(FANNED as readonly string[]).includes(p))) {
      expect(await mirrored(provider)).toBeUndefined();
    }
    // Only public records: no state, no lease, no heartbeat on the secondary.
    for (const provider of PROVIDERS) expect(await mirror.read(`state/${provider}`)).toBeUndefined();
    expect(await mirror.read('runner/heartbeat')).toBeUndefined();
    await scenario.harvestTokens();
  });

  it('rotates the primary while the secondary is unwritable, warns, and repairs the secondary next run', async () => {
    await rm(join(mirrorDir, 'tokens'), { recursive: true, force: true });
    await mkdir(mirrorDir, { recursive: true });
    await writeFile(join(mirrorDir, 'tokens'), 'in the way\n');

    const blocked = await scenario.cli(['run', '--json', '--force', '--provider', 'generic']);
    expect(blocked.code, blocked.stderr.slice(-2000)).toBe(0);
    expect(outcomesOf(blocked)).toEqual([
      expect.objectContaining({ provider: 'generic', status: 'rotated', ok: true, generation: 2 }),
    ]);
    expect(await scenario.publicRecord('generic')).toMatchObject({ generation: 2 });
    const warnings = logLines(blocked).filter((line) => line['code'] === 'PUBLISH_SECONDARY_FAILED');
    expect(warnings).toEqual([
      expect.objectContaining({ level: 40, provider: 'generic', secondary: 'mirror', generation: 2 }),
    ]);

    await rm(join(mirrorDir, 'tokens'));
    // No --force: the providers are fresh, and their secondaries are repaired from the primary.
    const repaired = await scenario.cli(['run', '--json']);
    expect(repaired.code, repaired.stderr.slice(-2000)).toBe(0);
    expect(outcomesOf(repaired).every((outcome) => outcome.status === 'fresh')).toBe(true);
    expect(logLines(repaired).filter((line) => line['code'] === 'PUBLISH_SECONDARY_FAILED')).toEqual([]);
    for (const provider of FANNED) expect(await mirrored(provider)).toEqual(await scenario.publicRecord(provider));
    expect(await mirrored('generic')).toMatchObject({ generation: 2 });
    await scenario.harvestTokens();
  });

  it('never overwrites a newer generation on the secondary', async () => {
    const current = await mirror.read('tokens/klikoo');
    const ahead = { ...current!.value, generation: 99, access_token: 'written-by-a-newer-runner' };
    await mirror.write('tokens/klikoo', ahead, current!.version);
    const run = await scenario.cli(['run', '--json']);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(await mirrored('klikoo')).toEqual(ahead);
  });

  it('refuses a publish_to naming a store that is not in stores, naming the field (exit 2)', async () => {
    const bad = { ...config, publish_to: { generic: ['mirror', 'elsewhere'] } };
    await writeFile(scenario.configPath, stringify(bad), { mode: 0o600 });
    try {
      const run = await scenario.cli(['run']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('publish_to.generic.1');
      expect(run.stderr).toContain('no store named elsewhere');
    } finally {
      await writeFile(scenario.configPath, stringify(config), { mode: 0o600 });
    }
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    for (const provider of FANNED) scenario.canary.addSecret((await mirrored(provider))?.['access_token'] as string);
    expect(scenario.canary.secrets.size).toBeGreaterThan(0);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});

describe('fan-out (built CLI, OpenBao primary, Kubernetes Secrets secondary)', () => {
  const NAMESPACE = 'consumers';
  const PREFIX = 'token-rotator-';
  let vault: VaultScenario;
  let kube: Kube;
  let cluster: SecretStore;
  const inCluster = async (path: string) => (await cluster.read(path))?.value;

  beforeAll(async () => {
    kube = await startKube();
    await kube.createNamespace(NAMESPACE);
    // Least privilege for a secondary: create, and get/update of the public records' Secrets only.
    await kube.apply(
      [
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'token-rotator-publisher' },
          rules: [
            { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
            {
              apiGroups: [''],
              resources: ['secrets'],
              resourceNames: FANNED.map((provider) => secretNameOf(PREFIX, `tokens/${provider}`)),
              verbs: ['get', 'update'],
            },
          ],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'token-rotator-publisher' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'token-rotator-publisher' },
          subjects: [{ kind: 'ServiceAccount', name: 'token-rotator', namespace: NAMESPACE }],
        },
      ],
      NAMESPACE,
    );
    const token = await kube.serviceAccountToken(NAMESPACE, 'token-rotator');
    cluster = await adminRecords(kube, NAMESPACE, PREFIX);
    vault = await startVaultScenario({
      auth: 'token',
      workspace: { policy: { lease_seconds: 5, request_timeout_seconds: 5, retries: 0 } },
    });
    const section = parse(await readFile(vault.configPath, 'utf8')) as Record<string, unknown>;
    section['stores'] = {
      cluster: {
        kind: 'kubernetes',
        namespace: NAMESPACE,
        prefix: PREFIX,
        kubeconfig: await kube.kubeconfig({ token }),
        request_timeout_seconds: 2,
      },
    };
    section['publish_to'] = Object.fromEntries(FANNED.map((provider) => [provider, ['cluster']]));
    await writeFile(vault.configPath, stringify(section), { mode: 0o600 });
    vault.canary.addSecret(token);
    vault.canary.addSecret(kube.tokens.admin);
  }, 120_000);
  afterAll(async () => {
    kube?.apiServer.kill('SIGCONT');
    await cluster?.close();
    await vault?.close();
    await kube?.stop();
  });

  it('publishes the public records as Secrets under a publisher-only Role, and nothing else', async () => {
    const run = await vault.cli(['run', '--json']);
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(logLines(run).filter((line) => line['code'] === 'PUBLISH_SECONDARY_FAILED')).toEqual([]);
    for (const provider of FANNED) {
      expect(await inCluster(`tokens/${provider}`)).toEqual(await vault.publicRecord(provider));
      expect(await inCluster(`state/${provider}`)).toBeUndefined();
    }
    expect(await inCluster('runner/heartbeat')).toBeUndefined();
    await vault.harvestTokens();
  });

  it('rotates the primary while the API server does not answer, and repairs the Secret once it does', async () => {
    kube.apiServer.kill('SIGSTOP');
    let blocked: CliResult;
    try {
      blocked = await vault.cli(['run', '--json', '--force', '--provider', 'generic']);
    } finally {
      kube.apiServer.kill('SIGCONT');
    }
    expect(blocked.code, blocked.stderr.slice(-2000)).toBe(0);
    expect(outcomesOf(blocked)).toEqual([
      expect.objectContaining({ provider: 'generic', status: 'rotated', ok: true, generation: 2 }),
    ]);
    expect(logLines(blocked).filter((line) => line['code'] === 'PUBLISH_SECONDARY_FAILED')).toEqual([
      expect.objectContaining({ level: 40, provider: 'generic', secondary: 'cluster', generation: 2 }),
    ]);
    expect(await inCluster('tokens/generic')).toMatchObject({ generation: 1 });

    const repaired = await vault.cli(['run', '--json']);
    expect(repaired.code, repaired.stderr.slice(-2000)).toBe(0);
    expect(await inCluster('tokens/generic')).toEqual(await vault.publicRecord('generic'));
    expect(await inCluster('tokens/generic')).toMatchObject({ generation: 2 });
    await vault.harvestTokens();
  });

  it('never printed a credential or token in any output', async () => {
    await vault.harvestTokens();
    expect(vault.canary.leaks()).toEqual([]);
  });
});
