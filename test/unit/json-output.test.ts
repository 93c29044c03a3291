import { describe, expect, it } from 'vitest';
import type { Heartbeat } from '../../src/engine/records.js';
import { ConfigError, ErrorCodes, RotatorError, StoreError } from '../../src/errors.js';
import type { ProviderStatus } from '../../src/rotator.js';
import {
  invalidOutput,
  jsonLine,
  OUTPUT_SCHEMA,
  passOutput,
  providerStatusOutput,
  statusOutput,
  statusProblems,
  validOutput,
} from '../../src/runtimes/json-output.js';
import { documentationBlocks } from '../docs/markdown.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const GAP = 300;

const fresh: ProviderStatus = {
  provider: 'keliweb',
  kind: 'keliweb',
  expiresAt: '2026-03-01T12:30:00.000Z',
  secondsToExpiry: 1800,
  generation: 7,
  published: 7,
  lastMethod: 'refresh',
  lastSuccessAt: '2026-03-01T11:30:00.000Z',
  hasRefreshToken: true,
};
const failing: ProviderStatus = {
  provider: 'klikoo',
  kind: 'klikoo',
  expiresAt: '2026-03-01T11:59:00.000Z',
  secondsToExpiry: -60,
  generation: 3,
  published: 2,
  lastMethod: 'obtain',
  lastError: 'permanent: the token endpoint answered HTTP 401',
  lastFailure: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'the token endpoint answered HTTP 401' },
  nextAttemptAt: '2026-03-01T12:05:00.000Z',
  leaseHolder: 'host:42:0badf00d',
  hasRefreshToken: false,
};
const empty: ProviderStatus = { provider: 'generic', kind: 'oauth2', hasRefreshToken: false };
const recent: Heartbeat = {
  last_pass_at: '2026-03-01T11:58:00.000Z',
  last_pass_ok: false,
  holder: 'host:42:0badf00d',
  duration_ms: 340,
};

/** Every key of `value`, at any depth. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)]);
}

describe('providerStatusOutput', () => {
  it('renames every field to snake_case and keeps the stored failure as {class, code, message}', () => {
    expect(providerStatusOutput(failing)).toEqual({
      provider: 'klikoo',
      kind: 'klikoo',
      expires_at: '2026-03-01T11:59:00.000Z',
      seconds_to_expiry: -60,
      generation: 3,
      published: 2,
      last_method: 'obtain',
      last_success_at: null,
      last_error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'the token endpoint answered HTTP 401' },
      next_attempt_at: '2026-03-01T12:05:00.000Z',
      lease_holder: 'host:42:0badf00d',
      has_refresh_token: false,
    });
  });

  it('gives a provider never rotated every key, null where there is nothing to say', () => {
    const row = providerStatusOutput(empty);

    expect(Object.keys(row)).toEqual(Object.keys(providerStatusOutput(failing)));
    expect(row).toMatchObject({ expires_at: null, seconds_to_expiry: null, generation: null, last_error: null });
  });
});

describe('statusProblems', () => {
  it('names each provider without a valid token, expired or never got, as TOKEN_UNAVAILABLE', () => {
    expect(statusProblems([fresh, failing, empty], recent, GAP, NOW)).toEqual([
      { class: 'token', code: ErrorCodes.TOKEN_UNAVAILABLE, message: 'provider klikoo has no valid token' },
      { class: 'token', code: ErrorCodes.TOKEN_UNAVAILABLE, message: 'provider generic has no valid token' },
    ]);
  });

  it('adds PASS_OVERDUE when no pass was ever recorded', () => {
    expect(statusProblems([fresh], undefined, GAP, NOW)).toEqual([
      {
        class: 'scheduler',
        code: ErrorCodes.PASS_OVERDUE,
        message: expect.stringMatching(/^no pass has been recorded/),
      },
    ]);
  });

  it('adds PASS_OVERDUE when the last pass is older than twice the gap, and not at exactly twice', () => {
    const at = (ageSeconds: number): Heartbeat => ({
      ...recent,
      last_pass_at: new Date(NOW - ageSeconds * 1000).toISOString(),
    });

    expect(statusProblems([fresh], at(2 * GAP), GAP, NOW)).toEqual([]);
    expect(statusProblems([fresh], at(2 * GAP + 1), GAP, NOW)).toEqual([
      { class: 'scheduler', code: ErrorCodes.PASS_OVERDUE, message: expect.stringContaining('601 s ago') },
    ]);
  });
});

describe('statusOutput', () => {
  it('is one object: schema, the rows, the last pass, the problems and ok', () => {
    const output = statusOutput([fresh, failing], recent, GAP, NOW);

    expect(output).toEqual({
      schema: OUTPUT_SCHEMA,
      providers: [providerStatusOutput(fresh), providerStatusOutput(failing)],
      last_pass: {
        finished_at: '2026-03-01T11:58:00.000Z',
        age_seconds: 120,
        ok: false,
        duration_ms: 340,
        holder: 'host:42:0badf00d',
      },
      problems: statusProblems([fresh, failing], recent, GAP, NOW),
      ok: false,
    });
    expect(output.schema).toBe(1);
  });

  it('is ok with no problems when every token is valid and a pass is recent', () => {
    expect(statusOutput([fresh], recent, GAP, NOW)).toMatchObject({ problems: [], ok: true });
  });

  it('has last_pass null when no pass was recorded', () => {
    expect(statusOutput([fresh], undefined, GAP, NOW)).toMatchObject({ last_pass: null, ok: false });
  });

  it('uses snake_case keys only', () => {
    const keys = keysOf(statusOutput([fresh, failing, empty], recent, GAP, NOW));

    expect(keys.filter((key) => !/^[a-z]+(_[a-z]+)*$/.test(key))).toEqual([]);
  });
});

describe('validOutput', () => {
  it('states the facts of a valid config in snake_case', () => {
    expect(validOutput({ config: 'token-rotator.yaml', providers: 3, store: 'vault', gapSeconds: 300 })).toEqual({
      schema: 1,
      valid: true,
      config: 'token-rotator.yaml',
      providers: 3,
      store: 'vault',
      gap_seconds: 300,
    });
  });
});

describe('invalidOutput', () => {
  it('gives one config problem per issue, with its field and the error code', () => {
    const error = new ConfigError(
      [
        { path: 'providers.klikoo.private_key', message: 'required' },
        { path: '', message: 'x.yaml: not valid YAML or JSON' },
      ],
      { code: ErrorCodes.CONFIG_REFERENCE },
    );

    expect(invalidOutput(error)).toEqual({
      schema: 1,
      valid: false,
      problems: [
        { class: 'config', code: 'CONFIG_REFERENCE', message: 'required', path: 'providers.klikoo.private_key' },
        { class: 'config', code: 'CONFIG_REFERENCE', message: 'x.yaml: not valid YAML or JSON', path: '' },
      ],
    });
  });

  it('gives a store error as one store problem with its own code', () => {
    const error = new StoreError('could not reach Vault at http://127.0.0.1:1 (ECONNREFUSED)');

    expect(invalidOutput(error)).toEqual({
      schema: 1,
      valid: false,
      problems: [
        {
          class: 'store',
          code: 'STORE_UNAVAILABLE',
          message: 'could not reach Vault at http://127.0.0.1:1 (ECONNREFUSED)',
          path: 'store',
        },
      ],
    });
    expect(invalidOutput(new RotatorError(ErrorCodes.STORE_RECORD_INVALID, 'bad record')).problems[0]?.code).toBe(
      'STORE_RECORD_INVALID',
    );
  });

  it('gives a foreign error as STORE_UNAVAILABLE, named by its type', () => {
    expect(invalidOutput(new TypeError('fetch failed')).problems).toEqual([
      { class: 'store', code: 'STORE_UNAVAILABLE', message: 'TypeError: fetch failed', path: 'store' },
    ]);
  });
});

describe('jsonLine', () => {
  it('prints indented JSON ending with a newline', () => {
    expect(jsonLine({ schema: 1 })).toBe('{\n  "schema": 1\n}\n');
  });
});

describe('the README examples of the JSON outputs', () => {
  const examples = documentationBlocks()
    .filter((block) => block.file === 'README.md' && block.lang === 'json')
    .map((block) => JSON.parse(block.text) as Record<string, unknown>)
    .filter((value) => typeof value['schema'] === 'number');
  const shapes = {
    status: statusOutput([fresh, failing], recent, GAP, NOW),
    valid: validOutput({ config: 'token-rotator.yaml', providers: 3, store: 'vault', gapSeconds: 300 }),
    invalid: invalidOutput(new ConfigError([{ path: 'providers', message: 'required' }])),
    pass: passOutput({
      startedAt: new Date(NOW).toISOString(),
      durationMs: 412,
      ok: false,
      counts: { fresh: 0, rotated: 1, repaired: 0, 'would-rotate': 0, busy: 0, backoff: 0, paced: 0, failed: 1 },
      outcomes: [
        { provider: 'keliweb', status: 'rotated', ok: true, method: 'refresh', reason: 'due', durationMs: 180 },
        {
          provider: 'klikoo',
          status: 'failed',
          ok: false,
          error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'the token endpoint answered HTTP 401' },
          durationMs: 226,
        },
      ],
    }),
  };
  const shapeOf = (example: Record<string, unknown>) =>
    'last_pass' in example
      ? shapes.status
      : 'outcomes' in example
        ? shapes.pass
        : example['valid'] === true
          ? shapes.valid
          : shapes.invalid;
  const sameKeys = (example: unknown, real: unknown) => expect(new Set(keysOf(example))).toEqual(new Set(keysOf(real)));

  it('show run --json, status --json, validate --json valid and invalid', () => {
    expect(examples.filter((example) => 'outcomes' in example)).toHaveLength(1);
    expect(examples.filter((example) => 'last_pass' in example)).toHaveLength(1);
    expect(examples.filter((example) => example['valid'] === true)).toHaveLength(1);
    expect(examples.filter((example) => example['valid'] === false)).toHaveLength(1);
  });

  it('use exactly the keys the CLI prints', () => {
    for (const example of examples) {
      const real = shapeOf(example);
      sameKeys(example, real);
      expect(Object.keys(example)).toEqual(Object.keys(real));
    }
  });
});
