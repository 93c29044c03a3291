import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DemoSecrets, Sandbox, SandboxClient } from '../../src/sandbox/index.js';
import { createDemoClients, startSandbox } from '../../src/sandbox/index.js';
import { call, fields, form, introspect, json, jwtHeader, multipart } from '../helpers/sandbox-http.js';

const TARGETS = ['keliweb-api-v2', 'keliweb-fatture'] as const;

let clients: SandboxClient[];
let secrets: DemoSecrets;
let sandbox: Sandbox;
let clock: number;

beforeAll(async () => {
  ({ clients, secrets } = await createDemoClients());
});

beforeEach(async () => {
  clock = Date.UTC(2025, 0, 15, 9, 0, 0);
  sandbox = await startSandbox({ clients, now: () => clock });
});

afterEach(async () => {
  await sandbox.close();
});

function passwordGrant(target: (typeof TARGETS)[number]): Record<string, string> {
  const s = secrets[target];
  return {
    grant_type: 'password',
    client_id: s.clientId,
    client_secret: s.clientSecret,
    username: s.username,
    password: s.password,
  };
}

function refreshGrant(target: (typeof TARGETS)[number], refreshToken: string): Record<string, string> {
  const s = secrets[target];
  return {
    grant_type: 'refresh_token',
    client_id: s.clientId,
    client_secret: s.clientSecret,
    refresh_token: refreshToken,
  };
}

async function obtain(target: (typeof TARGETS)[number]): Promise<{ access: string; refresh: string }> {
  const answer = await call(sandbox.tokenUrl(target), form(passwordGrant(target)));
  expect(answer.status).toBe(200);
  const body = fields(answer);
  return { access: String(body['access_token']), refresh: String(body['refresh_token']) };
}

describe('sandbox Keliweb token endpoint', () => {
  describe.each(TARGETS)('%s password grant', (target) => {
    it('issues a Bearer JWT and a def50200 refresh token for a form-urlencoded request', async () => {
      const answer = await call(
        sandbox.tokenUrl(target),
        form(passwordGrant(target), { 'X-Requested-With': 'XMLHttpRequest' }),
      );

      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toBe('application/json');
      const body = fields(answer);
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
      expect(body['token_type']).toBe('Bearer');
      expect(body['expires_in']).toBe(3600);
      const access = String(body['access_token']);
      expect(access.split('.')).toHaveLength(3);
      expect(jwtHeader(access)).toMatchObject({
        typ: 'JWT',
        alg: 'RS256',
        jti: expect.stringMatching(/^[0-9a-f]{80}$/),
      });
      expect(String(body['refresh_token'])).toMatch(/^def50200[0-9a-f]+$/);
      expect(sandbox.isValid(access)).toBe(true);
      expect(sandbox.stats(target)).toMatchObject({ issued: 1, obtained: 1, refreshed: 0 });
    });

    it('issues a token for a multipart/form-data request', async () => {
      const answer = await call(sandbox.tokenUrl(target), multipart(passwordGrant(target)));

      expect(answer.status).toBe(200);
      expect(sandbox.isValid(String(fields(answer)['access_token']))).toBe(true);
      expect(sandbox.requests.at(-1)).toMatchObject({
        target,
        contentType: 'multipart/form-data',
        grantType: 'password',
        status: 200,
      });
    });
  });

  it('accepts a charset parameter on a form-urlencoded body', async () => {
    const init = form(passwordGrant('keliweb-api-v2'), {
      'content-type': 'application/x-www-form-urlencoded; charset=UTF-8',
    });

    const answer = await call(sandbox.tokenUrl('keliweb-api-v2'), init);

    expect(answer.status).toBe(200);
  });

  it('keeps the API v2 and Fatture token spaces apart', async () => {
    const apiV2 = await obtain('keliweb-api-v2');

    const crossRefresh = await call(
      sandbox.tokenUrl('keliweb-fatture'),
      form(refreshGrant('keliweb-fatture', apiV2.refresh)),
    );
    const crossClient = await call(sandbox.tokenUrl('keliweb-fatture'), form(passwordGrant('keliweb-api-v2')));

    expect(crossRefresh.status).toBe(400);
    expect(fields(crossRefresh)['error']).toBe('invalid_grant');
    expect(crossClient.status).toBe(401);
    expect(fields(crossClient)['error']).toBe('invalid_client');
    expect(sandbox.isValid(apiV2.access)).toBe(true);
  });

  describe('refresh grant', () => {
    it('returns a new pair and revokes the previous access and refresh tokens at once', async () => {
      const first = await obtain('keliweb-api-v2');

      const answer = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form(refreshGrant('keliweb-api-v2', first.refresh)),
      );

      expect(answer.status).toBe(200);
      const body = fields(answer);
      expect(body['token_type']).toBe('Bearer');
      expect(body['expires_in']).toBe(3600);
      expect(body['access_token']).not.toBe(first.access);
      expect(body['refresh_token']).not.toBe(first.refresh);
      expect(String(body['refresh_token'])).toMatch(/^def50200/);
      expect(sandbox.isValid(String(body['access_token']))).toBe(true);
      expect(sandbox.isValid(first.access)).toBe(false);
      expect(await introspect(sandbox, first.access)).toMatchObject({
        active: false,
        target: 'keliweb-api-v2',
        token_kind: 'access',
      });
      expect(await introspect(sandbox, first.refresh)).toMatchObject({ active: false, token_kind: 'refresh' });
      expect(sandbox.stats('keliweb-api-v2')).toMatchObject({ issued: 2, obtained: 1, refreshed: 1 });
    });

    it('also accepts the refresh grant as multipart/form-data', async () => {
      const first = await obtain('keliweb-fatture');

      const answer = await call(
        sandbox.tokenUrl('keliweb-fatture'),
        multipart(refreshGrant('keliweb-fatture', first.refresh)),
      );

      expect(answer.status).toBe(200);
      expect(sandbox.isValid(first.access)).toBe(false);
    });

    it('treats a spent refresh token presented again as reuse: 400 invalid_grant and the whole family revoked', async () => {
      const first = await obtain('keliweb-api-v2');
      const second = fields(
        await call(sandbox.tokenUrl('keliweb-api-v2'), form(refreshGrant('keliweb-api-v2', first.refresh))),
      );
      const secondAccess = String(second['access_token']);
      const secondRefresh = String(second['refresh_token']);
      expect(sandbox.isValid(secondAccess)).toBe(true);

      const reuse = await call(sandbox.tokenUrl('keliweb-api-v2'), form(refreshGrant('keliweb-api-v2', first.refresh)));

      expect(reuse.status).toBe(400);
      expect(fields(reuse)).toMatchObject({
        error: 'invalid_grant',
        error_description: 'The refresh token is invalid.',
        message: 'The refresh token is invalid.',
      });
      expect(sandbox.stats('keliweb-api-v2').reuseDetected).toBe(1);
      expect(sandbox.isValid(secondAccess)).toBe(false);
      expect(await introspect(sandbox, secondRefresh)).toMatchObject({ active: false, token_kind: 'refresh' });
      const afterRevocation = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form(refreshGrant('keliweb-api-v2', secondRefresh)),
      );
      expect(afterRevocation.status).toBe(400);
      expect(fields(afterRevocation)['error']).toBe('invalid_grant');
      expect(sandbox.stats('keliweb-api-v2').reuseDetected).toBe(1);
    });

    it('refuses a refresh token older than its 10-day lifetime with invalid_grant', async () => {
      const first = await obtain('keliweb-api-v2');
      clock += 864_000 * 1000;

      const answer = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form(refreshGrant('keliweb-api-v2', first.refresh)),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_grant');
      expect(sandbox.stats('keliweb-api-v2').reuseDetected).toBe(0);
    });

    it('still accepts a refresh token a second before its lifetime ends, after the access token expired', async () => {
      const first = await obtain('keliweb-api-v2');
      clock += 3600 * 1000;
      expect(sandbox.isValid(first.access)).toBe(false);
      clock += 864_000 * 1000 - 3600 * 1000 - 1000;

      const answer = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form(refreshGrant('keliweb-api-v2', first.refresh)),
      );

      expect(answer.status).toBe(200);
    });

    it('refuses an unknown refresh token with invalid_grant and no reuse counted', async () => {
      const answer = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form(refreshGrant('keliweb-api-v2', `def50200${'ab'.repeat(40)}`)),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_grant');
      expect(sandbox.stats('keliweb-api-v2').reuseDetected).toBe(0);
    });

    it("refuses another client's refresh token with invalid_grant and leaves it usable by its owner", async () => {
      const other: SandboxClient = {
        target: 'keliweb-api-v2',
        clientId: 'second-client',
        clientSecret: 'second-secret-of-forty-characters-000000',
        username: 'b@example.com',
        password: 'pw-b',
      };
      await sandbox.close();
      sandbox = await startSandbox({ clients: [...clients, other], now: () => clock });
      const owned = await obtain('keliweb-api-v2');

      const stolen = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form({
          grant_type: 'refresh_token',
          client_id: other.clientId,
          client_secret: other.clientSecret,
          refresh_token: owned.refresh,
        }),
      );
      const owner = await call(sandbox.tokenUrl('keliweb-api-v2'), form(refreshGrant('keliweb-api-v2', owned.refresh)));

      expect(stolen.status).toBe(400);
      expect(fields(stolen)['error']).toBe('invalid_grant');
      expect(owner.status).toBe(200);
    });
  });

  it('leaves the first token valid when a second password grant starts a new family', async () => {
    const first = await obtain('keliweb-api-v2');
    const second = await obtain('keliweb-api-v2');

    await call(sandbox.tokenUrl('keliweb-api-v2'), form(refreshGrant('keliweb-api-v2', second.refresh)));

    expect(second.access).not.toBe(first.access);
    expect(sandbox.isValid(first.access)).toBe(true);
    expect(sandbox.isValid(second.access)).toBe(false);
    expect(await introspect(sandbox, first.refresh)).toMatchObject({ active: true });
  });

  describe('rejections', () => {
    it('answers a wrong client secret with 401 invalid_client', async () => {
      const answer = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form({ ...passwordGrant('keliweb-api-v2'), client_secret: 'not-the-secret' }),
      );

      expect(answer.status).toBe(401);
      expect(fields(answer)).toEqual({
        error: 'invalid_client',
        error_description: 'Client authentication failed',
        message: 'Client authentication failed',
      });
      expect(sandbox.stats('keliweb-api-v2')).toMatchObject({ rejected: 1, issued: 0 });
    });

    it('answers wrong user credentials with 400 invalid_grant', async () => {
      const answer = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form({ ...passwordGrant('keliweb-api-v2'), password: 'wrong-password' }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)).toEqual({
        error: 'invalid_grant',
        error_description: 'The user credentials were incorrect.',
        message: 'The user credentials were incorrect.',
      });
    });

    it.each(['client_id', 'client_secret', 'username', 'password', 'grant_type'])(
      'answers a request without %s with 400 invalid_request naming it',
      async (name) => {
        const params = passwordGrant('keliweb-api-v2');
        delete params[name];

        const answer = await call(sandbox.tokenUrl('keliweb-api-v2'), form(params));

        expect(answer.status).toBe(400);
        expect(fields(answer)).toMatchObject({ error: 'invalid_request', hint: `Check the \`${name}\` parameter` });
      },
    );

    it('answers a refresh without refresh_token with 400 invalid_request naming it', async () => {
      const params = refreshGrant('keliweb-api-v2', 'x');
      delete params['refresh_token'];

      const answer = await call(sandbox.tokenUrl('keliweb-api-v2'), form(params));

      expect(answer.status).toBe(400);
      expect(fields(answer)).toMatchObject({ error: 'invalid_request', hint: 'Check the `refresh_token` parameter' });
    });

    it('answers an unknown grant type with 400 unsupported_grant_type', async () => {
      const answer = await call(
        sandbox.tokenUrl('keliweb-api-v2'),
        form({ ...passwordGrant('keliweb-api-v2'), grant_type: 'client_credentials' }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('unsupported_grant_type');
    });

    it.each([
      ['application/json', (params: Record<string, string>) => json(params), /application\/json is not accepted/],
      [
        'text/plain',
        (params: Record<string, string>) => ({
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: new URLSearchParams(params).toString(),
        }),
        /text\/plain is not accepted/,
      ],
      [
        'form-urlencoded with charset ISO-8859-1',
        (params: Record<string, string>) =>
          form(params, { 'content-type': 'application/x-www-form-urlencoded; charset=ISO-8859-1' }),
        /charset/,
      ],
      [
        'missing Content-Type',
        (params: Record<string, string>) => ({
          method: 'POST',
          body: new Blob([new URLSearchParams(params).toString()]),
        }),
        /Content-Type must be/,
      ],
    ] as const)(
      'rejects an otherwise valid password grant sent as %s with 400 invalid_request',
      async (_label, build, hint) => {
        const answer = await call(sandbox.tokenUrl('keliweb-api-v2'), build(passwordGrant('keliweb-api-v2')));

        expect(answer.status).toBe(400);
        expect(fields(answer)).toMatchObject({ error: 'invalid_request', hint: expect.stringMatching(hint) });
        expect(sandbox.stats().issued).toBe(0);
      },
    );

    it('rejects a parameter sent twice with 400 invalid_request', async () => {
      const body = `${new URLSearchParams(passwordGrant('keliweb-api-v2')).toString()}&username=other%40example.com`;

      const answer = await call(sandbox.tokenUrl('keliweb-api-v2'), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_request');
    });

    it('answers GET with 405 and Allow: POST', async () => {
      const answer = await call(sandbox.tokenUrl('keliweb-api-v2'), { method: 'GET' });

      expect(answer.status).toBe(405);
      expect(answer.headers.get('allow')).toBe('POST');
    });
  });

  it('answers with the configured access lifetime', async () => {
    await sandbox.close();
    sandbox = await startSandbox({
      clients,
      now: () => clock,
      lifetimes: { 'keliweb-fatture': { accessSeconds: 120 } },
    });

    const answer = await call(sandbox.tokenUrl('keliweb-fatture'), form(passwordGrant('keliweb-fatture')));

    expect(fields(answer)['expires_in']).toBe(120);
    clock += 120_000;
    expect(sandbox.isValid(String(fields(answer)['access_token']))).toBe(false);
  });
});
