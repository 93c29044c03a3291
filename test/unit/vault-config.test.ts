import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const env = {
  SECRET: 's3cret-value',
  JWT: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln',
  TOKEN_PATH: '/run/vault/token',
  VAULT_TOKEN: 'hvs.from-env',
};

/** A config with one provider and the Vault store section's `auth` as given (YAML flow). */
function withAuth(auth: string): string {
  return `store: { kind: vault, address: "https://vault.example.com:8200", auth: ${auth} }
providers: { billing: { kind: oauth2, token_url: "https://auth.example.com/token", client_id: x, client_secret: "\${env:SECRET}" } }`;
}

async function vaultAuth(auth: string): Promise<unknown> {
  const loaded = await parseConfig(withAuth(auth), 'test.yaml', env);
  return loaded.store.kind === 'vault' ? loaded.store.auth : undefined;
}

async function issuesOf(auth: string): Promise<string[]> {
  const error = await parseConfig(withAuth(auth), 'test.yaml', env).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
}

describe('the vault store auth section', () => {
  describe('kubernetes', () => {
    it('defaults the mount and the service account token file', async () => {
      expect(await vaultAuth('{ method: kubernetes, role: token-rotator }')).toEqual({
        method: 'kubernetes',
        mount: 'kubernetes',
        role: 'token-rotator',
        jwt_file: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      });
    });

    it('takes another mount and token file', async () => {
      expect(
        await vaultAuth('{ method: kubernetes, mount: k8s/prod, role: r, jwt_file: /var/run/secrets/tokens/vault }'),
      ).toMatchObject({
        mount: 'k8s/prod',
        jwt_file: '/var/run/secrets/tokens/vault',
      });
    });

    it('names a missing role, a bad mount and an unknown field', async () => {
      expect(await issuesOf('{ method: kubernetes, mount: /k8s/, jwt: x }')).toEqual([
        'store.auth.role: required',
        'store.auth: Unrecognized key: "jwt"',
      ]);
      expect(await issuesOf('{ method: kubernetes, role: r, mount: /k8s/ }')).toEqual([
        'store.auth.mount: must be slash-separated segments of letters, digits, ".", "_" and "-", without leading or trailing slash',
      ]);
    });
  });

  describe('jwt', () => {
    it('takes jwt_file, a plain path that may be a reference', async () => {
      expect(await vaultAuth('{ method: jwt, role: rotator, jwt_file: /var/run/secrets/tokens/vault }')).toEqual({
        method: 'jwt',
        mount: 'jwt',
        role: 'rotator',
        jwt_file: '/var/run/secrets/tokens/vault',
      });
      expect(await vaultAuth('{ method: jwt, role: rotator, jwt_file: "${env:TOKEN_PATH}" }')).toMatchObject({
        jwt_file: '/run/vault/token',
      });
    });

    it('still takes jwt as a reference resolved at load', async () => {
      expect(await vaultAuth('{ method: jwt, role: rotator, jwt: "${env:JWT}" }')).toMatchObject({ jwt: env.JWT });
    });

    it('wants exactly one of jwt and jwt_file, naming the field', async () => {
      expect(await issuesOf('{ method: jwt, role: rotator, jwt: "${env:JWT}", jwt_file: /x }')).toEqual([
        'store.auth.jwt_file: give either jwt or jwt_file, not both',
      ]);
      expect(await issuesOf('{ method: jwt, role: rotator }')).toEqual([
        'store.auth.jwt: required: give jwt or jwt_file',
      ]);
    });

    it('refuses a JWT written in plain text, without repeating it', async () => {
      const issues = await issuesOf(`{ method: jwt, role: rotator, jwt: ${env.JWT} }`);
      expect(issues).toEqual([
        'store.auth.jwt: must be a reference (${env:NAME}, ${file:/path} or ${store:PATH#KEY}), never plain text',
      ]);
    });
  });

  describe('token', () => {
    it('takes token or token_file', async () => {
      expect(await vaultAuth('{ method: token, token: "${env:VAULT_TOKEN}" }')).toEqual({
        method: 'token',
        token: 'hvs.from-env',
      });
      expect(await vaultAuth('{ method: token, token_file: /run/vault/token }')).toEqual({
        method: 'token',
        token_file: '/run/vault/token',
      });
    });

    it('wants exactly one of token and token_file, naming the field', async () => {
      expect(await issuesOf('{ method: token, token: "${env:VAULT_TOKEN}", token_file: /x }')).toEqual([
        'store.auth.token_file: give either token or token_file, not both',
      ]);
      expect(await issuesOf('{ method: token }')).toEqual(['store.auth.token: required: give token or token_file']);
    });
  });

  describe('aws', () => {
    it('defaults the mount and leaves region and server id header unset', async () => {
      expect(await vaultAuth('{ method: aws, role: token-rotator }')).toEqual({
        method: 'aws',
        mount: 'aws',
        role: 'token-rotator',
      });
    });

    it('takes a region and a server id header', async () => {
      expect(
        await vaultAuth('{ method: aws, role: r, region: eu-west-1, server_id_header: vault.example.com }'),
      ).toMatchObject({
        region: 'eu-west-1',
        server_id_header: 'vault.example.com',
      });
      expect(await vaultAuth('{ method: aws, role: r, region: us-gov-west-1 }')).toMatchObject({
        region: 'us-gov-west-1',
      });
    });

    it('names a region that is not one, a missing role and an unknown field', async () => {
      expect(await issuesOf('{ method: aws, role: r, region: Ireland }')).toEqual([
        'store.auth.region: must be an AWS region such as eu-west-1',
      ]);
      expect(await issuesOf('{ method: aws, access_key: x }')).toEqual([
        'store.auth.role: required',
        'store.auth: Unrecognized key: "access_key"',
      ]);
    });
  });

  it('names an unknown method', async () => {
    const issues = await issuesOf('{ method: ldap, role: r }');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^store\.auth\.method: /);
  });

  it('describes every method in the JSON Schema for editors', () => {
    const text = JSON.stringify(configJsonSchema());
    for (const method of ['token', 'approle', 'jwt', 'kubernetes', 'aws'])
      expect(text).toContain(`"const":"${method}"`);
    for (const field of ['jwt_file', 'token_file', 'server_id_header']) expect(text).toContain(`"${field}"`);
  });
});
