/**
 * The config of revocation (issue 14): `revocation_url` is a URL checked like `token_url`,
 * `revoke_superseded` defaults to false and needs a `revocation_url`, and the JSON Schema
 * (`token-rotator schema`) describes both for editors.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';

const env = { SECRET: 'shared-secret' };

/** A config of one `oauth2` provider `p` with `fields` added. */
function config(fields: string): string {
  return `
providers:
  p:
    kind: oauth2
    token_url: https://auth.example.test/oauth/token
    client_id: rotator
    client_secret: \${env:SECRET}
${fields
  .trim()
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => `    ${line.trim()}`)
  .join('\n')}
`;
}

async function sectionOf(text: string): Promise<Record<string, unknown> | undefined> {
  const loaded = await parseConfig(text, 'test.yaml', env);
  return (await loaded.resolve(async () => undefined)).providers['p'];
}

async function issuesOf(text: string): Promise<string[]> {
  const error = await sectionOf(text).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
}

describe('oauth2 revocation config', () => {
  it('has neither a revocation_url nor revoke_superseded unless configured', async () => {
    expect(await sectionOf(config(''))).toMatchObject({ revoke_superseded: false });
    expect(await sectionOf(config(''))).not.toHaveProperty('revocation_url');
  });

  it('accepts a revocation_url with revoke_superseded', async () => {
    const section = await sectionOf(
      config('revocation_url: https://auth.example.test/oauth/revoke\nrevoke_superseded: true'),
    );
    expect(section).toMatchObject({
      revocation_url: 'https://auth.example.test/oauth/revoke',
      revoke_superseded: true,
    });
  });

  it('refuses revoke_superseded without a revocation_url', async () => {
    expect(await issuesOf(config('revoke_superseded: true'))).toEqual([
      'providers.p.revoke_superseded: needs revocation_url',
    ]);
  });

  it('refuses a revocation_url over plain http to a host that is not loopback', async () => {
    const issues = await issuesOf(config('revocation_url: http://auth.example.test/oauth/revoke'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^providers\.p\.revocation_url: /);
  });

  it('describes both fields in the JSON Schema', () => {
    const text = JSON.stringify(configJsonSchema());
    expect(text).toContain('"revocation_url"');
    expect(text).toContain('"revoke_superseded"');
    expect(text).toMatch(/RFC 7009 revocation endpoint/);
  });
});
