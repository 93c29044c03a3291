/**
 * The built Lambda bundle (dist-lambda/index.mjs) invoked as the nodejs22.x runtime
 * invokes it, under Node 22 installed from npm (.tools/node22, by the test-peer script):
 * a runner imports the bundle once per process, as one container, and calls
 * handler(event, context) with an EventBridge "Scheduled Event" and a context object.
 * Providers are the sandbox's, the store is AWS Secrets Manager on moto; every byte the
 * function prints is kept so the canary can prove that no credential or token leaked.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { createTokenReader } from '../../src/reader.js';
import { startDemoSandbox, writeWorkspace } from '../../src/runtimes/demo.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import type { SecretStore } from '../../src/stores/contract.js';
import { createStore } from '../../src/stores/registry.js';
import { NO_CREDENTIALS_HELP } from '../../src/stores/shared/aws-credentials.js';
import { type AwsCall, startAwsCallCounter } from '../helpers/aws-call-counter.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';
import { listRecords } from '../helpers/record-lister.js';
import { Canary, PROVIDERS } from '../helpers/scenario.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BUNDLE = join(ROOT, 'dist-lambda/index.mjs');
const NODE22 = join(ROOT, '.tools/node22/node_modules/node/bin/node');
const RUNNER = join(ROOT, 'test/lambda/invoke.mjs');
const FUNCTION_NAME = 'token-rotator-e2e-rotate';

/** What one runner process (one container) printed and returned. */
interface Container {
  readonly code: number | null;
  readonly runtime: string;
  readonly invocations: { invocation: number; result?: Summary; errorType?: string; errorMessage?: string }[];
  /** EMF lines (stdout). */
  readonly emf: Record<string, unknown>[];
  /** pino lines (stderr). */
  readonly logs: Record<string, unknown>[];
}

interface Summary {
  ok: boolean;
  counts: Record<string, number>;
  outcomes: { provider: string; status: string; ok: boolean }[];
}

let moto: Moto;
let sandbox: Sandbox;
let secrets: DemoSecrets;
let dir: string;
let baseConfig: Record<string, unknown>;
const canary = new Canary();
const stores: SecretStore[] = [];

beforeAll(async () => {
  for (const path of [BUNDLE, NODE22]) {
    if (!existsSync(path))
      throw new Error(`${path} is missing: run npm run test-peers and npm run bundle:lambda (npm test does)`);
  }
  for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
  moto = await startMoto();
  ({ sandbox, secrets } = await startDemoSandbox());
  dir = await mkdtemp(join(tmpdir(), 'tr-lambda-e2e-'));
  // The sandbox workspace's config (credentials in 0600 files, referenced), short policy.
  const path = await writeWorkspace(dir, sandbox, secrets, {
    policy: { lease_seconds: 10, request_timeout_seconds: 3, retries: 0 },
  });
  baseConfig = parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  canary.addDemoSecrets(secrets);
});

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await sandbox?.close();
  await moto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

/** The sandbox config on the AWS store at moto (or at `endpoint` in front of it), under a prefix of its own. */
function awsConfig(prefix: string, providers = baseConfig['providers'], endpoint = moto.endpoint): string {
  return stringify({
    ...baseConfig,
    store: { kind: 'aws', prefix, region: MOTO_ENV.AWS_REGION, endpoint },
    providers,
  });
}

/** The store the function writes to, through the public API, to read what it wrote. */
async function storeOf(configText: string): Promise<SecretStore> {
  const store = await createStore((await parseConfig(configText, 'test', {})).store);
  stores.push(store);
  return store;
}

const newPrefix = () => `lambda-${randomUUID().slice(0, 8)}/`;

/** Runs the bundle in a Node 22 process for `count` invocations with a Lambda-like environment. */
async function container(env: Record<string, string>, count = 1): Promise<Container> {
  const child = spawn(NODE22, [RUNNER, BUNDLE, String(count)], {
    env: {
      ...MOTO_ENV,
      AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
      LAMBDA_TASK_ROOT: dirname(BUNDLE),
      LAMBDA_TIMEOUT_MS: '60000',
      // The SDK's own endpoint setting, for the config secret; the store has its endpoint in config.
      AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearTimeout(timer);
  canary.outputs.push(stdout, stderr);

  const lines = stdout.split('\n').filter(Boolean);
  const invoke = lines
    .filter((line) => line.startsWith('@@invoke '))
    .map((line) => JSON.parse(line.slice(9)) as Record<string, unknown>);
  const json = (text: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    code,
    runtime: String(invoke.find((line) => 'runtime' in line)?.['runtime']),
    invocations: invoke.filter((line) => 'invocation' in line) as unknown as Container['invocations'],
    emf: json(stdout).filter((line) => '_aws' in line),
    logs: json(stderr),
  };
}

const providerLine = (c: Container, provider: string) => c.emf.filter((line) => line['Provider'] === provider);

describe('the Lambda bundle under Node 22', () => {
  it('rotates every provider into Secrets Manager on the first invocation, finds them fresh on the second, and loads the config once', async () => {
    const prefix = newPrefix();
    const config = awsConfig(prefix);

    const run = await container({ TOKEN_ROTATOR_CONFIG: config }, 2);

    expect(run.runtime).toMatch(/^v22\./);
    expect(run.code).toBe(0);
    const [first, second] = run.invocations;
    expect(first!.result!.counts['rotated']).toBe(PROVIDERS.length);
    expect(second!.result!.counts['fresh']).toBe(PROVIDERS.length);
    expect(run.logs.filter((line) => line['msg'] === 'lambda cold start: config loaded')).toEqual([
      expect.objectContaining({ source: 'environment variable TOKEN_ROTATOR_CONFIG', store: 'aws' }),
    ]);
    const reader = createTokenReader({ store: await storeOf(config) });
    for (const provider of PROVIDERS) {
      expect(sandbox.isValid((await reader.get(provider)).accessToken)).toBe(true);
      expect(providerLine(run, provider).map((line) => line['Rotations'])).toEqual([1, 0]);
      expect(providerLine(run, provider)[0]!['SecondsToExpiry']).toBeGreaterThan(0);
    }
    expect(run.emf.filter((line) => line['PassDuration'] !== undefined)).toHaveLength(2);
    expect(run.emf.every((line) => line['Service'] === FUNCTION_NAME)).toBe(true);
  });

  it("reads no fresh provider's records in a warm invocation between full checks, counted on the wire", async () => {
    const counter = await startAwsCallCounter(moto.endpoint);
    try {
      /** Three invocations in one container; the calls that name a provider's record. */
      const threeInvocations = async (env: Record<string, string>) => {
        const prefix = newPrefix();
        counter.reset();
        const run = await container(
          { TOKEN_ROTATOR_CONFIG: awsConfig(prefix, undefined, counter.endpoint), ...env },
          3,
        );
        const isRecord = (call: AwsCall) =>
          call.resource !== undefined && /(?:^|[/,])(?:tokens|state)\//.test(call.resource.replaceAll(prefix, '/'));
        return { run, recordCalls: counter.calls().filter(isRecord) };
      };

      const skipping = await threeInvocations({});
      const everyTime = await threeInvocations({ TOKEN_ROTATOR_FULL_CHECK_SECONDS: '0' });

      for (const { run } of [skipping, everyTime]) {
        expect(run.code).toBe(0);
        expect(run.invocations.map((i) => i.result?.counts['fresh'])).toEqual([0, PROVIDERS.length, PROVIDERS.length]);
      }
      // The second invocation reads every provider (none was yet found fresh), the third
      // only where a full check is every time: one idle pass, two records per provider.
      const idlePass = everyTime.recordCalls.length - skipping.recordCalls.length;
      expect(idlePass).toBe(2 * PROVIDERS.length);
      const reads = (calls: readonly AwsCall[]) => calls.filter((c) => /^Get|^BatchGet/.test(c.operation)).length;
      expect(reads(everyTime.recordCalls) - reads(skipping.recordCalls)).toBe(idlePass);
    } finally {
      await counter.stop();
    }
  });

  it("takes the execution role's credentials from the container endpoint when the environment has none", async () => {
    // What Lambda serves where an environment outlives one set of keys (SnapStart): the
    // container credentials endpoint, behind an authorization token.
    const role = {
      AccessKeyId: `container-${randomUUID()}`,
      SecretAccessKey: randomUUID(),
      Token: randomUUID(),
      Expiration: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const authorization = randomUUID();
    for (const secret of [role.SecretAccessKey, role.Token, authorization]) canary.addSecret(secret);
    const fetches: (string | undefined)[] = [];
    const endpoint = createServer((request, response) => {
      fetches.push(request.headers.authorization);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(role));
    });
    endpoint.listen(0, '127.0.0.1');
    await once(endpoint, 'listening');
    const counter = await startAwsCallCounter(moto.endpoint);
    try {
      const run = await container(
        {
          TOKEN_ROTATOR_CONFIG: awsConfig(newPrefix(), undefined, counter.endpoint),
          AWS_ACCESS_KEY_ID: '',
          AWS_SECRET_ACCESS_KEY: '',
          AWS_SESSION_TOKEN: '',
          AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/role`,
          AWS_CONTAINER_AUTHORIZATION_TOKEN: authorization,
        },
        2,
      );

      expect(run.code).toBe(0);
      expect(run.invocations.map((i) => i.result?.counts['rotated'])).toEqual([PROVIDERS.length, 0]);
      // Every call signed with the endpoint's key, and the key kept until near its expiry:
      // fetched twice in all (as the SDK's default chain does here), not once per call.
      expect(counter.calls().length).toBeGreaterThan(2 * PROVIDERS.length);
      expect(new Set(counter.calls().map((call) => call.accessKeyId))).toEqual(new Set([role.AccessKeyId]));
      expect(fetches.length).toBeLessThanOrEqual(2);
      expect(new Set(fetches)).toEqual(new Set([authorization]));
    } finally {
      endpoint.close();
      await counter.stop();
    }
  });

  it('with no credentials in the environment nor a container endpoint, fails saying where to give them', async () => {
    const run = await container({
      TOKEN_ROTATOR_CONFIG: awsConfig(newPrefix()),
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
    });

    expect(run.code).toBe(1);
    expect(run.invocations[0]!.errorMessage).toBe(
      `token-rotator pass failed for 4 of 4 providers: ${PROVIDERS.map((p) => `${p} (failed, store STORE_UNAVAILABLE)`).join(', ')}`,
    );
    const failures = run.logs.filter((line) => line['msg'] === 'provider failed');
    expect(failures).toHaveLength(PROVIDERS.length);
    for (const line of failures)
      expect((line['err'] as { message: string }).message).toContain(
        `(CredentialsProviderError: ${NO_CREDENTIALS_HELP})`,
      );
  });

  it('takes its config from a Secrets Manager secret, with credentials referenced from the store', async () => {
    const prefix = newPrefix();
    // Every credential moves from its file into a store record the config references.
    const providers: Record<string, Record<string, unknown>> = {};
    const credentials: Record<string, Record<string, string>> = {};
    for (const [name, provider] of Object.entries(baseConfig['providers'] as Record<string, Record<string, unknown>>)) {
      providers[name] = { ...provider };
      for (const [key, value] of Object.entries(provider)) {
        const file = typeof value === 'string' ? /^\$\{file:(.+)\}$/.exec(value)?.[1] : undefined;
        if (file === undefined) continue;
        const stored = credentials[name] ?? {};
        stored[key] = (await readFile(file, 'utf8')).trim();
        credentials[name] = stored;
        providers[name][key] = `\${store:credentials/${name}#${key}}`;
      }
    }
    const config = awsConfig(prefix, providers);
    expect(config).not.toContain('${file:');
    const store = await storeOf(config);
    for (const [name, values] of Object.entries(credentials)) await store.write(`credentials/${name}`, values, null);
    const raw = new SecretsManagerClient({ endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION });
    await raw.send(new CreateSecretCommand({ Name: `${prefix}config`, SecretString: config }));
    raw.destroy();

    const run = await container({ TOKEN_ROTATOR_CONFIG_SECRET: `${prefix}config` });

    expect(run.code).toBe(0);
    expect(run.invocations[0]!.result!.counts['rotated']).toBe(PROVIDERS.length);
    expect(run.logs).toContainEqual(
      expect.objectContaining({ msg: 'lambda cold start: config loaded', source: `secret ${prefix}config` }),
    );
    const token = await createTokenReader({ store }).get('klikoo');
    expect(sandbox.isValid(token.accessToken)).toBe(true);
  });

  it('fails the invocation when a provider fails, naming it and its class, with a failure in its EMF line', async () => {
    const prefix = newPrefix();
    const config = awsConfig(prefix);
    sandbox.injectFault({ type: 'status', status: 503, target: 'klikoo' });

    const run = await container({ TOKEN_ROTATOR_CONFIG: config });

    expect(run.code).toBe(1);
    expect(run.invocations[0]).toMatchObject({
      errorType: 'PassFailedError',
      errorMessage: 'token-rotator pass failed for 1 of 4 providers: klikoo (failed, retryable PROVIDER_RETRYABLE)',
    });
    expect(providerLine(run, 'klikoo')).toEqual([
      expect.objectContaining({ Failures: 1, Rotations: 0, FailureClass: 'retryable' }),
    ]);
    expect(providerLine(run, 'generic')).toEqual([expect.objectContaining({ Failures: 0, Rotations: 1 })]);
    const reader = createTokenReader({ store: await storeOf(config) });
    expect(sandbox.isValid((await reader.get('generic')).accessToken)).toBe(true);
    await expect(reader.get('klikoo')).rejects.toThrow(/klikoo/);
  });

  it('fails at the cold start on a bad config, naming the field, calling no provider and writing nothing', async () => {
    const prefix = newPrefix();
    const config = awsConfig(prefix).replace(
      /^(\s+)client_secret: \$\{file:.*generic-client-secret.*$/m,
      '$1client_secret: not-a-reference',
    );
    expect(config).toContain('not-a-reference');

    const requests = sandbox.requests.length;

    const run = await container({ TOKEN_ROTATOR_CONFIG: config });

    expect(run.code).toBe(1);
    expect(sandbox.requests.length).toBe(requests);
    expect(run.invocations[0]!.errorType).toBe('ConfigError');
    expect(run.invocations[0]!.errorMessage).toMatch(/^providers\.generic\.client_secret: must be a reference/);
    expect(run.emf).toEqual([]);
    expect(await listRecords(await storeOf(awsConfig(prefix)), '')).toEqual([]);
  });

  it("imports without loading Node's undici, which only a token call needs", async () => {
    // On Node 22 an `import` of node:http loads undici (its WebSocket getters): about 15 ms
    // of a cold start that finds every token fresh.
    const probe = `await import(${JSON.stringify(pathToFileURL(BUNDLE).href)});
      process.stdout.write(JSON.stringify(process.moduleLoadList.filter((m) => /undici/.test(m))));`;
    const child = spawn(NODE22, ['--input-type=module', '-e', probe], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    expect(await new Promise((done) => child.on('close', done))).toBe(0);

    expect(JSON.parse(stdout)).toEqual([]);
  });

  it('never prints a credential or a token', async () => {
    for (const token of sandbox.issuedTokens()) canary.addSecret(token);

    expect(canary.secrets.size).toBeGreaterThan(8);
    expect(canary.outputs.join('').length).toBeGreaterThan(0);
    expect(canary.leaks()).toEqual([]);
  });
});
