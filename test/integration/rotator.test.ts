import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { createRotator } from '../../src/rotator.js';
import { startDemoSandbox } from '../../src/runtimes/demo.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import type { StoredRecord } from '../../src/stores/contract.js';
import { FileStore } from '../../src/stores/file/index.js';

/** The file store, counting the reads of each provider's records (`state/…`, `tokens/…`). */
class CountingFileStore extends FileStore {
  providerReads = 0;

  override async read(path: string): Promise<StoredRecord | undefined> {
    if (path.startsWith('state/') || path.startsWith('tokens/')) this.providerReads++;
    return super.read(path);
  }
}

let sandbox: Sandbox;
let secrets: DemoSecrets;
let dir: string;
beforeAll(async () => {
  ({ sandbox, secrets } = await startDemoSandbox());
  dir = await mkdtemp(join(tmpdir(), 'tr-rotator-'));
});
afterAll(async () => {
  await sandbox?.close();
  await rm(dir, { recursive: true, force: true });
});

const config = (store: string) => `
store: { kind: file, directory: ${store} }
providers:
  fatture:
    kind: keliweb
    base_url: ${sandbox.baseUrl('keliweb-fatture')}
    body: multipart
    client_id: ${secrets['keliweb-fatture'].clientId}
    client_secret: \${store:credentials/fatture#client_secret}
    username: ${secrets['keliweb-fatture'].username}
    password: \${store:credentials/fatture#password}
`;

describe('createRotator with credentials kept in the store (${store:PATH#KEY})', () => {
  it('reads the credentials from the file store at each pass and rotates with them', async () => {
    const storeDir = join(dir, 'with-credentials');
    const store = new FileStore({ directory: storeDir });
    await store.write(
      'credentials/fatture',
      { client_secret: secrets['keliweb-fatture'].clientSecret, password: secrets['keliweb-fatture'].password },
      null,
    );
    const rotator = await createRotator(await parseConfig(config(storeDir), 'inline.yaml', {}));
    const summary = await rotator.pass();
    expect(summary.outcomes).toMatchObject([{ provider: 'fatture', status: 'rotated', method: 'obtain' }]);
    const record = await store.read('tokens/fatture');
    expect(sandbox.isValid(record!.value['access_token'] as string)).toBe(true);
  });

  it('reports a missing store key as a config error naming the field, calling no provider', async () => {
    const storeDir = join(dir, 'without-password');
    const store = new FileStore({ directory: storeDir });
    await store.write('credentials/fatture', { client_secret: 'x' }, null);
    const before = sandbox.stats().issued;
    const rotator = await createRotator(await parseConfig(config(storeDir), 'inline.yaml', {}));
    const error = await rotator.pass().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'providers.fatture.password', message: 'store record credentials/fatture has no key password' },
    ]);
    expect(sandbox.stats().issued).toBe(before);
  });
});

describe('Rotator.pass with onlyPossiblyDue (the daemon between its full checks)', () => {
  /** One keliweb provider whose client secret is read from `secretFile`, on a file store in `storeDir`. */
  const fileConfig = (storeDir: string, secretFile: string) => `
store: { kind: file, directory: ${storeDir} }
providers:
  fatture:
    kind: keliweb
    base_url: ${sandbox.baseUrl('keliweb-fatture')}
    body: multipart
    client_id: ${secrets['keliweb-fatture'].clientId}
    client_secret: \${file:${secretFile}}
    username: ${secrets['keliweb-fatture'].username}
    password: \${env:FATTURE_PASSWORD}
`;

  /** A rotator on a fake clock whose provider was rotated and then found fresh by a full pass. */
  async function freshRotator(name: string) {
    const storeDir = join(dir, name);
    const secretFile = join(dir, `${name}.secret`);
    await writeFile(secretFile, secrets['keliweb-fatture'].clientSecret);
    const store = new CountingFileStore({ directory: storeDir });
    let clock = Date.parse('2026-03-01T00:00:00.000Z');
    const rotator = await createRotator(
      await parseConfig(fileConfig(storeDir, secretFile), 'inline.yaml', {
        FATTURE_PASSWORD: secrets['keliweb-fatture'].password,
      }),
      {
        store,
        now: () => clock,
      },
    );
    const daemonPass = (options: { onlyPossiblyDue?: boolean; force?: boolean } = {}) =>
      rotator.pass({ isolateReferences: true, ...options });
    expect((await daemonPass()).outcomes).toMatchObject([{ status: 'rotated' }]);
    const full = await daemonPass();
    expect(full.outcomes).toMatchObject([{ status: 'fresh' }]);
    const state = await store.read('state/fatture');
    const token = state?.value['token'] as { issued_at: string; expires_at: string };
    return {
      store,
      secretFile,
      full,
      daemonPass,
      token,
      advanceTo: (ms: number) => {
        clock = ms;
      },
    };
  }

  it('reads no record of a provider found fresh, and reports it fresh with the token facts last read', async () => {
    const { store, full, daemonPass } = await freshRotator('skip-fresh');
    const issued = sandbox.stats().issued;
    store.providerReads = 0;

    const idle = await daemonPass({ onlyPossiblyDue: true });

    expect(store.providerReads).toBe(0);
    expect(idle.outcomes).toEqual([{ ...full.outcomes[0], durationMs: 0 }]);
    expect(idle.counts.fresh).toBe(1);
    expect(idle.ok).toBe(true);
    expect(sandbox.stats().issued).toBe(issued);
  });

  it('still writes the heartbeat at a pass that reads no provider', async () => {
    const { store, daemonPass, advanceTo, token } = await freshRotator('skip-heartbeat');
    const later = Date.parse(token.issued_at) + 1000;
    advanceTo(later);

    await daemonPass({ onlyPossiblyDue: true });

    const heartbeat = await store.read('runner/heartbeat');
    expect(heartbeat?.value['last_pass_at']).toBe(new Date(later).toISOString());
  });

  it('reads and rotates a provider once its renewal point has come', async () => {
    const { store, daemonPass, advanceTo, token } = await freshRotator('skip-due');
    advanceTo(Date.parse(token.expires_at) - 1000);
    store.providerReads = 0;

    const due = await daemonPass({ onlyPossiblyDue: true });

    expect(store.providerReads).toBeGreaterThan(0);
    expect(due.outcomes).toMatchObject([{ status: 'rotated', reason: 'due' }]);
  });

  it('finds a public record damaged behind its back at the next full check, not before', async () => {
    const { store, daemonPass } = await freshRotator('skip-damaged');
    const published = await store.read('tokens/fatture');
    await store.write('tokens/fatture', { damaged: true }, published?.version ?? null);

    const between = await daemonPass({ onlyPossiblyDue: true });
    expect(between.outcomes).toMatchObject([{ status: 'fresh' }]);
    expect((await store.read('tokens/fatture'))?.value).toEqual({ damaged: true });

    const fullCheck = await daemonPass();
    expect(fullCheck.outcomes).toMatchObject([{ status: 'repaired' }]);
    expect(sandbox.isValid((await store.read('tokens/fatture'))?.value['access_token'] as string)).toBe(true);
  });

  it('finds a state record deleted behind its back at the next full check, and obtains a new token', async () => {
    const { store, daemonPass } = await freshRotator('skip-deleted');
    const state = await store.read('state/fatture');
    await store.write(
      'state/fatture',
      { schema: 1, provider: 'fatture', generation: 0, failures: { consecutive: 0 } },
      state?.version ?? null,
    );

    expect((await daemonPass({ onlyPossiblyDue: true })).outcomes).toMatchObject([{ status: 'fresh' }]);
    expect((await daemonPass()).outcomes).toMatchObject([{ status: 'rotated', reason: 'missing' }]);
  });

  it('uses a ${file:…} credential rotated between passes at the next rotation, and the new one after it', async () => {
    const { secretFile, daemonPass, advanceTo, token } = await freshRotator('skip-file-credential');
    await writeFile(secretFile, 'not-the-client-secret-of-this-client');
    advanceTo(Date.parse(token.expires_at) - 1000);

    const withWrong = await daemonPass({ onlyPossiblyDue: true });
    expect(withWrong.outcomes).toMatchObject([{ status: 'failed', error: { class: 'permanent' } }]);

    await writeFile(secretFile, secrets['keliweb-fatture'].clientSecret);
    // --force past the back-off the wrong secret earned; the provider is rebuilt with the file's value again.
    const withRight = await daemonPass({ onlyPossiblyDue: true, force: true });
    expect(withRight.outcomes).toMatchObject([{ status: 'rotated', reason: 'due' }]);
  });
});
