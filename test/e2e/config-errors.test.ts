import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapWithLimit } from '../../src/engine/pass.js';
import { BIN, Canary } from '../helpers/scenario.js';

// Made at load time: the cases below embed these paths.
const dir = mkdtempSync(join(tmpdir(), 'tr-config-errors-'));
const storeDir = join(dir, 'store-must-not-exist');
const canary = new Canary();
const env: Record<string, string> = {
  KLIKOO_ID: randomUUID(),
  KLIKOO_SECRET: 'k'.repeat(32),
  SHORT_SECRET: 's'.repeat(31),
  OAUTH_SECRET: `oauth-secret-${randomUUID()}`,
  PASSWORD: `pw-${randomUUID()}`,
};

beforeAll(async () => {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  await writeFile(join(dir, 'key.pem'), privateKey, { mode: 0o600 });
  await writeFile(join(dir, 'not-a-key.pem'), 'hello\n', { mode: 0o600 });
  await writeFile(join(dir, 'broken.pem'), '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n', {
    mode: 0o600,
  });
  for (const value of Object.values(env)) canary.addSecret(value);
  canary.addSecret(privateKey);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const store = () => `store:\n  kind: file\n  directory: ${storeDir}\n`;
const klikoo = (overrides: Record<string, string> = {}) => {
  const fields: Record<string, string> = {
    kind: 'klikoo',
    base_url: 'https://b2b.example.test',
    client_id: '${env:KLIKOO_ID}',
    client_secret: '${env:KLIKOO_SECRET}',
    private_key: `\${file:${dir}/key.pem}`,
    ...overrides,
  };
  return `  klikoo:\n${Object.entries(fields)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n')}\n`;
};
const oauth2 = (extra = '') =>
  `  api:\n    kind: oauth2\n    token_url: https://auth.example.test/oauth/token\n    client_id: app\n    client_secret: \${env:OAUTH_SECRET}\n${extra}`;

type Case = { name: string; yaml?: string; file?: string; command?: string; field: string; message: RegExp };

const cases: Case[] = [
  {
    name: 'a missing config file',
    file: 'nope.yaml',
    field: '',
    message: /cannot read config file .*nope\.yaml \(ENOENT\)/,
  },
  { name: 'text that is not YAML', yaml: 'providers: [unclosed\n', field: '', message: /not valid YAML or JSON/ },
  { name: 'a list instead of a mapping', yaml: '- a\n- b\n', field: '', message: /must be a mapping/ },
  { name: 'no providers section', yaml: store(), field: 'providers', message: /required/ },
  {
    name: 'an empty providers section',
    yaml: `${store()}providers: {}\n`,
    field: 'providers',
    message: /at least one provider/,
  },
  {
    name: 'an unknown provider kind',
    yaml: `${store()}providers:\n  x:\n    kind: magic\n`,
    field: 'providers.x.kind',
    message: /./,
  },
  {
    name: 'a missing private key',
    yaml: `${store()}providers:\n${klikoo({ private_key: '' })}`,
    field: 'providers.klikoo.private_key',
    message: /^required$/,
  },
  {
    name: 'a plain-text secret',
    yaml: `${store()}providers:\n${klikoo({ client_secret: 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk' })}`,
    field: 'providers.klikoo.client_secret',
    message: /must be a reference/,
  },
  {
    name: 'an http token URL off loopback',
    yaml: `${store()}providers:\n${klikoo({ base_url: 'http://b2b.example.test' })}`,
    field: 'providers.klikoo.base_url',
    message: /https/,
  },
  {
    name: 'a token URL that is not a URL',
    yaml: `${store()}providers:\n${oauth2().replace('https://auth.example.test/oauth/token', 'auth dot example')}`,
    field: 'providers.api.token_url',
    message: /https/,
  },
  {
    name: 'an unknown top-level key',
    yaml: `${store()}provider:\n  x: 1\nproviders:\n${klikoo()}`,
    field: '',
    message: /Unrecognized key.*"provider"/,
  },
  {
    name: 'a misspelt provider field',
    yaml: `${store()}providers:\n${oauth2('    scopes: read\n')}`,
    field: 'providers.api',
    message: /Unrecognized key.*"scopes"/,
  },
  {
    name: 'a Keliweb preset and base_url together',
    yaml: `${store()}providers:\n  kw:\n    kind: keliweb\n    preset: api-v2\n    base_url: https://x.test\n    client_id: a\n    client_secret: \${env:OAUTH_SECRET}\n    username: u@x.test\n    password: \${env:PASSWORD}\n`,
    field: 'providers.kw.preset',
    message: /exactly one of preset or base_url/,
  },
  {
    name: 'a Keliweb body it does not support',
    yaml: `${store()}providers:\n  kw:\n    kind: keliweb\n    preset: fatture\n    body: json\n    client_id: a\n    client_secret: \${env:OAUTH_SECRET}\n    username: u@x.test\n    password: \${env:PASSWORD}\n`,
    field: 'providers.kw.body',
    message: /./,
  },
  {
    name: 'a password grant without a username',
    yaml: `${store()}providers:\n${oauth2('    grant: password\n    password: ${env:PASSWORD}\n')}`,
    field: 'providers.api.username',
    message: /required for the password grant/,
  },
  {
    name: 'an unset environment variable',
    yaml: `${store()}providers:\n${klikoo({ client_secret: '${env:NOT_SET_ANYWHERE}' })}`,
    field: 'providers.klikoo.client_secret',
    message: /environment variable NOT_SET_ANYWHERE is not set/,
  },
  {
    name: 'a missing referenced file',
    yaml: `${store()}providers:\n${klikoo({ private_key: '${file:/nonexistent/key.pem}' })}`,
    field: 'providers.klikoo.private_key',
    message: /cannot read file \/nonexistent\/key\.pem \(ENOENT\)/,
  },
  {
    name: 'a Klikoo client id that is not a UUID v4',
    yaml: `${store()}providers:\n${klikoo({ client_id: 'not-a-uuid' })}`,
    field: 'providers.klikoo.client_id',
    message: /UUID v4/,
  },
  {
    name: 'a Klikoo secret of the wrong length',
    yaml: `${store()}providers:\n${klikoo({ client_secret: '${env:SHORT_SECRET}' })}`,
    field: 'providers.klikoo.client_secret',
    message: /32 characters/,
  },
  {
    name: 'a private key that is not PEM',
    yaml: `${store()}providers:\n${klikoo({ private_key: `\${file:${dir}/not-a-key.pem}` })}`,
    field: 'providers.klikoo.private_key',
    message: /PKCS#8 PEM/,
  },
  {
    name: 'a PEM private key that does not parse',
    yaml: `${store()}providers:\n${klikoo({ private_key: `\${file:${dir}/broken.pem}` })}`,
    field: 'providers.klikoo',
    message: /cannot be built/,
  },
  {
    name: 'a cron expression that is not one',
    yaml: `${store()}policy:\n  schedule: every five minutes\nproviders:\n${klikoo()}`,
    field: 'policy.schedule',
    message: /not a valid cron expression/,
  },
  {
    name: 'a schedule that cannot keep a 900 s token fresh',
    command: 'validate',
    yaml: `${store()}policy:\n  schedule: "*/15 * * * *"\nproviders:\n${klikoo()}`,
    field: 'policy.schedule',
    message: /provider klikoo: passes up to 900 s apart plus a 60 s margin cannot keep a 900 s token fresh/,
  },
  {
    name: 'a renewal fraction above 1',
    yaml: `${store()}policy:\n  renew_before_fraction: 1.5\nproviders:\n${klikoo()}`,
    field: 'policy.renew_before_fraction',
    message: /below 1/,
  },
  {
    name: 'a negative margin',
    yaml: `${store()}policy:\n  min_margin_seconds: -5\nproviders:\n${klikoo()}`,
    field: 'policy.min_margin_seconds',
    message: /positive/,
  },
  {
    name: 'a lease given as text',
    yaml: `${store()}policy:\n  lease_seconds: "2 minutes"\nproviders:\n${klikoo()}`,
    field: 'policy.lease_seconds',
    message: /number/,
  },
  {
    name: 'an invalid provider name',
    yaml: `${store()}providers:\n  Bad Name:\n    kind: klikoo\n`,
    field: 'providers.Bad Name',
    message: /lower-case/,
  },
  {
    name: 'an unknown store kind',
    yaml: `store:\n  kind: floppy\nproviders:\n${klikoo()}`,
    field: 'store.kind',
    message: /./,
  },
  {
    name: 'a store reference in the store section',
    yaml: `store:\n  kind: file\n  directory: \${store:a#b}\nproviders:\n${klikoo()}`,
    field: 'store.directory',
    message: /cannot be used to configure the store itself/,
  },
  {
    name: 'an unknown log level',
    yaml: `${store()}log_level: loud\nproviders:\n${klikoo()}`,
    field: 'log_level',
    message: /./,
  },
  {
    name: 'an unknown renewal mode',
    yaml: `${store()}providers:\n${klikoo({ renewal: 'sometimes' })}`,
    field: 'providers.klikoo.renewal',
    message: /./,
  },
  {
    name: 'a provider policy override of a global-only setting',
    yaml: `${store()}providers:\n${oauth2('    policy:\n      schedule: "* * * * *"\n')}`,
    field: 'providers.api.policy',
    message: /Unrecognized key.*"schedule"/,
  },
];

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      canary.outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('a malformed config', () => {
  it(`is refused with exit 2, naming the field, before any store is touched (${cases.length} kinds)`, async () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.length).toBeGreaterThanOrEqual(20);
    const results = await mapWithLimit(cases, 4, async (testCase) => {
      const index = cases.indexOf(testCase);
      const path = join(dir, testCase.file ?? `case-${index}.yaml`);
      if (testCase.yaml !== undefined) await writeFile(path, testCase.yaml);
      return { testCase, result: await runCli([testCase.command ?? 'run', '--config', path]) };
    });
    for (const { testCase, result } of results) {
      expect(result.code, `${testCase.name}: ${result.stderr}`).toBe(2);
      const lines = result.stderr.split('\n').map((l) => l.trim());
      const expected = lines.some((line) =>
        testCase.field === ''
          ? testCase.message.test(line)
          : line.startsWith(`${testCase.field}: `) && testCase.message.test(line.slice(testCase.field.length + 2)),
      );
      expect(
        expected,
        `${testCase.name}: expected "${testCase.field}: ${testCase.message}" in:\n${result.stderr}`,
      ).toBe(true);
      expect(result.stdout, testCase.name).toBe('');
    }
    expect(existsSync(storeDir)).toBe(false);
  });

  it('passes validate when nothing is wrong (the cases above differ from it by one fault each)', async () => {
    const path = join(dir, 'good.yaml');
    await writeFile(path, `${store()}providers:\n${klikoo()}${oauth2()}`);
    const result = await runCli(['validate', '--config', path]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(existsSync(storeDir)).toBe(false);
  });

  it('never echoes a credential it was given', () => {
    expect(canary.outputs.length).toBeGreaterThan(cases.length);
    expect(canary.leaks()).toEqual([]);
  });
});
