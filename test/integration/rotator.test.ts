import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { createRotator } from '../../src/rotator.js';
import { startDemoSandbox } from '../../src/runtimes/demo.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import { FileStore } from '../../src/stores/file/index.js';

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
    const rotator = createRotator(await parseConfig(config(storeDir), 'inline.yaml', {}));
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
    const rotator = createRotator(await parseConfig(config(storeDir), 'inline.yaml', {}));
    const error = await rotator.pass().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'providers.fatture.password', message: 'store record credentials/fatture has no key password' },
    ]);
    expect(sandbox.stats().issued).toBe(before);
  });
});
