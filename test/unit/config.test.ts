import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { hasReference, isWholeReference, resolveReferences } from '../../src/config/references.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { ConfigError, StoreError } from '../../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tr-config-'));
  await writeFile(join(dir, 'secret.txt'), '  from-a-file\n');
  await writeFile(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env = { CID: '3f9c8962-4c4b-4bb6-b3c1-8fc883519c02', SECRET: 'e'.repeat(32), PW: 'pw' };

function klikoo(extra = '') {
  return `
providers:
  klikoo:
    kind: klikoo
    base_url: https://api.example.test
    client_id: \${env:CID}
    client_secret: \${env:SECRET}
    private_key: \${file:${dir}/key.pem}
${extra}`;
}

async function issuesOf(text: string, environment: NodeJS.ProcessEnv = env): Promise<string[]> {
  try {
    await parseConfig(text, 'test.yaml', environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('references', () => {
  it('recognises whole and embedded references', () => {
    expect(isWholeReference('${env:A}')).toBe(true);
    expect(isWholeReference('x${env:A}')).toBe(false);
    expect(hasReference('https://${env:HOST}/x')).toBe(true);
    expect(hasReference('$${env:A}')).toBe(false);
  });

  it('resolves env, trimmed file and store references, and keeps $${ literal', async () => {
    const { value, issues } = await resolveReferences(
      {
        a: '${env:CID}',
        b: `\${file:${dir}/secret.txt}`,
        c: 'x-${store:creds/klikoo#key}-y',
        d: '$${env:CID}',
        n: 3,
      },
      { env, store: async (path, key) => (path === 'creds/klikoo' && key === 'key' ? 'K' : undefined) },
    );
    expect(issues).toEqual([]);
    expect(value).toEqual({ a: env.CID, b: 'from-a-file', c: 'x-K-y', d: '${env:CID}', n: 3 });
  });

  it('names the field of every reference that cannot be resolved, without its value', async () => {
    const { issues } = await resolveReferences(
      { p: { a: '${env:NOPE}', b: '${file:/does/not/exist}', c: '${store:x#y}' } },
      { env, store: async () => undefined },
    );
    expect([...issues].sort((x, y) => x.path.localeCompare(y.path))).toEqual([
      { path: 'p.a', message: 'environment variable NOPE is not set' },
      { path: 'p.b', message: 'cannot read file /does/not/exist (ENOENT)' },
      { path: 'p.c', message: 'store record x has no key y' },
    ]);
  });

  it('reports a store that cannot answer as a store failure, apart from the wrong references', async () => {
    const outage = new StoreError('could not reach Vault for read of record creds/klikoo');
    const { issues, storeFailures } = await resolveReferences(
      { p: { a: '${store:creds/klikoo#secret}', b: '${env:NOPE}' } },
      {
        env,
        store: async () => {
          throw outage;
        },
      },
    );
    expect(issues).toEqual([{ path: 'p.b', message: 'environment variable NOPE is not set' }]);
    expect(storeFailures).toEqual([{ path: 'p.a', error: outage }]);
  });
});

/** A config of two providers: `klikoo` (its secret from `secret`) and `other` (all from the environment). */
function twoProviders(secret: string) {
  return `${klikoo().replace('${env:SECRET}', secret)}
  other:
    kind: oauth2
    token_url: https://auth.example.test/token
    grant: client_credentials
    client_id: other-client
    client_secret: \${env:SECRET}
`;
}

describe('parseConfig: an unreachable store is not a config error', () => {
  const unreachable = async (): Promise<never> => {
    throw new StoreError('could not reach Vault for read of record creds/klikoo');
  };

  it("rejects resolve() with the store's own StoreError when a ${store:…} reference cannot be read", async () => {
    const loaded = await parseConfig(klikoo().replace('${env:SECRET}', '${store:creds/klikoo#secret}'), 't.yaml', env);
    const error = await loaded.resolve(unreachable).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).not.toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: 'could not reach Vault for read of record creds/klikoo',
    });
  });

  it('wraps a foreign error of the lookup as a StoreError naming the field', async () => {
    const loaded = await parseConfig(klikoo().replace('${env:SECRET}', '${store:creds/klikoo#secret}'), 't.yaml', env);
    const error = await loaded
      .resolve(async () => {
        throw new TypeError('fetch failed');
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toBe(
      'the store failed to read the reference in providers.klikoo.client_secret: fetch failed',
    );
  });

  it('still rejects resolve() with a ConfigError when the store answered without the key', async () => {
    const loaded = await parseConfig(klikoo().replace('${env:SECRET}', '${store:creds/klikoo#secret}'), 't.yaml', env);
    const error = await loaded.resolve(async () => undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'providers.klikoo.client_secret', message: 'store record creds/klikoo has no key secret' },
    ]);
  });
});

describe('parseConfig: resolveEach fails only the provider whose reference fails', () => {
  it('resolves the others and gives the failing provider a ConfigError naming its field', async () => {
    const missing = join(dir, 'removed-secret.txt');
    await writeFile(missing, 's'.repeat(32));
    const loaded = await parseConfig(twoProviders(`\${file:${missing}}`), 't.yaml', env);
    await rm(missing);

    const { names, config, failures } = await loaded.resolveEach(async () => undefined);

    expect(names).toEqual(['klikoo', 'other']);
    expect(Object.keys(config.providers)).toEqual(['other']);
    expect(config.providers['other']).toMatchObject({ kind: 'oauth2', client_secret: env.SECRET });
    expect([...failures.keys()]).toEqual(['klikoo']);
    expect(failures.get('klikoo')).toBeInstanceOf(ConfigError);
    expect((failures.get('klikoo') as ConfigError).issues).toEqual([
      { path: 'providers.klikoo.client_secret', message: `cannot read file ${missing} (ENOENT)` },
    ]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('gives the provider whose ${store:…} reference the store could not answer the StoreError', async () => {
    const outage = new StoreError('could not reach Vault for read of record creds/klikoo');
    const loaded = await parseConfig(twoProviders('${store:creds/klikoo#secret}'), 't.yaml', env);

    const { config, failures } = await loaded.resolveEach(async () => {
      throw outage;
    });

    expect(Object.keys(config.providers)).toEqual(['other']);
    expect(failures.get('klikoo')).toBe(outage);
  });

  it('gives a provider whose resolved value is invalid a ConfigError, leaving the others', async () => {
    const loaded = await parseConfig(twoProviders('${store:creds/klikoo#secret}'), 't.yaml', env);

    const { config, failures } = await loaded.resolveEach(async () => 'short');

    expect(Object.keys(config.providers)).toEqual(['other']);
    expect(failures.get('klikoo')).toBeInstanceOf(ConfigError);
    expect((failures.get('klikoo') as ConfigError).issues.map((i) => i.path)).toEqual([
      'providers.klikoo.client_secret',
    ]);
  });

  it('throws a ConfigError for a reference outside the providers, which no provider can run without', async () => {
    const missing = join(dir, 'removed-schedule.txt');
    await writeFile(missing, '*/5 * * * *');
    const loaded = await parseConfig(
      `policy:\n  schedule: \${file:${missing}}\n${twoProviders('${env:SECRET}')}`,
      't.yaml',
      env,
    );
    await rm(missing);

    const error = await loaded.resolveEach(async () => undefined).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'policy.schedule', message: `cannot read file ${missing} (ENOENT)` },
    ]);
  });
});

describe('parseConfig: resolveEach with the providers about to run', () => {
  it('resolves and validates only the providers named, leaving the others out of config and failures', async () => {
    const missing = join(dir, 'removed-after-load.txt');
    await writeFile(missing, 's'.repeat(32));
    const loaded = await parseConfig(twoProviders(`\${file:${missing}}`), 't.yaml', env);
    await rm(missing);

    const { names, config, failures } = await loaded.resolveEach(async () => undefined, ['other']);

    expect(names).toEqual(['klikoo', 'other']);
    expect(Object.keys(config.providers)).toEqual(['other']);
    expect(failures.size).toBe(0);
  });

  it('returns the same frozen section while its values resolve the same, and a new one once a file changed', async () => {
    const secret = join(dir, 'rotating-secret.txt');
    await writeFile(secret, 'a'.repeat(32));
    const loaded = await parseConfig(twoProviders(`\${file:${secret}}`), 't.yaml', env);

    const first = await loaded.resolveEach(async () => undefined);
    const again = await loaded.resolveEach(async () => undefined, ['klikoo']);
    await writeFile(secret, 'b'.repeat(32));
    const rotated = await loaded.resolveEach(async () => undefined, ['klikoo']);

    expect(again.config.providers['klikoo']).toBe(first.config.providers['klikoo']);
    expect(again.config.policy).toBe(first.config.policy);
    expect(rotated.config.providers['klikoo']).not.toBe(first.config.providers['klikoo']);
    expect(rotated.config.providers['klikoo']).toMatchObject({ client_secret: 'b'.repeat(32) });
    expect(Object.isFrozen(rotated.config.providers['klikoo'])).toBe(true);
  });

  it('shares what resolve() validated with resolveEach, in the key order of validating the whole config', async () => {
    const loaded = await parseConfig(twoProviders('${env:SECRET}'), 't.yaml', env);

    const whole = await loaded.resolve(async () => undefined);
    const each = await loaded.resolveEach(async () => undefined);

    expect(each.config.providers['klikoo']).toBe(whole.providers['klikoo']);
    expect(Object.keys(whole)).toEqual(['store', 'policy', 'providers', 'log_level']);
    expect(Object.isFrozen(whole)).toBe(true);
    expect(Object.isFrozen(whole.providers)).toBe(true);
  });
});

describe('parseConfig: resolve() after loading', () => {
  it('answers its first call with what loading resolved, and reads every file again at the next', async () => {
    const secret = join(dir, 'read-at-load.txt');
    await writeFile(secret, 'a'.repeat(32));
    const loaded = await parseConfig(twoProviders(`\${file:${secret}}`), 't.yaml', env);
    // Changed after loading: the first resolution is loading's own, the second reads the file.
    await writeFile(secret, 'b'.repeat(32));
    const lookups: string[] = [];
    const lookup = async (path: string) => {
      lookups.push(path);
      return undefined;
    };

    const first = await loaded.resolve(lookup);
    const second = await loaded.resolve(lookup);

    expect(first.providers['klikoo']).toMatchObject({ client_secret: 'a'.repeat(32) });
    expect(second.providers['klikoo']).toMatchObject({ client_secret: 'b'.repeat(32) });
    expect(second.providers['other']).toBe(first.providers['other']);
    expect(Object.isFrozen(first)).toBe(true);
    expect(lookups).toEqual([]);
  });

  it('reads a config with a store reference at its first call too', async () => {
    const secret = join(dir, 'read-with-store-reference.txt');
    await writeFile(secret, 'a'.repeat(32));
    const text = twoProviders(`\${file:${secret}}`).replace(
      'client_id: other-client',
      'client_id: ${store:creds/other#id}',
    );
    const loaded = await parseConfig(text, 't.yaml', env);
    await writeFile(secret, 'b'.repeat(32));
    const lookups: string[] = [];

    const config = await loaded.resolve(async (path, key) => {
      lookups.push(`${path}#${key}`);
      return 'other-client-from-the-store';
    });

    expect(lookups).toEqual(['creds/other#id']);
    expect(config.providers['klikoo']).toMatchObject({ client_secret: 'b'.repeat(32) });
    expect(config.providers['other']).toMatchObject({ client_id: 'other-client-from-the-store' });
  });
});

describe('parseConfig: YAML errors', () => {
  it("names the line and column and the parser's reason, never the text of the line", async () => {
    const secretish = 'Zq8vN3mL5pR7tW2x';
    const text = `providers:\n  generic:\n    client_secret: { a: \${file:/run/${secretish}} }\n    x: {\n`;
    const issues = await issuesOf(`${text}`);
    expect(issues).toEqual([
      expect.stringMatching(/^: test\.yaml: not valid YAML or JSON at line \d+, column \d+: \S/),
    ]);
    expect(issues.join()).not.toContain(secretish);
  });

  it('points at the exact position of the first error', async () => {
    const text = 'providers:\n  a:\n    kind: oauth2\n    scopes: [one, two\n    client_id: x\n';
    const error = await parseConfig(text, 'token-rotator.yaml', env).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(
      /^token-rotator\.yaml: not valid YAML or JSON at line 5, column 5: Flow sequence in block collection must be sufficiently indented and end with a \]$/,
    );
  });
});

describe('parseConfig', () => {
  it('accepts a minimal config and fills the defaults', async () => {
    const loaded = await parseConfig(klikoo(), 'test.yaml', env);
    expect(loaded.store).toEqual({ kind: 'file', directory: '.token-rotator' });
    expect(loaded.policy.schedule).toBe('*/5 * * * *');
    const config = await loaded.resolve(async () => undefined);
    expect(config.providers['klikoo']).toMatchObject({ kind: 'klikoo', client_id: env.CID, client_secret: env.SECRET });
    expect(config.providers['klikoo']?.kind === 'klikoo' && config.providers['klikoo'].private_key).toMatch(
      /^-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----$/,
    );
  });

  it('freezes the resolved config', async () => {
    const config = await (await parseConfig(klikoo(), 'test.yaml', env)).resolve(async () => undefined);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.providers['klikoo'])).toBe(true);
  });

  it('requires credentials to be references, never plain text', async () => {
    const text = klikoo().replace('${env:SECRET}', 'plain-text-secret');
    const issues = await issuesOf(text);
    expect(issues).toEqual([expect.stringMatching(/^providers\.klikoo\.client_secret: must be a reference/)]);
    expect(issues.join()).not.toContain('plain-text-secret');
  });

  it('names a missing required field as required', async () => {
    expect(await issuesOf(klikoo().replace(/ {4}private_key:.*\n/, ''))).toEqual([
      'providers.klikoo.private_key: required',
    ]);
  });

  it('defers store references until the store exists, then resolves them', async () => {
    const text = klikoo().replace('${env:SECRET}', '${store:creds/klikoo#secret}');
    const loaded = await parseConfig(text, 'test.yaml', env);
    const fromStore = 's'.repeat(32);
    const config = await loaded.resolve(async (path, key) =>
      path === 'creds/klikoo' && key === 'secret' ? fromStore : undefined,
    );
    expect(config.providers['klikoo']?.kind === 'klikoo' && config.providers['klikoo'].client_secret).toBe(fromStore);
  });

  it('refuses store references in the store section', async () => {
    const text = `store:\n  kind: file\n  directory: \${store:a#b}\n${klikoo()}`;
    expect(await issuesOf(text)).toEqual([
      'store.directory: ${store:…} references cannot be used to configure the store itself',
    ]);
  });
});

describe('configJsonSchema', () => {
  it('describes the providers as a union of the three kinds', () => {
    const schema = JSON.stringify(configJsonSchema());
    for (const kind of ['oauth2', 'keliweb', 'klikoo']) expect(schema).toContain(`"const":"${kind}"`);
    expect(schema).toContain('renew_before_fraction');
  });
});

describe('the aws store section', () => {
  const aws = (store: string, schedule?: string) =>
    klikoo(
      `store: { kind: aws, region: us-east-1${store} }\n${schedule === undefined ? '' : `policy: { schedule: '${schedule}' }\n`}`,
    );

  it('no longer sizes a ring from the schedule: the section loads as written, on any schedule', async () => {
    for (const schedule of [undefined, '*/10 * * * *', '0 * * * *', '*/30 * * * * *']) {
      const loaded = await parseConfig(aws('', schedule), 'test.yaml', env);

      expect(loaded.store).toEqual({ kind: 'aws', region: 'us-east-1', prefix: 'token-rotator/', max_attempts: 3 });
    }
  });

  it('accepts the deprecated ring_size of a 0.1 config (1 to 20) and ignores it', async () => {
    for (const size of [1, 4, 6, 20]) {
      const loaded = await parseConfig(aws(`, ring_size: ${size}`), 'test.yaml', env);

      expect(loaded.store).toMatchObject({ kind: 'aws', ring_size: size });
    }
    expect(await issuesOf(aws(', ring_size: 21'))).toEqual([expect.stringMatching(/^store\.ring_size: /)]);
    expect(await issuesOf(aws(', ring_size: 0'))).toEqual([expect.stringMatching(/^store\.ring_size: /)]);
  });

  it('accepts a prefix of letters, digits and /_.-', async () => {
    for (const prefix of ['tr/', 'team_a/token-rotator.v2/', '/tr/', 'x']) {
      const loaded = await parseConfig(aws(`, prefix: '${prefix}'`), 'test.yaml', env);

      expect(loaded.store).toMatchObject({ prefix });
    }
  });

  it('refuses a prefix with other characters, naming store.prefix', async () => {
    for (const prefix of ['tr tokens/', 'tr:tokens/', 'tr@/', 'tr*/']) {
      expect(await issuesOf(aws(`, prefix: '${prefix}'`))).toEqual([
        'store.prefix: may hold only letters, digits and /_.- (it names secrets and parameters)',
      ]);
    }
  });

  it('refuses a prefix starting with aws or ssm, reserved by SSM, in any case and after leading slashes', async () => {
    for (const prefix of ['aws/', 'AWS-tokens/', 'ssm/', '/ssm/tr/', '//Aws/']) {
      expect(await issuesOf(aws(`, prefix: '${prefix}'`))).toEqual([
        'store.prefix: must not start with "aws" or "ssm" (reserved by SSM)',
      ]);
    }
  });
});
