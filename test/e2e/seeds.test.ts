import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

let scenario: Scenario;
beforeAll(async () => {
  scenario = await startScenario();
});
afterAll(async () => {
  await scenario?.close();
});

interface Summary {
  ok: boolean;
  outcomes: Array<{ provider: string; status: string; method?: string; reason?: string; error?: { class: string } }>;
}

describe('token-rotator CLI against the sandbox (seeds 000-004)', () => {
  it('validates the generated config', async () => {
    const result = await scenario.cli(['validate']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/valid \(4 providers, store file, passes at most 300 s apart\)/);
  });

  it('obtains a token for every seed protocol on the first run and publishes it', async () => {
    const result = await scenario.cli(['run', '--json']);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.outcomes.map((o) => [o.provider, o.status, o.method, o.reason])).toEqual(
      PROVIDERS.map((p) => [p, 'rotated', 'obtain', 'missing']),
    );
    for (const provider of PROVIDERS) {
      const record = await scenario.publicRecord(provider);
      expect(record).toMatchObject({ provider, token_type: 'Bearer', generation: 1 });
      expect(scenario.sandbox.isValid(record!['access_token'] as string)).toBe(true);
    }
    await scenario.harvestTokens();
  });

  it('spoke each protocol with the body encoding its seed uses', () => {
    const grants = scenario.sandbox.requests.filter((r) => r.status === 200);
    const byTarget = (target: string) =>
      grants.filter((r) => r.target === target).map((r) => [r.contentType?.split(';')[0], r.grantType]);
    // 000: form-urlencoded password grant; 002: multipart password grant.
    expect(byTarget('keliweb-api-v2')).toEqual([['application/x-www-form-urlencoded', 'password']]);
    expect(byTarget('keliweb-fatture')).toEqual([['multipart/form-data', 'password']]);
    // 003: signed JSON (the sandbox verified the RSA signature with the public key); 004: JSON.
    expect(byTarget('klikoo')).toEqual([['application/json', 'client_credentials']]);
    expect(byTarget('oauth2')).toEqual([['application/json', 'client_credentials']]);
  });

  it('leaves fresh tokens alone on the next run', async () => {
    const before = scenario.sandbox.stats().issued;
    const result = await scenario.cli(['run', '--json']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as Summary).outcomes.map((o) => o.status)).toEqual([
      'fresh',
      'fresh',
      'fresh',
      'fresh',
    ]);
    expect(scenario.sandbox.stats().issued).toBe(before);
  });

  it('refreshes Keliweb API v2 (seed 001), revoking the old access token, and re-authenticates Fatture for an overlap', async () => {
    const oldApi = (await scenario.publicRecord('keliweb-api'))!['access_token'] as string;
    const oldFatture = (await scenario.publicRecord('keliweb-fatture'))!['access_token'] as string;
    const refreshedBefore = scenario.sandbox.stats('keliweb-api-v2').refreshed;

    const result = await scenario.cli([
      'run',
      '--force',
      '--json',
      '--provider',
      'keliweb-api',
      '--provider',
      'keliweb-fatture',
    ]);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as Summary;
    expect(summary.outcomes.map((o) => [o.provider, o.status, o.method])).toEqual([
      ['keliweb-api', 'rotated', 'refresh'],
      ['keliweb-fatture', 'rotated', 'obtain'],
    ]);
    expect(scenario.sandbox.stats('keliweb-api-v2').refreshed).toBe(refreshedBefore + 1);
    const newApi = (await scenario.publicRecord('keliweb-api'))!;
    expect(newApi['generation']).toBe(2);
    expect(scenario.sandbox.isValid(newApi['access_token'] as string)).toBe(true);
    expect(scenario.sandbox.isValid(oldApi)).toBe(false);
    // A new password grant leaves the previous token valid until it expires.
    expect(scenario.sandbox.isValid(oldFatture)).toBe(true);
    expect(scenario.sandbox.isValid((await scenario.publicRecord('keliweb-fatture'))!['access_token'] as string)).toBe(
      true,
    );
    const refreshRequest = scenario.sandbox.requests.filter(
      (r) => r.target === 'keliweb-api-v2' && r.grantType === 'refresh_token',
    );
    expect(refreshRequest.map((r) => [r.contentType?.split(';')[0], r.status])).toEqual([
      ['application/x-www-form-urlencoded', 200],
    ]);
    await scenario.harvestTokens();
  });

  it('keeps the refresh token out of the public record', async () => {
    const record = (await scenario.publicRecord('keliweb-api'))!;
    expect(Object.keys(record).sort()).toEqual([
      'access_token',
      'expires_at',
      'generation',
      'issued_at',
      'provider',
      'token_type',
    ]);
    expect((await scenario.stateRecord('keliweb-api'))!['refresh_token']).toMatch(/^def50200/);
  });

  it('prints the current access token with get', async () => {
    const result = await scenario.cli(['get', 'klikoo']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${(await scenario.publicRecord('klikoo'))!['access_token'] as string}\n`);
  });

  it('fails get for an unknown provider with exit 1', async () => {
    const result = await scenario.cli(['get', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no token stored for provider nope/);
  });

  it('shows every provider in status, as a table and as JSON', async () => {
    const table = await scenario.cli(['status']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^PROVIDER\s+KIND\s+EXPIRES IN\s+GEN\s+LAST METHOD/);
    for (const provider of PROVIDERS) expect(table.stdout).toContain(provider);
    const json = JSON.parse((await scenario.cli(['status', '--json'])).stdout) as {
      providers: Array<Record<string, unknown>>;
    };
    expect(json.providers.find((row) => row['provider'] === 'keliweb-api')).toMatchObject({
      kind: 'keliweb',
      last_method: 'refresh',
      generation: 2,
      has_refresh_token: true,
    });
    expect(json.providers.find((row) => row['provider'] === 'klikoo')).toMatchObject({
      kind: 'klikoo',
      last_method: 'obtain',
      has_refresh_token: false,
    });
  });

  it('calls nothing and writes nothing on --dry-run --force', async () => {
    const before = scenario.sandbox.stats().issued;
    const result = await scenario.cli(['run', '--dry-run', '--force', '--json']);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as Summary).outcomes.map((o) => o.status)).toEqual(Array(4).fill('would-rotate'));
    expect(scenario.sandbox.stats().issued).toBe(before);
  });

  it('prints the JSON Schema of the config', async () => {
    const result = await scenario.cli(['schema']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ type: 'object', properties: { providers: { type: 'object' } } });
  });

  it('answers --help for every command and exits 2 on an unknown one', async () => {
    for (const command of ['run', 'daemon', 'status', 'validate', 'get', 'schema', 'sandbox', 'demo']) {
      const result = await scenario.cli([command, '--help']);
      expect(result.code, command).toBe(0);
      expect(result.stdout, command).toMatch(new RegExp(`^Usage: token-rotator ${command}`));
    }
    const unknown = await scenario.cli(['rotate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "rotate"/);
    const badFlag = await scenario.cli(['run', '--frobnicate']);
    expect(badFlag.code).toBe(2);
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.secrets.size).toBeGreaterThan(10);
    expect(scenario.canary.outputs.join('').length).toBeGreaterThan(1000);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
