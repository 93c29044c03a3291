import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { readHeartbeat, recordHeartbeat } from '../../src/engine/heartbeat.js';
import { HEARTBEAT_PATH, type Heartbeat, recordPaths } from '../../src/engine/records.js';
import { describeLastPass, lastPassProblem } from '../../src/observability/heartbeat.js';
import { createLogger, silentLogger } from '../../src/observability/logger.js';
import { createRotator } from '../../src/rotator.js';
import { MemoryStore } from '../helpers/memory-store.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const beat = (at: number, ok = true): Heartbeat => ({
  last_pass_at: iso(at),
  last_pass_ok: ok,
  holder: 'host:1:abcd',
  duration_ms: 42,
});

function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

/** A store whose next writes to the heartbeat lose a race: another runner writes first. */
class RacedStore extends MemoryStore {
  races = 0;
  override async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    if (path === HEARTBEAT_PATH && this.races > 0) {
      this.races -= 1;
      const current = await this.read(path);
      await super.write(path, { ...(current?.value ?? beat(T0 - 1)) }, current?.version ?? null);
    }
    return super.write(path, value, expectedVersion);
  }
}

describe('lastPassProblem (the dead-man verdict)', () => {
  it('reports a store where no pass was ever recorded', () => {
    expect(lastPassProblem(undefined, 300, T0)).toMatch(/^no pass has been recorded/);
  });

  it('accepts a last pass up to twice the schedule gap old, and reports an older one with its age', () => {
    expect(lastPassProblem(T0 - 600_000, 300, T0)).toBeUndefined();
    expect(lastPassProblem(T0 - 601_000, 300, T0)).toBe(
      'the last pass finished 601 s ago, more than 600 s (twice the schedule gap of 300 s): is the scheduler running?',
    );
  });

  it('describes the last pass in one line, or says none was recorded', () => {
    expect(describeLastPass(beat(T0 - 12_000, false), T0)).toBe(
      `last pass: ${iso(T0 - 12_000)} (12 s ago), a provider failed, 42 ms, by host:1:abcd`,
    );
    expect(describeLastPass(undefined, T0)).toBe('last pass: none recorded');
  });
});

describe('recordHeartbeat', () => {
  it('creates the record, then updates it by compare-and-set, one write each time', async () => {
    const store = new MemoryStore();
    expect(await recordHeartbeat(store, beat(T0), silentLogger())).toBe(true);
    expect(await recordHeartbeat(store, beat(T0 + 5000), silentLogger())).toBe(true);

    expect(store.writes).toBe(2);
    expect((await readHeartbeat(store)).heartbeat).toEqual(beat(T0 + 5000));
    expect((await readHeartbeat(store)).version).toBe('2');
  });

  it('retries a lost compare-and-set and keeps our later pass', async () => {
    const store = new RacedStore();
    store.races = 2;
    expect(await recordHeartbeat(store, beat(T0), silentLogger())).toBe(true);
    expect((await readHeartbeat(store)).heartbeat).toEqual(beat(T0));
  });

  it('gives up quietly after three lost races, without throwing', async () => {
    const store = new RacedStore();
    store.races = 3;
    const { logger, lines } = capturingLogger();
    expect(await recordHeartbeat(store, beat(T0), logger)).toBe(false);
    expect((await readHeartbeat(store)).heartbeat).toEqual(beat(T0 - 1));
    expect(lines.join('')).toMatch(/heartbeat not recorded: other runners kept writing it/);
  });

  it('leaves a later pass by another runner in place', async () => {
    const store = new MemoryStore();
    await recordHeartbeat(store, beat(T0 + 10_000), silentLogger());
    expect(await recordHeartbeat(store, beat(T0), silentLogger())).toBe(false);
    expect((await readHeartbeat(store)).heartbeat).toEqual(beat(T0 + 10_000));
  });

  it('logs a store error instead of throwing it', async () => {
    const store = new MemoryStore();
    store.failWrites.set(HEARTBEAT_PATH, 1);
    const { logger, lines } = capturingLogger();
    expect(await recordHeartbeat(store, beat(T0), logger)).toBe(false);
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; level: number; err?: { code?: string } });
    expect(logged).toContainEqual(
      expect.objectContaining({
        msg: 'could not record the heartbeat',
        level: 40,
        err: expect.objectContaining({ code: 'STORE_UNAVAILABLE' }),
      }),
    );
  });

  it('reads a record of another layout as no heartbeat', async () => {
    const store = new MemoryStore();
    await store.write(HEARTBEAT_PATH, { last_pass_at: 'yesterday' }, null);
    expect(await readHeartbeat(store)).toEqual({ heartbeat: undefined, version: '1', invalid: true });
  });
});

describe('Rotator.pass and the heartbeat', () => {
  // One provider whose token is fresh in the store, so a pass calls nothing.
  async function freshRotator(store: MemoryStore, now: () => number) {
    const token = {
      access_token: randomBytes(16).toString('hex'),
      token_type: 'Bearer',
      issued_at: iso(T0),
      expires_at: iso(T0 + 3_600_000),
    };
    await store.write(
      recordPaths.state('billing'),
      { schema: 1, provider: 'billing', generation: 1, token, method: 'obtain', failures: { consecutive: 0 } },
      null,
    );
    await store.write(recordPaths.public('billing'), { provider: 'billing', ...token, generation: 1 }, null);
    store.writes = 0;
    const config = await parseConfig(
      `
policy: { schedule: "*/5 * * * *" }
providers:
  billing:
    kind: oauth2
    token_url: https://auth.example.invalid/token
    grant: client_credentials
    client_id: billing
    client_secret: \${env:BILLING_SECRET}
    default_lifetime_seconds: 3600
`,
      'inline.yaml',
      { BILLING_SECRET: randomBytes(12).toString('hex') },
    );
    return await createRotator(config, { store, now, holder: 'unit:1:beef' });
  }

  it('records every pass in exactly one store write, readable through heartbeat()', async () => {
    const store = new MemoryStore();
    const clock = { now: T0 + 1000 };
    const rotator = await freshRotator(store, () => clock.now);

    const summary = await rotator.pass();

    expect(summary.outcomes.map((o) => o.status)).toEqual(['fresh']);
    expect(store.writes).toBe(1);
    expect(await rotator.heartbeat()).toEqual({
      last_pass_at: iso(T0 + 1000),
      last_pass_ok: true,
      holder: 'unit:1:beef',
      duration_ms: 0,
    });
    clock.now = T0 + 2000;
    await rotator.pass();
    expect(store.writes).toBe(2);
    expect((await rotator.heartbeat())?.last_pass_at).toBe(iso(T0 + 2000));
  });

  it('records nothing on a dry run', async () => {
    const store = new MemoryStore();
    const rotator = await freshRotator(store, () => T0 + 1000);

    await rotator.pass({ dryRun: true });

    expect(store.writes).toBe(0);
    expect(await rotator.heartbeat()).toBeUndefined();
  });

  it('never fails a pass because the heartbeat could not be written', async () => {
    const store = new MemoryStore();
    const rotator = await freshRotator(store, () => T0 + 1000);
    store.failWrites.set(HEARTBEAT_PATH, 1);

    const summary = await rotator.pass();

    expect(summary.ok).toBe(true);
    expect(await rotator.heartbeat()).toBeUndefined();
  });
});
