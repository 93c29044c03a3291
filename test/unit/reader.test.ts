import { describe, expect, it } from 'vitest';
import { type PublicRecord, recordPaths } from '../../src/engine/records.js';
import { TokenUnavailableError } from '../../src/errors.js';
import { createTokenReader } from '../../src/reader.js';
import { MemoryStore } from '../helpers/memory-store.js';

const T0 = Date.parse('2026-05-01T12:00:00Z');

function record(token: string, generation: number, expiresInSeconds: number, now = T0): PublicRecord {
  return {
    provider: 'api',
    access_token: token,
    token_type: 'Bearer',
    issued_at: new Date(now).toISOString(),
    expires_at: new Date(now + expiresInSeconds * 1000).toISOString(),
    generation,
  };
}

async function put(store: MemoryStore, value: PublicRecord) {
  const current = await store.read(recordPaths.public('api'));
  await store.write(recordPaths.public('api'), value, current?.version ?? null);
}

describe('createTokenReader', () => {
  it('reads the public record and serves it from memory until shortly before expiry', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    await put(store, record('first', 1, 900));
    const reader = createTokenReader({ store, now: () => clock.now, refreshMarginSeconds: 30 });
    expect(await reader.get('api')).toMatchObject({ accessToken: 'first', tokenType: 'Bearer', generation: 1 });
    await put(store, record('second', 2, 900, T0 + 1000));
    clock.now = T0 + 869_000;
    expect((await reader.get('api')).accessToken).toBe('first');
    clock.now = T0 + 870_000;
    expect((await reader.get('api')).accessToken).toBe('second');
  });

  it('re-reads the store after a 401 invalidates the cached token', async () => {
    const store = new MemoryStore();
    await put(store, record('revoked', 1, 3600));
    const reader = createTokenReader({ store, now: () => T0 });
    expect(await reader.authorization('api')).toBe('Bearer revoked');
    await put(store, record('fresh', 2, 3600));
    reader.invalidate('api', 'revoked');
    expect(await reader.authorization('api')).toBe('Bearer fresh');
  });

  it('keeps a newer cached token when an older one is reported rejected', async () => {
    const store = new MemoryStore();
    await put(store, record('new', 2, 3600));
    const reader = createTokenReader({ store, now: () => T0 });
    await reader.get('api');
    await put(store, record('newer', 3, 3600));
    reader.invalidate('api', 'old');
    expect((await reader.get('api')).accessToken).toBe('new');
  });

  it('refuses an expired token and a missing provider', async () => {
    const store = new MemoryStore();
    await put(store, record('stale', 1, 60));
    const reader = createTokenReader({ store, now: () => T0 + 61_000 });
    await expect(reader.get('api')).rejects.toThrow(TokenUnavailableError);
    await expect(reader.get('other')).rejects.toThrow(/no token stored for provider other/);
  });

  it('shares one store read between concurrent callers', async () => {
    const store = new MemoryStore();
    await put(store, record('t', 1, 3600));
    let reads = 0;
    const read = store.read.bind(store);
    store.read = async (path) => {
      reads++;
      return read(path);
    };
    const reader = createTokenReader({ store, now: () => T0 });
    await Promise.all(Array.from({ length: 10 }, () => reader.get('api')));
    expect(reads).toBe(1);
  });
});
