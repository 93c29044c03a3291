/**
 * Webhooks end to end (issue 14): the built CLI rotates against the sandbox and announces
 * each outcome to a real `node:http` receiver on loopback, which checks the Standard
 * Webhooks signature over the raw body and the CloudEvents 1.0 attributes. Every body and
 * header the receiver got goes through the leak canary with the CLI's own outputs.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

const WEBHOOK_SECRET = 'e2e-webhook-signing-secret-5f1c7a9e';
const ENV = { WEBHOOK_SECRET };

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
}

/** How the receiver answers a request: a status, or never. */
type Behaviour = number | 'hang';

/** A webhook receiver: answers by `script` (then 200), records every request. */
class Receiver {
  readonly received: Received[] = [];
  /** Every request of the file, for the leak canary (never cleared). */
  readonly all: Received[] = [];
  script: Behaviour[] = [];
  readonly #server: Server;
  readonly #hanging: ServerResponse[] = [];

  constructor() {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const got = { headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        this.received.push(got);
        this.all.push(got);
        const behaviour = this.script.shift() ?? 200;
        if (behaviour === 'hang') this.#hanging.push(response);
        else response.writeHead(behaviour).end();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/token-rotator`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** What a receiver must do: recompute HMAC-SHA256 over `id.timestamp.body` and compare in constant time. */
function signatureValid(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const signature = String(headers['webhook-signature'] ?? '');
  const expected = createHmac('sha256', secret)
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`)
    .digest();
  return signature.split(' ').some((entry) => {
    const [version, mac] = entry.split(',');
    const got = Buffer.from(mac ?? '', 'base64');
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

interface Event {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: string;
  data: Record<string, unknown>;
}

const events = (received: readonly Received[]) => received.map((r) => JSON.parse(r.body) as Event);

let scenario: Scenario;
const receiver = new Receiver();

beforeAll(async () => {
  const url = await receiver.listen();
  scenario = await startScenario({ workspace: { policy: { retries: 0, request_timeout_seconds: 2 } } });
  const config = parse(await readFile(scenario.configPath, 'utf8')) as Record<string, unknown>;
  config['webhooks'] = [{ url, secret: '${env:WEBHOOK_SECRET}', source: 'token-rotator/e2e' }];
  await writeFile(scenario.configPath, stringify(config), { mode: 0o600 });
  scenario.canary.addSecret(WEBHOOK_SECRET);
});
beforeEach(() => {
  receiver.received.length = 0;
  receiver.script = [];
});
afterAll(async () => {
  await receiver.close();
  await scenario?.close();
});

describe('webhooks (built CLI, sandbox, local receiver)', () => {
  it('announces each rotation as a signed CloudEvents 1.0 event carrying only non-secret facts', async () => {
    const run = await scenario.cli(['run'], { env: ENV });
    expect(run.code).toBe(0);
    // run waits for its deliveries before exiting: they all arrived.
    expect(receiver.received).toHaveLength(PROVIDERS.length);
    for (const { headers, body } of receiver.received) {
      expect(headers['content-type']).toBe('application/cloudevents+json');
      expect(signatureValid(WEBHOOK_SECRET, headers, body)).toBe(true);
      expect(signatureValid('not-the-secret', headers, body)).toBe(false);
      expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(headers['webhook-id']).toBe((JSON.parse(body) as Event).id);
    }
    const sent = events(receiver.received);
    expect(sent.map((e) => e.subject).sort()).toEqual([...PROVIDERS].sort());
    for (const event of sent) {
      expect(event).toEqual({
        specversion: '1.0',
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        source: 'token-rotator/e2e',
        type: 'io.token-rotator.rotated',
        subject: event.subject,
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        datacontenttype: 'application/json',
        // Exactly these keys: no token, no secret, no fingerprint.
        data: {
          provider: event.subject,
          status: 'rotated',
          generation: 1,
          expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          method: expect.any(String),
          reason: 'missing',
        },
      });
      const published = await scenario.publicRecord(event.subject);
      expect(event.data['expires_at']).toBe(published?.['expires_at']);
    }
    await scenario.harvestTokens();
  });

  it('announces a failure, then the recovery that follows it', async () => {
    scenario.sandbox.injectFault({ type: 'status', status: 500, target: 'oauth2' });
    const failed = await scenario.cli(['run', '--force', '--provider', 'generic'], { env: ENV });
    expect(failed.code).toBe(1);
    expect(events(receiver.received)).toEqual([
      expect.objectContaining({
        type: 'io.token-rotator.failed',
        subject: 'generic',
        data: {
          provider: 'generic',
          status: 'failed',
          error: { class: 'retryable', code: expect.any(String), message: expect.stringMatching(/HTTP 500/) },
          // The token still published, which consumers keep using.
          generation: 1,
          expires_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          method: expect.any(String),
          reason: 'forced',
        },
      }),
    ]);

    receiver.received.length = 0;
    const recovered = await scenario.cli(['run', '--force', '--provider', 'generic'], { env: ENV });
    expect(recovered.code).toBe(0);
    expect(events(receiver.received).map((e) => [e.type, e.subject, e.data['generation']])).toEqual([
      ['io.token-rotator.rotated', 'generic', 2],
      ['io.token-rotator.recovered', 'generic', 2],
    ]);
    for (const { headers, body } of receiver.received) expect(signatureValid(WEBHOOK_SECRET, headers, body)).toBe(true);
    await scenario.harvestTokens();
  });

  it('retries a receiver that fails twice with back-off, and delivers the same event the third time', async () => {
    receiver.script = [503, 500];
    const run = await scenario.cli(['run', '--force', '--provider', 'klikoo'], { env: ENV });
    expect(run.code).toBe(0);
    expect(receiver.received).toHaveLength(3);
    const ids = new Set(receiver.received.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    for (const { headers, body } of receiver.received) expect(signatureValid(WEBHOOK_SECRET, headers, body)).toBe(true);
    const [first, second, third] = receiver.received.map((r) => r.at);
    // Back-off: at least half of 1 s, then half of 4 s, between the attempts.
    expect(second! - first!).toBeGreaterThanOrEqual(450);
    expect(third! - second!).toBeGreaterThanOrEqual(1900);
    expect(run.stderr).not.toMatch(/webhook not delivered/);
    await scenario.harvestTokens();
  });

  it('never lets a receiver that does not answer delay the pass, and bounds how long run waits for it', async () => {
    receiver.script = ['hang', 'hang', 'hang', 'hang'];
    const started = Date.now();
    const run = await scenario.cli(['run', '--force', '--json', '--provider', 'keliweb-api'], {
      env: ENV,
      timeoutMs: 40_000,
    });
    const elapsed = Date.now() - started;
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as { duration_ms: number; outcomes: { status: string }[] };
    expect(summary.outcomes.map((o) => o.status)).toEqual(['rotated']);
    // The pass is not held by the receiver (its request timeout is 5 s)…
    expect(summary.duration_ms).toBeLessThan(3000);
    // …and run gives up on the delivery after its 10 s bound, with a warning naming no secret.
    expect(elapsed).toBeLessThan(20_000);
    expect(receiver.received.length).toBeGreaterThanOrEqual(1);
    expect(run.stderr).toMatch(/webhook not delivered/);
    await scenario.harvestTokens();
  });

  it('never put a credential or token in any output, webhook bodies and headers included', async () => {
    await scenario.harvestTokens();
    expect(receiver.all.length).toBeGreaterThanOrEqual(PROVIDERS.length + 3);
    for (const { headers, body } of receiver.all) scenario.canary.outputs.push(JSON.stringify(headers), body);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
