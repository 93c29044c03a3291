import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DemoKlikooCredentials, Sandbox, SandboxClient } from '../../src/sandbox/index.js';
import { createDemoClients, startSandbox } from '../../src/sandbox/index.js';
import { call, fields, jakartaTimestamp, klikooRequest, klikooSignature } from '../helpers/sandbox-http.js';

let clients: SandboxClient[];
let credentials: DemoKlikooCredentials;
let sandbox: Sandbox;
/** Whole seconds, so a timestamp rounded to the second is exact. */
let clock: number;

beforeAll(async () => {
  const demo = await createDemoClients();
  clients = demo.clients;
  credentials = demo.secrets.klikoo;
});

beforeEach(async () => {
  clock = Date.UTC(2025, 2, 21, 3, 11, 40);
  sandbox = await startSandbox({ clients, now: () => clock });
});

afterEach(async () => {
  await sandbox.close();
});

function tokenCall(options: Parameters<typeof klikooRequest>[1] = {}): ReturnType<typeof call> {
  return call(
    sandbox.tokenUrl('klikoo'),
    klikooRequest(credentials, { timestamp: jakartaTimestamp(clock), ...options }),
  );
}

function expectFailure(answer: Awaited<ReturnType<typeof call>>, status: number, code: string, message: RegExp): void {
  expect(answer.status).toBe(status);
  const body = fields(answer);
  expect(body['response_code']).toBe(code);
  expect(body['response_message']).toMatch(message);
  expect(body).not.toHaveProperty('data');
  expect(sandbox.stats('klikoo').issued).toBe(0);
}

describe('sandbox Klikoo access-token endpoint', () => {
  it('issues a 900-second Bearer token in the Sukses wrapper for a correctly signed request', async () => {
    const answer = await tokenCall();

    expect(answer.status).toBe(200);
    const body = fields(answer);
    expect(body).toMatchObject({ response_code: '200012000', response_message: 'Sukses' });
    const data = body['data'] as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
    expect(data['token_type']).toBe('Bearer');
    expect(data['expires_in']).toBe(900);
    expect(sandbox.isValid(String(data['access_token']))).toBe(true);
    expect(sandbox.stats('klikoo')).toMatchObject({ issued: 1, obtained: 1, refreshed: 0 });
    expect(sandbox.requests.at(-1)).toMatchObject({
      target: 'klikoo',
      contentType: 'application/json',
      grantType: 'client_credentials',
      status: 200,
    });
  });

  it('issues a new independent token on each call and leaves earlier ones valid until they expire', async () => {
    const first = String((fields(await tokenCall())['data'] as Record<string, unknown>)['access_token']);
    clock += 60_000;
    const second = String((fields(await tokenCall())['data'] as Record<string, unknown>)['access_token']);

    expect(second).not.toBe(first);
    expect(sandbox.isValid(first)).toBe(true);
    expect(sandbox.isValid(second)).toBe(true);
    clock += 840_000;
    expect(sandbox.isValid(first)).toBe(false);
    expect(sandbox.isValid(second)).toBe(true);
  });

  describe('signature', () => {
    it('rejects a signature made with another key with 401012000', async () => {
      const other = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
      });
      const timestamp = jakartaTimestamp(clock);

      const answer = await tokenCall({
        timestamp,
        signature: klikooSignature(credentials.clientId, timestamp, other.privateKey),
      });

      expectFailure(answer, 401, '401012000', /Invalid signature/);
      expect(sandbox.stats('klikoo').rejected).toBe(1);
    });

    it('rejects a signature over a timestamp not byte-identical to the header', async () => {
      const timestamp = jakartaTimestamp(clock);
      const signedOther = `${new Date(clock).toISOString().slice(0, 19)}Z`;

      const answer = await tokenCall({
        timestamp,
        signature: klikooSignature(credentials.clientId, signedOther, credentials.privateKeyPem),
      });

      expectFailure(answer, 401, '401012000', /Invalid signature/);
    });

    it('rejects a signature that is not base64', async () => {
      const answer = await tokenCall({ signature: 'not base64 at all!' });

      expectFailure(answer, 401, '401012000', /not base64/);
    });

    it('rejects a request without Open-Api-Signature with 400012002', async () => {
      const init = klikooRequest(credentials, { timestamp: jakartaTimestamp(clock) });
      const headers = new Headers(init.headers);
      headers.delete('open-api-signature');

      const answer = await call(sandbox.tokenUrl('klikoo'), { ...init, headers });

      expectFailure(answer, 400, '400012002', /Open-Api-Signature/);
    });
  });

  describe('timestamp', () => {
    it('rejects a correctly signed timestamp in UTC (Z) format', async () => {
      const timestamp = `${new Date(clock).toISOString().slice(0, 19)}Z`;

      const answer = await tokenCall({ timestamp });

      expectFailure(answer, 401, '401012000', /Open-Api-Timestamp must be/);
    });

    it('rejects a correctly signed timestamp with milliseconds', async () => {
      const timestamp = jakartaTimestamp(clock).replace('+07:00', '.000+07:00');

      const answer = await tokenCall({ timestamp });

      expectFailure(answer, 401, '401012000', /Open-Api-Timestamp must be/);
    });

    it('rejects a time that does not exist (hour 34), even one that would roll over to now', async () => {
      expect(jakartaTimestamp(clock)).toBe('2025-03-21T10:11:40+07:00');

      const answer = await tokenCall({ timestamp: '2025-03-20T34:11:40+07:00' });

      expectFailure(answer, 401, '401012000', /Open-Api-Timestamp must be/);
    });

    it('rejects a correctly signed timestamp 301 seconds old', async () => {
      const answer = await tokenCall({ timestamp: jakartaTimestamp(clock - 301_000) });

      expectFailure(answer, 401, '401012000', /300 seconds/);
    });

    it('rejects a correctly signed timestamp 301 seconds ahead', async () => {
      const answer = await tokenCall({ timestamp: jakartaTimestamp(clock + 301_000) });

      expectFailure(answer, 401, '401012000', /300 seconds/);
    });

    it('accepts a timestamp 300 seconds old', async () => {
      const answer = await tokenCall({ timestamp: jakartaTimestamp(clock - 300_000) });

      expect(answer.status).toBe(200);
    });
  });

  describe('body', () => {
    const body = (info: Record<string, unknown>, top: Record<string, unknown> = {}): unknown => ({
      grant_type: 'client_credentials',
      additional_info: { client_id: credentials.clientId, client_secret: credentials.clientSecret, ...info },
      ...top,
    });

    it('rejects a 31-character client secret with 400012001', async () => {
      const answer = await tokenCall({ body: body({ client_secret: credentials.clientSecret.slice(0, 31) }) });

      expectFailure(answer, 400, '400012001', /client_secret must be 32 characters/);
    });

    it('rejects a wrong 32-character client secret with 401012000', async () => {
      const wrong = credentials.clientSecret.startsWith('0')
        ? `1${credentials.clientSecret.slice(1)}`
        : `0${credentials.clientSecret.slice(1)}`;

      const answer = await tokenCall({ body: body({ client_secret: wrong }) });

      expectFailure(answer, 401, '401012000', /Invalid client secret/);
    });

    it('rejects a client id that is a UUID but not version 4 with 400012001', async () => {
      const v1 = '4a6af340-2672-11ec-8114-3ba47a898cf0';
      const timestamp = jakartaTimestamp(clock);

      const answer = await tokenCall({
        timestamp,
        signature: klikooSignature(v1, timestamp, credentials.privateKeyPem),
        body: body({ client_id: v1 }),
      });

      expectFailure(answer, 400, '400012001', /UUID v4/);
    });

    it('rejects an unregistered client id with 401012000', async () => {
      const stranger = '3f9c8962-4c4b-4bb6-b3c1-8fc883519c02';
      const timestamp = jakartaTimestamp(clock);

      const answer = await tokenCall({
        timestamp,
        signature: klikooSignature(stranger, timestamp, credentials.privateKeyPem),
        body: body({ client_id: stranger }),
      });

      expectFailure(answer, 401, '401012000', /Unknown client/);
    });

    it('rejects a grant_type other than client_credentials with 400012001', async () => {
      const answer = await tokenCall({ body: body({}, { grant_type: 'password' }) });

      expectFailure(answer, 400, '400012001', /grant_type/);
    });

    it('rejects a body without additional_info with 400012002', async () => {
      const answer = await tokenCall({ body: { grant_type: 'client_credentials' } });

      expectFailure(answer, 400, '400012002', /additional_info/);
    });

    it('rejects credentials sent at the top level instead of in additional_info', async () => {
      const answer = await tokenCall({
        body: {
          grant_type: 'client_credentials',
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret,
        },
      });

      expect(answer.status).toBe(400);
      expect(String(fields(answer)['response_code'])).toMatch(/^400012/);
    });

    it('rejects a form-urlencoded body with 400012001', async () => {
      const headers = new Headers(klikooRequest(credentials, { timestamp: jakartaTimestamp(clock) }).headers);
      headers.set('content-type', 'application/x-www-form-urlencoded');

      const answer = await call(sandbox.tokenUrl('klikoo'), {
        method: 'POST',
        headers,
        body: 'grant_type=client_credentials',
      });

      expectFailure(answer, 400, '400012001', /Content-Type/);
    });
  });
});
