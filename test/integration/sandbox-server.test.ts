import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DemoSecrets, Sandbox, SandboxClient } from '../../src/sandbox/index.js';
import { createDemoClients, MAX_BODY_BYTES, startSandbox } from '../../src/sandbox/index.js';
import { call, fields, form, json, klikooRequest } from '../helpers/sandbox-http.js';

let clients: SandboxClient[];
let secrets: DemoSecrets;
let sandbox: Sandbox;

beforeAll(async () => {
  ({ clients, secrets } = await createDemoClients());
});

beforeEach(async () => {
  sandbox = await startSandbox({ clients });
});

afterEach(async () => {
  await sandbox.close();
});

function keliwebPassword(target: 'keliweb-api-v2' | 'keliweb-fatture', password?: string): RequestInit {
  const s = secrets[target];
  return form({
    grant_type: 'password',
    client_id: s.clientId,
    client_secret: s.clientSecret,
    username: s.username,
    password: password ?? s.password,
  });
}

function oauth2Credentials(): RequestInit {
  return json({
    grant_type: 'client_credentials',
    client_id: secrets.oauth2.clientId,
    client_secret: secrets.oauth2.clientSecret,
  });
}

describe('sandbox server', () => {
  it('listens on 127.0.0.1 and places each target under its own base URL', () => {
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.baseUrl('keliweb-api-v2')).toBe(`${sandbox.url}/keliweb/api-v2`);
    expect(sandbox.baseUrl('keliweb-fatture')).toBe(`${sandbox.url}/keliweb/fatture`);
    expect(sandbox.baseUrl('klikoo')).toBe(`${sandbox.url}/klikoo`);
    expect(sandbox.baseUrl('oauth2')).toBe(`${sandbox.url}/oauth2`);
    expect(sandbox.tokenUrl('keliweb-fatture')).toBe(`${sandbox.url}/keliweb/fatture/oauth/token`);
    expect(sandbox.tokenUrl('klikoo')).toBe(`${sandbox.url}/klikoo/v1/open-api/access-token`);
    expect(sandbox.tokenUrl('oauth2')).toBe(`${sandbox.url}/oauth2/oauth/token`);
  });

  it('counts per target and sums all targets when no target is given', async () => {
    const first = fields(await call(sandbox.tokenUrl('keliweb-api-v2'), keliwebPassword('keliweb-api-v2')));
    const s = secrets['keliweb-api-v2'];
    const refresh = form({
      grant_type: 'refresh_token',
      client_id: s.clientId,
      client_secret: s.clientSecret,
      refresh_token: String(first['refresh_token']),
    });
    await call(sandbox.tokenUrl('keliweb-api-v2'), refresh);
    await call(sandbox.tokenUrl('keliweb-api-v2'), refresh);
    await call(sandbox.tokenUrl('keliweb-fatture'), keliwebPassword('keliweb-fatture', 'wrong'));
    await call(sandbox.tokenUrl('klikoo'), klikooRequest(secrets.klikoo));
    sandbox.injectFault({ type: 'status', status: 503, target: 'oauth2' });
    await call(sandbox.tokenUrl('oauth2'), oauth2Credentials());
    await call(sandbox.tokenUrl('oauth2'), oauth2Credentials());

    expect(sandbox.stats('keliweb-api-v2')).toEqual({
      issued: 2,
      obtained: 1,
      refreshed: 1,
      reuseDetected: 1,
      rejected: 1,
      faultsInjected: 0,
    });
    expect(sandbox.stats('keliweb-fatture')).toEqual({
      issued: 0,
      obtained: 0,
      refreshed: 0,
      reuseDetected: 0,
      rejected: 1,
      faultsInjected: 0,
    });
    expect(sandbox.stats('klikoo')).toEqual({
      issued: 1,
      obtained: 1,
      refreshed: 0,
      reuseDetected: 0,
      rejected: 0,
      faultsInjected: 0,
    });
    expect(sandbox.stats('oauth2')).toEqual({
      issued: 1,
      obtained: 1,
      refreshed: 0,
      reuseDetected: 0,
      rejected: 0,
      faultsInjected: 1,
    });
    expect(sandbox.stats()).toEqual({
      issued: 4,
      obtained: 3,
      refreshed: 1,
      reuseDetected: 1,
      rejected: 2,
      faultsInjected: 1,
    });
  });

  describe('control endpoints', () => {
    it('GET /_sandbox/stats answers the counters, summed or for one target', async () => {
      await call(sandbox.tokenUrl('oauth2'), oauth2Credentials());
      await call(sandbox.tokenUrl('klikoo'), klikooRequest(secrets.klikoo));

      const all = await call(`${sandbox.url}/_sandbox/stats`, { method: 'GET' });
      const one = await call(`${sandbox.url}/_sandbox/stats?target=klikoo`, { method: 'GET' });
      const unknown = await call(`${sandbox.url}/_sandbox/stats?target=stripe`, { method: 'GET' });

      expect(all.status).toBe(200);
      expect(all.json).toEqual(sandbox.stats());
      expect(fields(all)['issued']).toBe(2);
      expect(one.json).toEqual({
        issued: 1,
        obtained: 1,
        refreshed: 0,
        reuseDetected: 0,
        rejected: 0,
        faultsInjected: 0,
      });
      expect(unknown.status).toBe(400);
    });

    it('POST /_sandbox/faults queues a fault for the token endpoints', async () => {
      const queued = await call(
        `${sandbox.url}/_sandbox/faults`,
        json({ type: 'rate_limit', retryAfterSeconds: 3, target: 'oauth2' }),
      );

      const answer = await call(sandbox.tokenUrl('oauth2'), oauth2Credentials());

      expect(queued.status).toBe(201);
      expect(answer.status).toBe(429);
      expect(answer.headers.get('retry-after')).toBe('3');
    });

    it('POST /_sandbox/faults refuses a malformed fault with 400 and queues nothing', async () => {
      const refused = await call(`${sandbox.url}/_sandbox/faults`, json({ type: 'status', status: 'soon' }));

      const answer = await call(sandbox.tokenUrl('oauth2'), oauth2Credentials());

      expect(refused.status).toBe(400);
      expect(fields(refused)).toMatchObject({
        error: 'invalid_fault',
        error_description: expect.stringContaining('fault.status'),
      });
      expect(answer.status).toBe(200);
    });

    it('DELETE /_sandbox/faults clears the queue', async () => {
      sandbox.injectFault({ type: 'status', status: 503, count: 3 });

      const cleared = await call(`${sandbox.url}/_sandbox/faults`, { method: 'DELETE' });
      const answer = await call(sandbox.tokenUrl('oauth2'), oauth2Credentials());

      expect(cleared.status).toBe(204);
      expect(answer.status).toBe(200);
    });

    it('POST /_sandbox/introspect tells active, revoked and unknown tokens apart', async () => {
      const first = fields(await call(sandbox.tokenUrl('keliweb-api-v2'), keliwebPassword('keliweb-api-v2')));
      const s = secrets['keliweb-api-v2'];
      const refreshed = fields(
        await call(
          sandbox.tokenUrl('keliweb-api-v2'),
          form({
            grant_type: 'refresh_token',
            client_id: s.clientId,
            client_secret: s.clientSecret,
            refresh_token: String(first['refresh_token']),
          }),
        ),
      );
      const now = Math.floor(Date.now() / 1000);

      const active = fields(
        await call(`${sandbox.url}/_sandbox/introspect`, json({ token: refreshed['access_token'] })),
      );
      const revoked = fields(await call(`${sandbox.url}/_sandbox/introspect`, json({ token: first['access_token'] })));
      const refresh = fields(
        await call(`${sandbox.url}/_sandbox/introspect`, form({ token: String(refreshed['refresh_token']) })),
      );
      const unknown = fields(await call(`${sandbox.url}/_sandbox/introspect`, json({ token: 'never-issued' })));
      const missing = await call(`${sandbox.url}/_sandbox/introspect`, json({}));

      expect(active).toMatchObject({ active: true, target: 'keliweb-api-v2', token_kind: 'access' });
      expect(Number(active['exp'])).toBeGreaterThanOrEqual(now + 3599);
      expect(Number(active['exp'])).toBeLessThanOrEqual(now + 3601);
      expect(revoked).toMatchObject({ active: false, target: 'keliweb-api-v2', token_kind: 'access' });
      expect(refresh).toMatchObject({ active: true, token_kind: 'refresh' });
      expect(Number(refresh['exp'])).toBeGreaterThanOrEqual(now + 863_999);
      expect(unknown).toEqual({ active: false });
      expect(missing.status).toBe(400);
    });

    it('answers a wrong method on a control endpoint with 405', async () => {
      const answer = await call(`${sandbox.url}/_sandbox/stats`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });

      expect(answer.status).toBe(405);
      expect(answer.headers.get('allow')).toBe('GET');
    });
  });

  describe('limits', () => {
    it('answers a body over 64 KiB with 413 and counts it as rejected', async () => {
      const s = secrets['keliweb-api-v2'];
      const init = form({
        grant_type: 'password',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        username: s.username,
        password: 'x'.repeat(MAX_BODY_BYTES),
      });

      const answer = await call(sandbox.tokenUrl('keliweb-api-v2'), init);

      expect(answer.status).toBe(413);
      expect(fields(answer)['error']).toBe('invalid_request');
      expect(sandbox.stats('keliweb-api-v2')).toMatchObject({ rejected: 1, issued: 0 });
    });

    it('accepts a body of exactly 64 KiB', async () => {
      const base = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: secrets.oauth2.clientId,
        client_secret: secrets.oauth2.clientSecret,
        padding: '',
      }).toString();
      const body = base + 'x'.repeat(MAX_BODY_BYTES - base.length);

      const answer = await call(sandbox.tokenUrl('oauth2'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });

      expect(Buffer.byteLength(body)).toBe(MAX_BODY_BYTES);
      expect(answer.status).toBe(200);
    });

    it.each([
      '/',
      '/oauth/token',
      '/keliweb/api-v2/oauth/token/',
      '/klikoo/v1/open-api/access-token/x',
      '/_sandbox/nothing',
    ])('answers an unknown path %s with 404', async (path) => {
      const answer = await call(`${sandbox.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });

      expect(answer.status).toBe(404);
    });
  });

  describe('hygiene', () => {
    it('records what it received without any secret value', async () => {
      const issued = fields(await call(sandbox.tokenUrl('keliweb-api-v2'), keliwebPassword('keliweb-api-v2')));
      await call(sandbox.tokenUrl('keliweb-fatture'), keliwebPassword('keliweb-fatture', 'wrong-password-value'));
      await call(sandbox.tokenUrl('klikoo'), klikooRequest(secrets.klikoo));
      await call(sandbox.tokenUrl('oauth2'), oauth2Credentials());
      await call(`${sandbox.url}/_sandbox/introspect`, json({ token: issued['access_token'] }));

      const recorded = JSON.stringify(sandbox.requests);

      expect(sandbox.requests.map((r) => [r.method, r.path, r.target, r.contentType, r.grantType, r.status])).toEqual([
        ['POST', '/keliweb/api-v2/oauth/token', 'keliweb-api-v2', 'application/x-www-form-urlencoded', 'password', 200],
        [
          'POST',
          '/keliweb/fatture/oauth/token',
          'keliweb-fatture',
          'application/x-www-form-urlencoded',
          'password',
          400,
        ],
        ['POST', '/klikoo/v1/open-api/access-token', 'klikoo', 'application/json', 'client_credentials', 200],
        ['POST', '/oauth2/oauth/token', 'oauth2', 'application/json', 'client_credentials', 200],
        ['POST', '/_sandbox/introspect', undefined, 'application/json', undefined, 200],
      ]);
      const secretValues = [
        String(issued['access_token']),
        String(issued['refresh_token']),
        'wrong-password-value',
        ...Object.values(secrets).flatMap((s: Record<string, string>) => [
          s['clientSecret'],
          s['password'],
          s['privateKeyPem'],
        ]),
      ].filter((value): value is string => value !== undefined);
      expect(secretValues.length).toBeGreaterThan(8);
      for (const value of secretValues) expect(recorded).not.toContain(value);
    });

    it('never echoes a submitted secret in an error answer', async () => {
      const s = secrets['keliweb-api-v2'];
      const answers = await Promise.all([
        call(
          sandbox.tokenUrl('keliweb-api-v2'),
          form({
            grant_type: 'password',
            client_id: s.clientId,
            client_secret: 'secret-canary-1',
            username: s.username,
            password: s.password,
          }),
        ),
        call(sandbox.tokenUrl('keliweb-api-v2'), keliwebPassword('keliweb-api-v2', 'secret-canary-2')),
        call(
          sandbox.tokenUrl('keliweb-api-v2'),
          form({
            grant_type: 'refresh_token',
            client_id: s.clientId,
            client_secret: s.clientSecret,
            refresh_token: 'secret-canary-3',
          }),
        ),
        call(
          sandbox.tokenUrl('oauth2'),
          json({ grant_type: 'secret-canary-4x', client_id: 'secret-canary-5', client_secret: 'secret-canary-6' }),
        ),
        call(
          sandbox.tokenUrl('klikoo'),
          klikooRequest(secrets.klikoo, {
            body: {
              grant_type: 'client_credentials',
              additional_info: { client_id: secrets.klikoo.clientId, client_secret: 'secret-canary-7' },
            },
          }),
        ),
      ]);

      for (const answer of answers) expect(answer.status).toBeGreaterThanOrEqual(400);
      for (const answer of answers) expect(answer.text).not.toContain('secret-canary');
    });
  });

  describe('close', () => {
    it('returns promptly while a keep-alive connection is open', async () => {
      const agent = new Agent({ keepAlive: true });
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${sandbox.url}/_sandbox/stats`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      await new Promise((resolve) => setImmediate(resolve));
      expect(status).toBe(200);
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);
      const started = performance.now();

      await sandbox.close();

      expect(performance.now() - started).toBeLessThan(500);
      agent.destroy();
    });

    it('returns promptly while a latency fault holds a request', async () => {
      sandbox.injectFault({ type: 'latency', ms: 60_000 });
      const pending = call(sandbox.tokenUrl('oauth2'), oauth2Credentials()).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();

      await sandbox.close();

      expect(performance.now() - started).toBeLessThan(500);
      expect(await pending).toBeInstanceOf(TypeError);
      expect(sandbox.stats().issued).toBe(0);
    });

    it('returns promptly while a client is midway through sending a request', async () => {
      const socket = connect(Number(new URL(sandbox.url).port), '127.0.0.1');
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const closedByServer = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => undefined);
      socket.write(
        'POST /oauth2/oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"grant_type":',
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();

      await sandbox.close();
      await closedByServer;

      expect(performance.now() - started).toBeLessThan(500);
    });

    it('can be called twice', async () => {
      await sandbox.close();

      await expect(sandbox.close()).resolves.toBeUndefined();
    });
  });
});

describe('startSandbox', () => {
  it.each([
    [
      { target: 'klikoo', clientId: '3f9c8962-4c4b-4bb6-b3c1-8fc883519c02', clientSecret: 'a'.repeat(32) },
      /publicKeyPem/,
    ],
    [{ target: 'keliweb-api-v2', clientId: 'id', clientSecret: 'secret' }, /username and password/],
    [{ target: 'stripe', clientId: 'id', clientSecret: 'secret' }, /target/],
    [{ target: 'oauth2', clientId: 'id', clientSecret: '' }, /clientSecret/],
  ] as const)('refuses the unusable client %j with a TypeError', async (client, message) => {
    await expect(startSandbox({ clients: [client as unknown as SandboxClient] })).rejects.toThrow(message);
  });

  it('refuses a client registered twice for the same target', async () => {
    const client: SandboxClient = { target: 'oauth2', clientId: 'twice', clientSecret: 'secret' };

    await expect(startSandbox({ clients: [client, { ...client }] })).rejects.toThrow(/registered twice/);
  });

  it('refuses a lifetime that is not a whole number of seconds', async () => {
    await expect(startSandbox({ clients: [], lifetimes: { oauth2: { accessSeconds: 1.5 } } })).rejects.toThrow(
      /lifetimes\.oauth2\.accessSeconds/,
    );
  });
});

describe('createDemoClients', () => {
  it('generates a client for every target and a matching RSA 2048 key pair for Klikoo', () => {
    const klikoo = clients.find((client) => client.target === 'klikoo');

    expect(clients.map((client) => client.target).sort()).toEqual([
      'keliweb-api-v2',
      'keliweb-fatture',
      'klikoo',
      'oauth2',
    ]);
    expect(secrets.klikoo.clientId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(secrets.klikoo.clientSecret).toHaveLength(32);
    expect(secrets.klikoo.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(klikoo?.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(createPrivateKey(secrets.klikoo.privateKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
    const signature = sign('sha256', Buffer.from('probe'), secrets.klikoo.privateKeyPem);
    expect(verify('sha256', Buffer.from('probe'), createPublicKey(klikoo?.publicKeyPem ?? ''), signature)).toBe(true);
    expect(secrets['keliweb-api-v2'].username).not.toBe(secrets['keliweb-fatture'].username);
    expect(secrets['keliweb-api-v2'].clientSecret).toMatch(/^[A-Za-z0-9]{40}$/);
  });

  it('generates different credentials on each call', async () => {
    const again = await createDemoClients();

    expect(again.secrets.klikoo.clientId).not.toBe(secrets.klikoo.clientId);
    expect(again.secrets.oauth2.clientSecret).not.toBe(secrets.oauth2.clientSecret);
    expect(again.secrets.klikoo.privateKeyPem).not.toBe(secrets.klikoo.privateKeyPem);
  });
});
