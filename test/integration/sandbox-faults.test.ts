import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DemoSecrets, Fault, Sandbox, SandboxClient, SandboxTarget } from '../../src/sandbox/index.js';
import { createDemoClients, startSandbox } from '../../src/sandbox/index.js';
import type { Answer } from '../helpers/sandbox-http.js';
import { call, fields, form, introspect, json, klikooRequest } from '../helpers/sandbox-http.js';

const ROTATING: SandboxClient = {
  target: 'oauth2',
  clientId: 'rotating-app',
  clientSecret: 'rotating-secret',
  issueRefreshToken: true,
};

let clients: SandboxClient[];
let secrets: DemoSecrets;
let sandbox: Sandbox;

beforeAll(async () => {
  ({ clients, secrets } = await createDemoClients());
});

beforeEach(async () => {
  sandbox = await startSandbox({ clients: [...clients, ROTATING] });
});

afterEach(async () => {
  await sandbox.close();
});

/** A valid token request for each protocol. */
function validRequest(target: SandboxTarget): RequestInit {
  switch (target) {
    case 'keliweb-api-v2':
    case 'keliweb-fatture': {
      const s = secrets[target];
      return form({
        grant_type: 'password',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        username: s.username,
        password: s.password,
      });
    }
    case 'klikoo':
      return klikooRequest(secrets.klikoo);
    case 'oauth2':
      return json({
        grant_type: 'client_credentials',
        client_id: secrets.oauth2.clientId,
        client_secret: secrets.oauth2.clientSecret,
      });
  }
}

function token(target: SandboxTarget): Promise<Answer> {
  return call(sandbox.tokenUrl(target), validRequest(target));
}

function rotatingGrant(extra: Record<string, string>): RequestInit {
  return form({ client_id: ROTATING.clientId, client_secret: ROTATING.clientSecret, ...extra });
}

async function obtainRotating(): Promise<{ access: string; refresh: string }> {
  const body = fields(await call(sandbox.tokenUrl('oauth2'), rotatingGrant({ grant_type: 'client_credentials' })));
  return { access: String(body['access_token']), refresh: String(body['refresh_token']) };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('sandbox fault injection', () => {
  describe('latency', () => {
    it("'before' waits first, then performs the grant", async () => {
      sandbox.injectFault({ type: 'latency', ms: 300 });
      const started = performance.now();

      const pending = token('oauth2');
      await delay(150);
      const issuedWhileWaiting = sandbox.stats().issued;
      const answer = await pending;

      expect(issuedWhileWaiting).toBe(0);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(answer.status).toBe(200);
      expect(sandbox.isValid(String(fields(answer)['access_token']))).toBe(true);
      expect(sandbox.stats()).toMatchObject({ issued: 1, faultsInjected: 1 });
    });

    it("'after' performs the grant (refresh token spent) before the delayed answer", async () => {
      const first = await obtainRotating();
      sandbox.injectFault({ type: 'latency', ms: 300, phase: 'after', target: 'oauth2' });
      const started = performance.now();

      const pending = call(
        sandbox.tokenUrl('oauth2'),
        rotatingGrant({ grant_type: 'refresh_token', refresh_token: first.refresh }),
      );
      await delay(150);
      const refreshedWhileWaiting = sandbox.stats('oauth2').refreshed;
      const oldAccessWhileWaiting = sandbox.isValid(first.access);
      const answer = await pending;

      expect(refreshedWhileWaiting).toBe(1);
      expect(oldAccessWhileWaiting).toBe(false);
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(answer.status).toBe(200);
      expect(sandbox.isValid(String(fields(answer)['access_token']))).toBe(true);
    });
  });

  describe('status', () => {
    it('answers 503 with a small HTML page, performs no grant, then serves the next request normally', async () => {
      sandbox.injectFault({ type: 'status', status: 503 });

      const faulted = await token('keliweb-api-v2');
      const next = await token('keliweb-api-v2');

      expect(faulted.status).toBe(503);
      expect(faulted.headers.get('content-type')).toMatch(/^text\/html/);
      expect(faulted.text).toContain('503 Service Unavailable');
      expect(next.status).toBe(200);
      expect(sandbox.stats('keliweb-api-v2')).toMatchObject({ issued: 1, obtained: 1, faultsInjected: 1, rejected: 0 });
    });

    it("answers 500 in the protocol's own error format (Klikoo wrapper)", async () => {
      sandbox.injectFault({ type: 'status', status: 500, target: 'klikoo' });

      const answer = await token('klikoo');

      expect(answer.status).toBe(500);
      expect(fields(answer)).toEqual({ response_code: '500012000', response_message: 'Internal Server Error' });
      expect(sandbox.stats('klikoo').issued).toBe(0);
    });

    it("answers 500 in the protocol's own error format (OAuth 2.0)", async () => {
      sandbox.injectFault({ type: 'status', status: 500 });

      const answer = await token('oauth2');

      expect(answer.status).toBe(500);
      expect(fields(answer)).toEqual({ error: 'server_error', error_description: 'Internal Server Error' });
    });
  });

  describe('matching and order', () => {
    it('consumes a fault once per matching request until its count is used', async () => {
      sandbox.injectFault({ type: 'status', status: 502, count: 2 });

      const statuses = [(await token('oauth2')).status, (await token('oauth2')).status, (await token('oauth2')).status];

      expect(statuses).toEqual([502, 502, 200]);
      expect(sandbox.stats()).toMatchObject({ faultsInjected: 2, issued: 1 });
    });

    it('applies a targeted fault only to its target', async () => {
      sandbox.injectFault({ type: 'status', status: 502, target: 'klikoo' });

      const other = await token('oauth2');
      const targeted = await token('klikoo');

      expect(other.status).toBe(200);
      expect(targeted.status).toBe(502);
    });

    it('applies faults in the order they were injected', async () => {
      sandbox.injectFault({ type: 'status', status: 504 });
      sandbox.injectFault({ type: 'rate_limit', retryAfterSeconds: 1 });

      const statuses = [(await token('oauth2')).status, (await token('oauth2')).status, (await token('oauth2')).status];

      expect(statuses).toEqual([504, 429, 200]);
    });

    it('drops every queued fault on clearFaults', async () => {
      sandbox.injectFault({ type: 'status', status: 503, count: 5 });

      sandbox.clearFaults();

      expect((await token('oauth2')).status).toBe(200);
    });

    it('leaves control endpoints alone', async () => {
      sandbox.injectFault({ type: 'status', status: 503 });

      const stats = await call(`${sandbox.url}/_sandbox/stats`, { method: 'GET' });
      const faulted = await token('oauth2');

      expect(stats.status).toBe(200);
      expect(faulted.status).toBe(503);
    });

    it.each([
      [{ type: 'status', status: 200 }, /fault.status/],
      [{ type: 'status', status: 503, count: 0 }, /fault.count/],
      [{ type: 'latency', ms: -1 }, /fault.ms/],
      [{ type: 'malformed', variant: 'truncated' }, /fault.variant/],
      [{ type: 'drop', phase: 'during' }, /fault.phase/],
      [{ type: 'status', status: 503, target: 'stripe' }, /fault.target/],
      [{ type: 'teleport' }, /fault.type/],
    ] as const)('refuses the malformed fault %j with a TypeError', (fault, message) => {
      expect(() => sandbox.injectFault(fault as unknown as Fault)).toThrow(TypeError);
      expect(() => sandbox.injectFault(fault as unknown as Fault)).toThrow(message);
    });
  });

  it('answers a rate limit with 429 and Retry-After, performing no grant', async () => {
    sandbox.injectFault({ type: 'rate_limit', retryAfterSeconds: 7, target: 'keliweb-fatture' });

    const answer = await token('keliweb-fatture');

    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(fields(answer)['error']).toBe('temporarily_unavailable');
    expect(sandbox.stats('keliweb-fatture')).toMatchObject({ issued: 0, faultsInjected: 1, rejected: 0 });
  });

  describe('malformed 200 answers', () => {
    const cases = [
      ['keliweb-api-v2', (body: Record<string, unknown>) => body],
      ['klikoo', (body: Record<string, unknown>) => body['data'] as Record<string, unknown>],
      ['oauth2', (body: Record<string, unknown>) => body],
    ] as const;

    it.each(cases)('%s not_json: a 200 whose body is not JSON', async (target) => {
      sandbox.injectFault({ type: 'malformed', variant: 'not_json' });

      const answer = await token(target);

      expect(answer.status).toBe(200);
      expect(answer.text.length).toBeGreaterThan(0);
      expect(answer.json).toBeUndefined();
      expect(sandbox.stats().issued).toBe(0);
    });

    it.each(cases)('%s missing_access_token: a 200 without access_token', async (target, tokenFields) => {
      sandbox.injectFault({ type: 'malformed', variant: 'missing_access_token' });

      const answer = await token(target);

      expect(answer.status).toBe(200);
      const body = tokenFields(fields(answer));
      expect(body['token_type']).toBe('Bearer');
      expect(body).not.toHaveProperty('access_token');
      expect(sandbox.stats().issued).toBe(0);
    });

    it.each(cases)(
      '%s wrong_types: a 200 whose access_token is a number and expires_in a string',
      async (target, tokenFields) => {
        sandbox.injectFault({ type: 'malformed', variant: 'wrong_types' });

        const answer = await token(target);

        expect(answer.status).toBe(200);
        const body = tokenFields(fields(answer));
        expect(typeof body['access_token']).toBe('number');
        expect(typeof body['expires_in']).toBe('string');
        expect(sandbox.stats().issued).toBe(0);
      },
    );
  });

  describe('error_in_200', () => {
    it('Klikoo: a 200 with response_code 401012000 and no data', async () => {
      sandbox.injectFault({ type: 'error_in_200' });

      const answer = await token('klikoo');

      expect(answer.status).toBe(200);
      const body = fields(answer);
      expect(body['response_code']).toBe('401012000');
      expect(body).not.toHaveProperty('data');
      expect(sandbox.stats('klikoo').issued).toBe(0);
    });

    it.each(['keliweb-api-v2', 'oauth2'] as const)(
      '%s: a 200 with {"error":"invalid_request"} and no token',
      async (target) => {
        sandbox.injectFault({ type: 'error_in_200' });

        const answer = await token(target);

        expect(answer.status).toBe(200);
        const body = fields(answer);
        expect(body['error']).toBe('invalid_request');
        expect(body).not.toHaveProperty('access_token');
        expect(sandbox.stats(target).issued).toBe(0);
      },
    );
  });

  describe('drop', () => {
    it("'before' destroys the connection without an answer and performs no grant", async () => {
      sandbox.injectFault({ type: 'drop' });

      await expect(token('oauth2')).rejects.toThrow(TypeError);

      expect(sandbox.stats()).toMatchObject({ issued: 0, faultsInjected: 1 });
      expect(sandbox.requests.at(-1)).toMatchObject({ target: 'oauth2', fault: 'drop', status: null });
    });

    it("'after' on a refresh loses the answer but spends the refresh token", async () => {
      const first = await obtainRotating();
      sandbox.injectFault({ type: 'drop', phase: 'after' });

      await expect(
        call(sandbox.tokenUrl('oauth2'), rotatingGrant({ grant_type: 'refresh_token', refresh_token: first.refresh })),
      ).rejects.toThrow(TypeError);

      expect(sandbox.stats('oauth2')).toMatchObject({ refreshed: 1, issued: 2 });
      expect(sandbox.isValid(first.access)).toBe(false);
      expect(await introspect(sandbox, first.refresh)).toMatchObject({ active: false, token_kind: 'refresh' });
      const retry = await call(
        sandbox.tokenUrl('oauth2'),
        rotatingGrant({ grant_type: 'refresh_token', refresh_token: first.refresh }),
      );
      expect(retry.status).toBe(400);
      expect(fields(retry)['error']).toBe('invalid_grant');
      expect(sandbox.stats('oauth2').reuseDetected).toBe(1);
    });

    it("'after' on a Keliweb refresh leaves the refresh token spent too", async () => {
      const s = secrets['keliweb-api-v2'];
      const first = fields(await token('keliweb-api-v2'));
      sandbox.injectFault({ type: 'drop', phase: 'after', target: 'keliweb-api-v2' });
      const refresh = form({
        grant_type: 'refresh_token',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        refresh_token: String(first['refresh_token']),
      });

      await expect(call(sandbox.tokenUrl('keliweb-api-v2'), refresh)).rejects.toThrow(TypeError);
      const retry = await call(sandbox.tokenUrl('keliweb-api-v2'), refresh);

      expect(retry.status).toBe(400);
      expect(fields(retry)['error']).toBe('invalid_grant');
      expect(sandbox.stats('keliweb-api-v2')).toMatchObject({ refreshed: 1, reuseDetected: 1 });
    });
  });
});
