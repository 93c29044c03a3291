import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { callProvider } from '../../src/engine/call.js';
import { ImportInputError, importedState, importTokens, parseImportInput } from '../../src/engine/import.js';
import { emptyState, type StateRecord, stateRecordSchema } from '../../src/engine/records.js';
import { ConfigError, ProviderError, RotatorError } from '../../src/errors.js';
import { IMPORT_REQUIRED_REASON, oauth2Kind } from '../../src/providers/oauth2/kind.js';
import { UsageError } from '../../src/runtimes/commands/contract.js';
import { readInput } from '../../src/runtimes/commands/import.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { MemoryStore } from '../helpers/memory-store.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const REFRESH = 'def50200-imported-refresh-token-0123456789';
const ACCESS = 'eyJ-imported-access-token-0123456789';

function inputError(text: string): string {
  try {
    parseImportInput(text, NOW);
  } catch (error) {
    expect(error).toBeInstanceOf(ImportInputError);
    return (error as Error).message;
  }
  throw new Error('expected an ImportInputError');
}

describe('parseImportInput', () => {
  it('reads a bare refresh token on its own line, ignoring the surrounding blank space', () => {
    expect(parseImportInput(`  ${REFRESH}\n`, NOW)).toEqual({ refreshToken: REFRESH });
  });

  it('reads the JSON form with an access token and expires_in counted from now', () => {
    const text = JSON.stringify({ refresh_token: REFRESH, access_token: ACCESS, expires_in: 600 });
    expect(parseImportInput(text, NOW)).toEqual({
      refreshToken: REFRESH,
      accessToken: { value: ACCESS, tokenType: 'Bearer', expiresAt: NOW + 600_000 },
    });
  });

  it('reads expires_at and keeps a token_type other than bearer as given', () => {
    const text = JSON.stringify({
      refresh_token: REFRESH,
      access_token: ACCESS,
      token_type: 'MAC',
      expires_at: '2026-11-29T13:00:00Z',
    });
    expect(parseImportInput(text, NOW).accessToken).toEqual({
      value: ACCESS,
      tokenType: 'MAC',
      expiresAt: Date.parse('2026-11-29T13:00:00Z'),
    });
  });

  it('refuses empty input', () => {
    expect(inputError(' \n\n')).toMatch(/empty/);
  });

  it('refuses two lines, a token with spaces and invalid JSON, never quoting the input', () => {
    for (const text of [`${REFRESH}\n${REFRESH}`, `${REFRESH} extra`, `{"refresh_token": "${REFRESH}"`]) {
      const message = inputError(text);
      expect(message).not.toContain(REFRESH);
    }
  });

  it('refuses unknown fields, an access token without expiry, an expired one, and an expiry without a token', () => {
    expect(inputError(JSON.stringify({ refresh_token: REFRESH, refreshtoken: 'x' }))).toMatch(/unknown field/);
    expect(inputError(JSON.stringify({ refresh_token: REFRESH, access_token: ACCESS }))).toMatch(
      /expires_at or expires_in/,
    );
    expect(
      inputError(JSON.stringify({ refresh_token: REFRESH, access_token: ACCESS, expires_at: '2026-11-29T11:00:00Z' })),
    ).toMatch(/already expired/);
    expect(inputError(JSON.stringify({ refresh_token: REFRESH, expires_in: 60 }))).toMatch(/go with an access_token/);
    expect(
      inputError(JSON.stringify({ refresh_token: REFRESH, access_token: ACCESS, expires_in: 60, expires_at: 'x' })),
    ).toMatch(/not both/);
    expect(inputError(JSON.stringify({ access_token: ACCESS, expires_in: 60 }))).toMatch(/refresh_token/);
  });
});

describe('importedState', () => {
  it('replaces the refresh token, drops its old expiry and an expired lease, and clears failures and back-off', () => {
    const state: StateRecord = {
      ...emptyState('crm'),
      generation: 3,
      refresh_token: 'old-refresh-token',
      refresh_expires_at: '2026-11-30T00:00:00.000Z',
      lease: {
        holder: 'gone',
        acquired_at: '2026-11-29T10:00:00Z',
        expires_at: '2026-11-29T10:01:00Z',
        intent: 'refresh',
      },
      failures: {
        consecutive: 4,
        last: { at: '2026-11-29T11:00:00Z', class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'refused' },
        next_attempt_at: '2026-11-29T13:00:00Z',
      },
    };
    const next = importedState(state, { refreshToken: REFRESH }, NOW);
    expect(next).toEqual({ ...emptyState('crm'), generation: 3, refresh_token: REFRESH });
    expect(stateRecordSchema.safeParse(next).success).toBe(true);
  });

  it('with an access token, makes it the next generation issued now', () => {
    const next = importedState(
      { ...emptyState('crm'), generation: 2 },
      { refreshToken: REFRESH, accessToken: { value: ACCESS, tokenType: 'Bearer', expiresAt: NOW + 3_600_000 } },
      NOW,
    );
    expect(next.generation).toBe(3);
    expect(next.token).toEqual({
      access_token: ACCESS,
      token_type: 'Bearer',
      issued_at: '2026-11-29T12:00:00.000Z',
      expires_at: '2026-11-29T13:00:00.000Z',
    });
  });
});

describe('importTokens', () => {
  const base = { provider: 'crm', holder: 'importer', now: () => NOW };

  it('writes the state record, publishes an imported access token, and logs fingerprints only', async () => {
    const store = new MemoryStore();
    const logs = captureLogs();
    const tokens = {
      refreshToken: REFRESH,
      accessToken: { value: ACCESS, tokenType: 'Bearer', expiresAt: NOW + 3_600_000 },
    };
    const result = await importTokens({ ...base, store, tokens, logger: logs.logger });
    expect(result).toEqual({ generation: 1, published: true });
    expect(store.records.get('state/crm')?.value['refresh_token']).toBe(REFRESH);
    expect(store.records.get('tokens/crm')?.value).toMatchObject({ access_token: ACCESS, generation: 1 });
    expect(logs.text()).not.toContain(REFRESH);
    expect(logs.text()).not.toContain(ACCESS);
    expect(logs.lines().some((line) => typeof line['refresh_token_fp'] === 'string')).toBe(true);
  });

  it('refuses with LEASE_BUSY, writing nothing, while another runner holds a live lease', async () => {
    const store = new MemoryStore();
    const leased: StateRecord = {
      ...emptyState('crm'),
      lease: {
        holder: 'runner-a',
        acquired_at: '2026-11-29T11:59:50Z',
        expires_at: '2026-11-29T12:00:50Z',
        intent: 'refresh',
      },
    };
    await store.write('state/crm', leased, null);
    const attempt = importTokens({ ...base, store, tokens: { refreshToken: REFRESH }, logger: captureLogs().logger });
    await expect(attempt).rejects.toBeInstanceOf(RotatorError);
    await expect(attempt).rejects.toMatchObject({ code: 'LEASE_BUSY' });
    expect(store.writes).toBe(1);
    expect(store.records.get('state/crm')?.value['refresh_token']).toBeUndefined();
  });

  it('reads again when another writer moved first, and keeps what it wrote', async () => {
    const store = new MemoryStore();
    await store.write('state/crm', { ...emptyState('crm'), generation: 5 }, null);
    const write = store.write.bind(store);
    let raced = false;
    store.write = async (path, value, expected) => {
      if (!raced) {
        raced = true;
        await write(path, { ...emptyState('crm'), generation: 6 }, expected);
      }
      return write(path, value, expected);
    };
    const result = await importTokens({
      ...base,
      store,
      tokens: { refreshToken: REFRESH },
      logger: captureLogs().logger,
    });
    expect(result.generation).toBe(6);
    expect(store.records.get('state/crm')?.value).toMatchObject({ generation: 6, refresh_token: REFRESH });
  });
});

describe('oauth2 grant refresh_token', () => {
  const yaml = (extra = '') => `
providers:
  crm:
    kind: oauth2
    grant: refresh_token
    token_url: https://auth.example.test/oauth/token
    client_id: rotator
    client_secret: \${env:SECRET}
${extra}`;

  it('is accepted with the client authentication of client_auth', async () => {
    const config = await (await parseConfig(yaml(), 'test.yaml', { SECRET: 's3cret-value' })).resolve(
      async () => undefined,
    );
    expect(config.providers['crm']).toMatchObject({ kind: 'oauth2', grant: 'refresh_token' });
  });

  it('refuses renewal: reauthenticate, which it cannot do', async () => {
    const attempt = (async () =>
      (await parseConfig(yaml('    renewal: reauthenticate'), 'test.yaml', { SECRET: 's3cret-value' })).resolve(
        async () => undefined,
      ))();
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toMatchObject({
      issues: [expect.objectContaining({ message: expect.stringMatching(/cannot re-authenticate/) })],
    });
  });

  it('builds a provider that can refresh but whose obtain fails permanently, asking for an import', async () => {
    const config = await (await parseConfig(yaml(), 'test.yaml', { SECRET: 's3cret-value' })).resolve(
      async () => undefined,
    );
    const section = config.providers['crm'];
    if (section?.kind !== 'oauth2') throw new Error('expected an oauth2 section');
    const provider = oauth2Kind.create(section, { timeoutMs: 1000, name: 'crm' });
    expect(provider.refresh).toBeTypeOf('function');
    const failure = provider.obtain();
    await expect(failure).rejects.toBeInstanceOf(ProviderError);
    await expect(failure).rejects.toMatchObject({ failureClass: 'permanent', reason: IMPORT_REQUIRED_REASON });
    await expect(failure).rejects.toThrow('import a new one with `token-rotator import crm`');
  });
});

describe('callProvider with a refresh-only provider', () => {
  it('ends a refused refresh in the permanent failure of its obtain, the refresh token dropped', async () => {
    const provider = {
      kind: 'oauth2',
      obtain: () =>
        Promise.reject(new ProviderError('permanent', 'import a new one', { reason: IMPORT_REQUIRED_REASON })),
      refresh: () => Promise.reject(new ProviderError('reauthenticate', 'invalid_grant')),
    };
    const result = await callProvider({
      provider,
      method: 'refresh',
      refreshToken: REFRESH,
      policy: { retries: 2, max_retry_wait_seconds: 1, request_timeout_seconds: 1 },
      leaseEndsAt: NOW + 60_000,
      now: () => NOW,
      sleep: async () => {},
      logger: captureLogs().logger,
    });
    expect(result).toMatchObject({ ok: false, method: 'obtain', refreshDead: true });
    if (result.ok) throw new Error('expected a failure');
    expect(result.failure.failureClass).toBe('permanent');
  });
});

describe('import command input', () => {
  it('refuses a terminal: a token typed there would be echoed', async () => {
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    await expect(readInput(tty)).rejects.toBeInstanceOf(UsageError);
  });

  it('reads piped input whole', async () => {
    await expect(readInput(Readable.from([Buffer.from('abc'), Buffer.from('def\n')]))).resolves.toBe('abcdef\n');
  });

  it('refuses input over 64 KiB', async () => {
    await expect(readInput(Readable.from([Buffer.alloc(64 * 1024 + 1, 0x61)]))).rejects.toThrow(/larger than/);
  });
});
