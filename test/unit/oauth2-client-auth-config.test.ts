/**
 * The config of `oauth2` client authentication (issue 14): each method requires its own
 * credential and refuses the others', every key is a reference, and the JSON Schema
 * (`token-rotator schema`) describes the new fields for editors.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const PEM_BODY = 'MIGHAgEAMBMGByqGSM48AgEGCCqGSM49AwEHBG0wawIBAQQg';
const env = {
  SECRET: 'shared-secret',
  KEY: `-----BEGIN PRIVATE KEY-----\n${PEM_BODY}\n-----END PRIVATE KEY-----`,
  RSA_KEY: `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----`,
  CERT: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
  NOT_A_KEY: `just-text-${PEM_BODY}`,
};

/** A config of one `oauth2` provider `p` with `fields` added. */
function config(fields: string): string {
  return `
providers:
  p:
    kind: oauth2
    token_url: https://auth.example.test/oauth/token
    client_id: rotator
${fields
  .trim()
  .split('\n')
  .map((line) => `    ${line.trim()}`)
  .join('\n')}
`;
}

/** The resolved `p` section of `text`. */
async function sectionOf(text: string): Promise<Record<string, unknown> | undefined> {
  const config = await (await parseConfig(text, 'test.yaml', env)).resolve(async () => undefined);
  return config.providers['p'];
}

async function issuesOf(text: string): Promise<string[]> {
  try {
    await (await parseConfig(text, 'test.yaml', env)).resolve(async () => undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('oauth2 client_auth config', () => {
  it('accepts private_key_jwt with a key reference, key_id and assertion_audience', async () => {
    const section = await sectionOf(
      config(`
        client_auth: private_key_jwt
        private_key: \${env:KEY}
        key_id: rotator-2026
        assertion_audience: https://auth.example.test`),
    );

    expect(section).toMatchObject({
      client_auth: 'private_key_jwt',
      private_key: env.KEY,
      key_id: 'rotator-2026',
    });
  });

  it('accepts tls_client_auth with certificate, key (PKCS#1 too) and CA references', async () => {
    const section = await sectionOf(
      config(`
        client_auth: tls_client_auth
        tls_certificate: \${env:CERT}
        tls_key: \${env:RSA_KEY}
        tls_ca: \${env:CERT}`),
    );

    expect(section).toMatchObject({ client_auth: 'tls_client_auth', tls_key: env.RSA_KEY });
  });

  it('still requires client_secret for the default client_auth, body', async () => {
    expect(await issuesOf(config(''))).toEqual(['providers.p.client_secret: required for client_auth body']);
  });

  it('requires the credential of the chosen method', async () => {
    expect(await issuesOf(config('client_auth: private_key_jwt'))).toEqual([
      'providers.p.private_key: required for client_auth private_key_jwt',
    ]);
    expect(await issuesOf(config('client_auth: tls_client_auth'))).toEqual([
      'providers.p.tls_certificate: required for client_auth tls_client_auth',
      'providers.p.tls_key: required for client_auth tls_client_auth',
    ]);
  });

  it("refuses another method's credential, so a section carries none it does not use", async () => {
    expect(
      await issuesOf(
        config(`
          client_auth: private_key_jwt
          private_key: \${env:KEY}
          client_secret: \${env:SECRET}
          tls_key: \${env:KEY}`),
      ),
    ).toEqual([
      'providers.p.client_secret: not used by client_auth private_key_jwt',
      'providers.p.tls_key: not used by client_auth private_key_jwt',
    ]);
    expect(await issuesOf(config('client_secret: ${env:SECRET}\nkey_id: k1'))).toEqual([
      'providers.p.key_id: not used by client_auth body',
    ]);
  });

  it('refuses a private_key or tls_key written in plain text', async () => {
    const issues = await issuesOf(
      config(`
        client_auth: private_key_jwt
        private_key: ${PEM_BODY}`),
    );

    expect(issues).toEqual([expect.stringMatching(/^providers\.p\.private_key: must be a reference/)]);
    expect(issues.join('\n')).not.toContain(PEM_BODY);
    expect(
      await issuesOf(
        config(`
          client_auth: tls_client_auth
          tls_certificate: \${env:CERT}
          tls_key: ${PEM_BODY}`),
      ),
    ).toEqual([expect.stringMatching(/^providers\.p\.tls_key: must be a reference/)]);
  });

  it('refuses a resolved private_key that is not a PKCS#8 PEM key, without quoting it', async () => {
    const issues = await issuesOf(config('client_auth: private_key_jwt\nprivate_key: ${env:NOT_A_KEY}'));

    expect(issues).toEqual(['providers.p.private_key: must be a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----)']);
    expect(issues.join('\n')).not.toContain(PEM_BODY);
  });

  it('is described by the JSON Schema, with the four methods and the fields each needs', () => {
    const schema = JSON.stringify(configJsonSchema());

    expect(schema).toContain('"enum":["body","basic","private_key_jwt","tls_client_auth"]');
    for (const field of ['private_key', 'key_id', 'assertion_audience', 'tls_certificate', 'tls_key', 'tls_ca'])
      expect(schema).toContain(`"${field}":{`);
  });
});
