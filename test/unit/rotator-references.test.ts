/**
 * How a pass treats references that fail: `run` (the default) throws before any provider
 * runs, a ConfigError for a wrong reference and a StoreError for a store that could not
 * answer; the daemon (`isolateReferences`) fails only the providers concerned, and they
 * recover once the reference does. The store is an in-memory stand-in and every pass is
 * a dry run, so no provider is called; the built CLI against a real OpenBao is proven in
 * test/e2e/store-outage.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError, StoreError } from '../../src/errors.js';
import { createRotator } from '../../src/rotator.js';
import type { StoredRecord } from '../../src/stores/contract.js';
import { MemoryStore } from '../helpers/memory-store.js';

/** A memory store whose reads of `credentials/…` fail while `down` is true, as an unreachable server would. */
class FlakyStore extends MemoryStore {
  down = false;

  override async read(path: string): Promise<StoredRecord | undefined> {
    if (this.down && path.startsWith('credentials/')) throw new StoreError(`could not read record ${path}: no answer`);
    return super.read(path);
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tr-rotator-refs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env = { SECRET: 'e'.repeat(32) };

/** Three oauth2 providers: `from-file` and `from-store` take their secret from a reference, `plain` from the environment. */
function config(secretFile: string): string {
  const provider = (secret: string) => `
    kind: oauth2
    token_url: https://auth.example.test/token
    grant: client_credentials
    client_id: a-client
    client_secret: ${secret}`;
  return `
providers:
  from-file:${provider(`\${file:${secretFile}}`)}
  plain:${provider('${env:SECRET}')}
  from-store:${provider('${store:credentials/api#client_secret}')}
`;
}

async function setUp(name: string) {
  const secretFile = join(dir, `${name}.txt`);
  await writeFile(secretFile, 'f'.repeat(32));
  const store = new FlakyStore();
  await store.write('credentials/api', { client_secret: 's'.repeat(32) }, null);
  const rotator = await createRotator(await parseConfig(config(secretFile), 'test.yaml', env), { store });
  return { secretFile, store, rotator };
}

const statuses = (outcomes: readonly { provider: string; status: string }[]) =>
  Object.fromEntries(outcomes.map((outcome) => [outcome.provider, outcome.status]));

describe('Rotator.pass with isolateReferences (the daemon)', () => {
  it('fails only the provider whose file reference is gone, and runs it again once the file is back', async () => {
    const { secretFile, rotator } = await setUp('removed');
    await rm(secretFile);

    const broken = await rotator.pass({ dryRun: true, isolateReferences: true });

    expect(broken.outcomes.map((outcome) => outcome.provider)).toEqual(['from-file', 'plain', 'from-store']);
    expect(statuses(broken.outcomes)).toEqual({
      'from-file': 'failed',
      plain: 'would-rotate',
      'from-store': 'would-rotate',
    });
    expect(broken.outcomes[0]).toMatchObject({
      ok: false,
      error: {
        class: 'permanent',
        code: 'CONFIG_REFERENCE',
        message: `its references did not resolve: providers.from-file.client_secret: cannot read file ${secretFile} (ENOENT)`,
      },
    });
    expect(broken.ok).toBe(false);
    expect(broken.counts).toMatchObject({ failed: 1, 'would-rotate': 2 });

    await writeFile(secretFile, 'f'.repeat(32));
    const recovered = await rotator.pass({ dryRun: true, isolateReferences: true });

    expect(statuses(recovered.outcomes)).toEqual({
      'from-file': 'would-rotate',
      plain: 'would-rotate',
      'from-store': 'would-rotate',
    });
    expect(recovered.counts.failed).toBe(0);
  });

  it('fails the provider whose ${store:…} reference the store cannot answer as a store failure, until it answers', async () => {
    const { store, rotator } = await setUp('store-down');
    store.down = true;

    const down = await rotator.pass({ dryRun: true, isolateReferences: true });

    expect(statuses(down.outcomes)).toMatchObject({ 'from-store': 'failed', plain: 'would-rotate' });
    expect(down.outcomes.find((outcome) => outcome.provider === 'from-store')?.error).toEqual({
      class: 'store',
      code: 'STORE_UNAVAILABLE',
      message: 'its references did not resolve: could not read record credentials/api: no answer',
    });

    store.down = false;
    const up = await rotator.pass({ dryRun: true, isolateReferences: true });

    expect(statuses(up.outcomes)).toMatchObject({ 'from-store': 'would-rotate' });
  });

  it('still selects a provider whose reference failed by name', async () => {
    const { store, rotator } = await setUp('selected');
    store.down = true;

    const summary = await rotator.pass({ dryRun: true, isolateReferences: true, providers: ['from-store'] });

    expect(summary.outcomes).toMatchObject([{ provider: 'from-store', status: 'failed' }]);
  });
});

describe('Rotator.pass without isolateReferences (run)', () => {
  it('throws the StoreError, not a ConfigError, when the store cannot answer a ${store:…} reference', async () => {
    const { store, rotator } = await setUp('run-store-down');
    store.down = true;

    const error = await rotator.pass({ dryRun: true }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect(error).not.toBeInstanceOf(ConfigError);
    expect((error as StoreError).message).toBe('could not read record credentials/api: no answer');
  });

  it('throws a ConfigError when a reference is wrong', async () => {
    const { secretFile, rotator } = await setUp('run-removed');
    await rm(secretFile);

    const error = await rotator.pass({ dryRun: true }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'providers.from-file.client_secret', message: `cannot read file ${secretFile} (ENOENT)` },
    ]);
  });

  it('lists the configured providers when asked for one that is not configured', async () => {
    const { rotator } = await setUp('unknown');

    const error = await rotator.pass({ dryRun: true, providers: ['nope'] }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'providers', message: 'no provider named nope (configured: from-file, plain, from-store)' },
    ]);
  });

  it('reports an unknown provider name as a config error even while the store cannot answer', async () => {
    const { store, rotator } = await setUp('unknown-store-down');
    store.down = true;

    const error = await rotator.pass({ dryRun: true, providers: ['nope'] }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      'providers: no provider named nope (configured: from-file, plain, from-store)',
    );
  });
});

describe('Rotator.check (validate, and the daemon at start)', () => {
  it('throws the StoreError when the store cannot answer a ${store:…} reference', async () => {
    const { store, rotator } = await setUp('check-store-down');
    store.down = true;

    await expect(rotator.check()).rejects.toSatisfy(
      (error) => error instanceof StoreError && !(error instanceof ConfigError),
    );
  });
});
