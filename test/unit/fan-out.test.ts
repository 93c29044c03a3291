import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { fanOut, PUBLISH_SECONDARY_FAILED, publishToSecondaries, SecondaryStores } from '../../src/engine/fan-out.js';
import { recordPaths, type StateRecord } from '../../src/engine/records.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { SecretStore } from '../../src/stores/contract.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { MemoryStore } from '../helpers/memory-store.js';

const ACCESS = 'at-canary-0f3c9a7e51d4';
const REFRESH = 'rt-canary-8b2e6d01ac95';

function state(generation: number, access = ACCESS): StateRecord {
  return {
    schema: 1,
    provider: 'api',
    generation,
    token: {
      access_token: access,
      token_type: 'Bearer',
      expires_at: '2030-01-01T01:00:00.000Z',
      issued_at: '2030-01-01T00:00:00.000Z',
    },
    refresh_token: REFRESH,
    failures: { consecutive: 0 },
  };
}

function publicAt(generation: number, access = `at-gen-${generation}`): Record<string, unknown> {
  return {
    provider: 'api',
    access_token: access,
    token_type: 'Bearer',
    expires_at: '2030-01-01T01:00:00.000Z',
    issued_at: '2030-01-01T00:00:00.000Z',
    generation,
  };
}

describe('publishToSecondaries', () => {
  it('writes the public record, and only the public record, to a secondary that has none', async () => {
    const secondary = new MemoryStore();
    const failures = await publishToSecondaries(
      'api',
      state(3),
      [{ name: 'mirror', store: secondary }],
      silentLogger(),
    );
    expect(failures).toEqual([]);
    expect([...secondary.records.keys()]).toEqual([recordPaths.public('api')]);
    const written = secondary.records.get(recordPaths.public('api'))?.value;
    expect(written).toMatchObject({ provider: 'api', access_token: ACCESS, generation: 3 });
    expect(JSON.stringify(written)).not.toContain(REFRESH);
  });

  it('replaces an older generation and leaves the same or a newer generation alone', async () => {
    const older = new MemoryStore();
    const same = new MemoryStore();
    const newer = new MemoryStore();
    await older.write(recordPaths.public('api'), publicAt(2), null);
    await same.write(recordPaths.public('api'), publicAt(3, 'at-same'), null);
    await newer.write(recordPaths.public('api'), publicAt(4), null);
    const failures = await publishToSecondaries(
      'api',
      state(3),
      [
        { name: 'older', store: older },
        { name: 'same', store: same },
        { name: 'newer', store: newer },
      ],
      silentLogger(),
    );
    expect(failures).toEqual([]);
    expect(older.records.get(recordPaths.public('api'))?.value).toMatchObject({ generation: 3, access_token: ACCESS });
    expect(same.records.get(recordPaths.public('api'))?.value).toMatchObject({ access_token: 'at-same' });
    expect(newer.records.get(recordPaths.public('api'))?.value).toMatchObject({ generation: 4 });
    expect([older.writes, same.writes, newer.writes]).toEqual([2, 1, 1]);
  });

  it('reports a failing secondary with a warning and no secret, and still writes the others', async () => {
    const broken = new MemoryStore();
    broken.failWrites.set(recordPaths.public('api'), 99);
    const healthy = new MemoryStore();
    const logs = captureLogs();
    const failures = await publishToSecondaries(
      'api',
      state(5),
      [
        { name: 'broken', store: broken },
        { name: 'healthy', store: healthy },
      ],
      logs.logger,
    );
    expect(failures).toEqual([{ store: 'broken', code: PUBLISH_SECONDARY_FAILED, message: expect.any(String) }]);
    expect(healthy.records.get(recordPaths.public('api'))?.value).toMatchObject({ generation: 5 });
    const warning = logs.lines().find((line) => line['code'] === PUBLISH_SECONDARY_FAILED);
    expect(warning).toMatchObject({ level: 40, secondary: 'broken', generation: 5 });
    expect(logs.text()).not.toContain(ACCESS);
    expect(logs.text()).not.toContain(REFRESH);
  });

  it('repairs a secondary once it accepts writes again', async () => {
    const secondary = new MemoryStore();
    secondary.failWrites.set(recordPaths.public('api'), 1);
    const first = await publishToSecondaries('api', state(1), [{ name: 'm', store: secondary }], silentLogger());
    expect(first).toHaveLength(1);
    expect(secondary.records.size).toBe(0);
    const second = await publishToSecondaries('api', state(1), [{ name: 'm', store: secondary }], silentLogger());
    expect(second).toEqual([]);
    expect(secondary.records.get(recordPaths.public('api'))?.value).toMatchObject({ generation: 1 });
  });

  it('writes nothing while the state holds no token', async () => {
    const secondary = new MemoryStore();
    const { token: _, ...empty } = state(0);
    expect(await publishToSecondaries('api', empty, [{ name: 'm', store: secondary }], silentLogger())).toEqual([]);
    expect(secondary.writes).toBe(0);
  });
});

describe('fanOut', () => {
  it('publishes each seen provider to its own secondaries and skips a record of another layout', async () => {
    const mirror = new MemoryStore();
    const seen = new Map<string, Record<string, unknown>>([
      ['api', { ...state(2) }],
      ['other', { not: 'a state record' }],
      ['alone', { ...state(7), provider: 'alone' }],
    ]);
    const failures = await fanOut(
      seen,
      (name) => (name === 'alone' ? [] : [{ name: 'mirror', store: mirror }]),
      silentLogger(),
    );
    expect(failures.size).toBe(0);
    expect([...mirror.records.keys()]).toEqual([recordPaths.public('api')]);
  });
});

describe('SecondaryStores', () => {
  it('builds a store once per unchanged section, anew when it changes, and closes every one', async () => {
    const built: string[] = [];
    const closed: string[] = [];
    const secondaries = new SecondaryStores<{ directory: string }>(async (config) => {
      built.push(config.directory);
      return { close: async () => void closed.push(config.directory) } as unknown as SecretStore;
    });
    const a = { directory: 'a' };
    expect(secondaries.select({ m: a }, ['m']).map((s) => s.name)).toEqual(['m']);
    secondaries.select({ m: a }, ['m']);
    secondaries.select({ m: { directory: 'b' } }, ['m', 'unknown']);
    expect(built).toEqual(['a', 'b']);
    await secondaries.close();
    expect(closed.sort()).toEqual(['a', 'b']);
  });
});

describe('SecondaryStores: a section that cannot be built', () => {
  it('fails that secondary with a warning, never the caller, and builds it again next time', async () => {
    let attempts = 0;
    const healthy = new MemoryStore();
    const secondaries = new SecondaryStores<{ n: number }>(async () => {
      attempts++;
      if (attempts === 1) throw new Error('kubeconfig not readable');
      return healthy;
    });
    const sections = { m: { n: 1 } };
    const logs = captureLogs();
    const seen = new Map([['api', { ...state(1) }]]);
    const first = await fanOut(seen, () => secondaries.select(sections, ['m']), logs.logger);
    expect(first.get('api')).toEqual([
      { store: 'm', code: PUBLISH_SECONDARY_FAILED, message: expect.stringContaining('kubeconfig not readable') },
    ]);
    expect(logs.lines().filter((line) => line['code'] === PUBLISH_SECONDARY_FAILED)).toHaveLength(1);
    const second = await fanOut(seen, () => secondaries.select(sections, ['m']), logs.logger);
    expect(second.size).toBe(0);
    expect(attempts).toBe(2);
    expect(healthy.records.get(recordPaths.public('api'))?.value).toMatchObject({ generation: 1 });
  });
});

describe('config: stores and publish_to', () => {
  const base = `
stores:
  mirror:
    kind: file
    directory: /tmp/mirror
providers:
  api:
    kind: oauth2
    token_url: https://auth.example.test/token
    client_id: id
    client_secret: \${env:SECRET}
`;

  async function issuesOf(text: string): Promise<string[]> {
    try {
      await parseConfig(text, 'test.yaml', { SECRET: 's'.repeat(32) });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw new Error('expected a ConfigError');
  }

  it('accepts named stores and a provider published to them', async () => {
    const loaded = await parseConfig(`${base}publish_to:\n  api: [mirror]\n`, 'test.yaml', { SECRET: 's'.repeat(32) });
    const config = await loaded.resolve(async () => undefined);
    expect(config.publish_to).toEqual({ api: ['mirror'] });
    expect(config.stores?.['mirror']).toEqual({ kind: 'file', directory: '/tmp/mirror' });
  });

  it('names the field of a store that is not in stores', async () => {
    expect(await issuesOf(`${base}publish_to:\n  api: [mirror, elsewhere]\n`)).toEqual([
      'publish_to.api.1: no store named elsewhere (stores: mirror)',
    ]);
  });

  it('names the field of a provider that is not configured', async () => {
    expect(await issuesOf(`${base}publish_to:\n  nope: [mirror]\n`)).toEqual([
      'publish_to.nope: no provider named nope',
    ]);
  });

  it('checks each named store with the store registry schema', async () => {
    const issues = await issuesOf(base.replace('kind: file', 'kind: floppy'));
    expect(issues.some((issue) => issue.startsWith('stores.mirror'))).toBe(true);
  });
});
