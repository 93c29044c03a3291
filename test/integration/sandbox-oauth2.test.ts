import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Sandbox, SandboxClient } from '../../src/sandbox/index.js';
import { startSandbox } from '../../src/sandbox/index.js';
import { basicAuth, call, fields, form, introspect, json, multipart } from '../helpers/sandbox-http.js';

/** Characters RFC 6749 §2.3.1 makes a client form-urlencode before Basic. */
const SERVICE: SandboxClient = { target: 'oauth2', clientId: 'svc:reporting one', clientSecret: 'p@ss word%/+:é' };
const USER: SandboxClient = {
  target: 'oauth2',
  clientId: 'user-app',
  clientSecret: 'user-app-secret',
  username: 'ada',
  password: 'lovelace',
};
const ROTATING: SandboxClient = {
  target: 'oauth2',
  clientId: 'rotating-app',
  clientSecret: 'rotating-secret',
  issueRefreshToken: true,
};

let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await startSandbox({ clients: [SERVICE, USER, ROTATING] });
});

afterEach(async () => {
  await sandbox.close();
});

function credentials(client: SandboxClient): Record<string, string> {
  return { client_id: client.clientId, client_secret: client.clientSecret };
}

function tokenUrl(): string {
  return sandbox.tokenUrl('oauth2');
}

describe('sandbox OAuth 2.0 token endpoint', () => {
  describe('client credentials grant', () => {
    it('answers a JSON body (seed 004) with a Bearer token, expires_in and Cache-Control: no-store', async () => {
      const answer = await call(tokenUrl(), json({ ...credentials(SERVICE), grant_type: 'client_credentials' }));

      expect(answer.status).toBe(200);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('pragma')).toBe('no-cache');
      const body = fields(answer);
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
      expect(body['token_type']).toBe('Bearer');
      expect(body['expires_in']).toBe(3600);
      expect(sandbox.isValid(String(body['access_token']))).toBe(true);
      expect(sandbox.requests.at(-1)).toMatchObject({
        contentType: 'application/json',
        grantType: 'client_credentials',
        clientAuth: 'body',
        status: 200,
      });
    });

    it('answers a form-urlencoded body', async () => {
      const answer = await call(tokenUrl(), form({ ...credentials(SERVICE), grant_type: 'client_credentials' }));

      expect(answer.status).toBe(200);
      expect(sandbox.isValid(String(fields(answer)['access_token']))).toBe(true);
    });

    it('answers a multipart/form-data body', async () => {
      const answer = await call(tokenUrl(), multipart({ ...credentials(SERVICE), grant_type: 'client_credentials' }));

      expect(answer.status).toBe(200);
      expect(sandbox.isValid(String(fields(answer)['access_token']))).toBe(true);
    });

    it('authenticates a client by HTTP Basic with form-urlencoded id and secret (client_secret_basic)', async () => {
      const answer = await call(
        tokenUrl(),
        form(
          { grant_type: 'client_credentials' },
          { authorization: basicAuth(SERVICE.clientId, SERVICE.clientSecret) },
        ),
      );

      expect(answer.status).toBe(200);
      expect(sandbox.requests.at(-1)).toMatchObject({ clientAuth: 'basic', status: 200 });
    });

    it('refuses a wrong Basic secret with 401 invalid_client and a Basic challenge', async () => {
      const answer = await call(
        tokenUrl(),
        form({ grant_type: 'client_credentials' }, { authorization: basicAuth(SERVICE.clientId, 'wrong') }),
      );

      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toBe('Basic realm="sandbox"');
      expect(fields(answer)).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed' });
    });

    it('refuses Basic credentials that were not form-urlencoded first', async () => {
      const raw = `Basic ${Buffer.from(`${SERVICE.clientId}:${SERVICE.clientSecret}`).toString('base64')}`;

      const answer = await call(tokenUrl(), form({ grant_type: 'client_credentials' }, { authorization: raw }));

      expect(answer.status).toBe(401);
      expect(fields(answer)['error']).toBe('invalid_client');
    });

    it('refuses a wrong body secret with 401 invalid_client and no Basic challenge', async () => {
      const answer = await call(
        tokenUrl(),
        json({ client_id: SERVICE.clientId, client_secret: 'wrong', grant_type: 'client_credentials' }),
      );

      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toBeNull();
      expect(fields(answer)['error']).toBe('invalid_client');
    });

    it('refuses a request without any client authentication with 401 invalid_client', async () => {
      const answer = await call(tokenUrl(), json({ grant_type: 'client_credentials' }));

      expect(answer.status).toBe(401);
      expect(fields(answer)['error']).toBe('invalid_client');
    });

    it('refuses Basic and body credentials at once with 400 invalid_request', async () => {
      const answer = await call(
        tokenUrl(),
        form(
          { ...credentials(SERVICE), grant_type: 'client_credentials' },
          { authorization: basicAuth(SERVICE.clientId, SERVICE.clientSecret) },
        ),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_request');
      expect(sandbox.stats('oauth2').issued).toBe(0);
    });

    it('records scope and audience and attaches them to the token', async () => {
      const answer = await call(
        tokenUrl(),
        json({
          ...credentials(SERVICE),
          grant_type: 'client_credentials',
          scope: 'invoices:read orders',
          audience: 'https://api.example.com',
        }),
      );

      expect(answer.status).toBe(200);
      expect(sandbox.requests.at(-1)).toMatchObject({
        scope: 'invoices:read orders',
        audience: 'https://api.example.com',
      });
      expect(await introspect(sandbox, String(fields(answer)['access_token']))).toMatchObject({
        active: true,
        token_kind: 'access',
        scope: 'invoices:read orders',
        aud: 'https://api.example.com',
      });
    });

    it('refuses a malformed scope with 400 invalid_scope', async () => {
      const answer = await call(
        tokenUrl(),
        json({ ...credentials(SERVICE), grant_type: 'client_credentials', scope: 'a  "b"' }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_scope');
    });
  });

  describe('password grant', () => {
    it('issues a token for the registered resource owner', async () => {
      const answer = await call(
        tokenUrl(),
        form({ ...credentials(USER), grant_type: 'password', username: 'ada', password: 'lovelace' }),
      );

      expect(answer.status).toBe(200);
      expect(fields(answer)).not.toHaveProperty('refresh_token');
      expect(sandbox.stats('oauth2')).toMatchObject({ obtained: 1, issued: 1 });
    });

    it('refuses wrong resource owner credentials with 400 invalid_grant', async () => {
      const answer = await call(
        tokenUrl(),
        form({ ...credentials(USER), grant_type: 'password', username: 'ada', password: 'babbage' }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_grant');
    });

    it('refuses the password grant to a client without a resource owner with 400 unauthorized_client', async () => {
      const answer = await call(
        tokenUrl(),
        form({ ...credentials(SERVICE), grant_type: 'password', username: 'ada', password: 'lovelace' }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('unauthorized_client');
    });
  });

  describe('refresh grant', () => {
    async function obtain(): Promise<{ access: string; refresh: string }> {
      const body = fields(
        await call(tokenUrl(), json({ ...credentials(ROTATING), grant_type: 'client_credentials', scope: 'a b' })),
      );
      return { access: String(body['access_token']), refresh: String(body['refresh_token']) };
    }

    function refresh(token: string, extra: Record<string, string> = {}): ReturnType<typeof call> {
      return call(
        tokenUrl(),
        form({ ...credentials(ROTATING), grant_type: 'refresh_token', refresh_token: token, ...extra }),
      );
    }

    it('rotates: a new pair, the old access token revoked, the old refresh token spent', async () => {
      const first = await obtain();
      expect(first.refresh).not.toBe('undefined');

      const answer = await refresh(first.refresh);

      expect(answer.status).toBe(200);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      const body = fields(answer);
      expect(body['refresh_token']).toEqual(expect.any(String));
      expect(body['refresh_token']).not.toBe(first.refresh);
      expect(sandbox.isValid(String(body['access_token']))).toBe(true);
      expect(sandbox.isValid(first.access)).toBe(false);
      expect(await introspect(sandbox, String(body['access_token']))).toMatchObject({ scope: 'a b' });
      expect(sandbox.stats('oauth2')).toMatchObject({ obtained: 1, refreshed: 1, issued: 2 });
    });

    it('detects reuse of a spent refresh token: 400 invalid_grant, reuseDetected 1, family revoked', async () => {
      const first = await obtain();
      const second = fields(await refresh(first.refresh));

      const reuse = await refresh(first.refresh);

      expect(reuse.status).toBe(400);
      expect(fields(reuse)['error']).toBe('invalid_grant');
      expect(sandbox.stats('oauth2').reuseDetected).toBe(1);
      expect(sandbox.isValid(String(second['access_token']))).toBe(false);
      expect((await refresh(String(second['refresh_token']))).status).toBe(400);
    });

    it('refuses a wider scope with 400 invalid_scope without spending the refresh token', async () => {
      const first = await obtain();

      const wider = await refresh(first.refresh, { scope: 'a b c' });
      const narrower = await refresh(first.refresh, { scope: 'a' });

      expect(wider.status).toBe(400);
      expect(fields(wider)['error']).toBe('invalid_scope');
      expect(narrower.status).toBe(200);
      expect(await introspect(sandbox, String(fields(narrower)['access_token']))).toMatchObject({ scope: 'a' });
    });

    it('refuses the refresh grant to a client registered without refresh tokens', async () => {
      const answer = await call(
        tokenUrl(),
        form({ ...credentials(SERVICE), grant_type: 'refresh_token', refresh_token: 'anything' }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('unauthorized_client');
    });
  });

  describe('malformed requests', () => {
    it('answers a missing grant_type with 400 invalid_request', async () => {
      const answer = await call(tokenUrl(), json(credentials(SERVICE)));

      expect(answer.status).toBe(400);
      expect(fields(answer)).toEqual({ error: 'invalid_request', error_description: 'Missing parameter grant_type' });
    });

    it('answers an unknown grant_type with 400 unsupported_grant_type', async () => {
      const answer = await call(
        tokenUrl(),
        json({ ...credentials(SERVICE), grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('unsupported_grant_type');
    });

    it('answers a JSON body with a non-string value with 400 invalid_request', async () => {
      const answer = await call(
        tokenUrl(),
        json({ ...credentials(SERVICE), grant_type: 'client_credentials', scope: ['a'] }),
      );

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_request');
    });

    it('answers a text/plain body with 400 invalid_request', async () => {
      const answer = await call(tokenUrl(), {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'grant_type=client_credentials',
      });

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_request');
    });

    it('answers a body that is not JSON despite its Content-Type with 400 invalid_request', async () => {
      const answer = await call(tokenUrl(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: 'grant_type=client_credentials',
      });

      expect(answer.status).toBe(400);
      expect(fields(answer)['error']).toBe('invalid_request');
    });
  });
});
