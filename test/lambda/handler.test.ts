/**
 * The Lambda handler in process: where its config comes from, what it does with a bad
 * one, and how a pass is bounded by the invocation's deadline, against the provider
 * sandbox on loopback and the file store in a temp directory. The built bundle, under
 * the runtime's Node major and against moto, is proven in test/e2e/lambda.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { emptyState } from '../../src/engine/records.js';
import { ConfigError } from '../../src/errors.js';
import { startDemoSandbox, writeWorkspace } from '../../src/runtimes/demo.js';
import { createHandler, PassFailedError, reserveMs } from '../../src/runtimes/lambda.js';
import { configSource, loadLambdaConfig } from '../../src/runtimes/lambda-config.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import { createStore } from '../../src/stores/registry.js';
import { Canary } from '../helpers/scenario.js';

const PROVIDERS = ['keliweb-api', 'keliweb-fatture', 'klikoo', 'generic'];

let sandbox: Sandbox;
let secrets: DemoSecrets;
let root: string;
const canary = new Canary();

beforeAll(async () => {
  ({ sandbox, secrets } = await startDemoSandbox());
  root = await mkdtemp(join(tmpdir(), 'tr-lambda-'));
  canary.addDemoSecrets(secrets);
});

afterAll(async () => {
  for (const token of sandbox?.issuedTokens() ?? []) canary.addSecret(token);
  expect(canary.leaks()).toEqual([]);
  await sandbox?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

let workspaces = 0;
/** A fresh config for the sandbox with its own file store; returns the config path. */
async function workspace(policy: Record<string, unknown> = {}): Promise<{ configPath: string; storeDir: string }> {
  const dir = join(root, `w${++workspaces}`);
  const storeDir = join(dir, 'store');
  const configPath = await writeWorkspace(dir, sandbox, secrets, {
    storeDirectory: storeDir,
    logLevel: 'debug',
    policy: { lease_seconds: 60, request_timeout_seconds: 2, retries: 0, ...policy },
  });
  return { configPath, storeDir };
}

function event(): ScheduledEvent {
  return {
    version: '0',
    id: 'c2a4c5e6-0000-4000-8000-000000000001',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/token-rotator-test'],
    detail: {},
  };
}

function context(remainingMs = 300_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'token-rotator-test-rotate',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:token-rotator-test-rotate',
    memoryLimitInMB: '256',
    awsRequestId: `req-${Math.random().toString(16).slice(2)}`,
    logGroupName: '/aws/lambda/token-rotator-test-rotate',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A handler whose logs and metrics are captured (and fed to the canary). */
function capturedHandler(env: NodeJS.ProcessEnv, bundleDir = root) {
  const logs = new PassThrough();
  const metrics = new PassThrough();
  const out = { logs: '', metrics: '' };
  logs.on('data', (chunk: Buffer) => (out.logs += chunk.toString()));
  metrics.on('data', (chunk: Buffer) => (out.metrics += chunk.toString()));
  // The file store in a temp directory stands in for a durable one (a deployed function refuses it).
  const handler = createHandler({ env, bundleDir, logDestination: logs, metricsOut: metrics, allowFileStore: true });
  const emf = () =>
    out.metrics
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    handler,
    out,
    emf,
    done: () => canary.outputs.push(out.logs, out.metrics),
  };
}

describe('configSource', () => {
  const dir = '/var/task/dist-lambda';

  it('prefers the config text, then a file, then a secret, then config.yaml beside the bundle', () => {
    const all = {
      TOKEN_ROTATOR_CONFIG: 'providers: {}',
      TOKEN_ROTATOR_CONFIG_FILE: '/etc/tr.yaml',
      TOKEN_ROTATOR_CONFIG_SECRET: 'token-rotator/config',
    };

    expect(configSource(all, dir)).toEqual({ kind: 'env', name: 'TOKEN_ROTATOR_CONFIG' });
    expect(configSource({ ...all, TOKEN_ROTATOR_CONFIG: undefined }, dir)).toEqual({
      kind: 'file',
      path: '/etc/tr.yaml',
    });
    expect(configSource({ TOKEN_ROTATOR_CONFIG_SECRET: 'token-rotator/config' }, dir)).toEqual({
      kind: 'secret',
      id: 'token-rotator/config',
    });
    expect(configSource({}, dir)).toEqual({ kind: 'file', path: '/var/task/dist-lambda/config.yaml' });
  });

  it('treats empty variables as unset, as a deployment template leaves them', () => {
    expect(
      configSource({ TOKEN_ROTATOR_CONFIG: '', TOKEN_ROTATOR_CONFIG_FILE: ' ', TOKEN_ROTATOR_CONFIG_SECRET: '' }, dir),
    ).toEqual({
      kind: 'file',
      path: '/var/task/dist-lambda/config.yaml',
    });
  });
});

describe('loadLambdaConfig', () => {
  const valid = `providers:\n  generic:\n    kind: oauth2\n    token_url: https://auth.example.com/token\n    client_id: c\n    client_secret: \${env:GENERIC_SECRET}\n`;

  it('parses the config text of TOKEN_ROTATOR_CONFIG', async () => {
    const { loaded, source } = await loadLambdaConfig({
      env: { TOKEN_ROTATOR_CONFIG: valid, GENERIC_SECRET: 's' },
      bundleDir: root,
    });

    expect(source.kind).toBe('env');
    expect(loaded.path).toBe('TOKEN_ROTATOR_CONFIG');
  });

  it('explains that TOKEN_ROTATOR_CONFIG holds text, not a path as in the CLI', async () => {
    const error = await loadLambdaConfig({
      env: { TOKEN_ROTATOR_CONFIG: '/var/task/token-rotator.yaml' },
      bundleDir: root,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/holds the config text itself.*TOKEN_ROTATOR_CONFIG_FILE/);
  });

  it('reads config.yaml beside the bundle when no variable is set', async () => {
    const dir = await mkdtemp(join(root, 'bundle-'));
    await writeFile(join(dir, 'config.yaml'), valid);

    const { loaded, source } = await loadLambdaConfig({ env: { GENERIC_SECRET: 's' }, bundleDir: dir });

    expect(source).toEqual({ kind: 'file', path: join(dir, 'config.yaml') });
    expect(loaded.store.kind).toBe('file');
  });

  it('accepts the example in deploy/aws, which keeps the schedule serverless.yml runs on', async () => {
    const path = join(import.meta.dirname, '../../deploy/aws/lambda-config.example.yaml');

    const { loaded } = await loadLambdaConfig({ env: { TOKEN_ROTATOR_CONFIG_FILE: path }, bundleDir: root });

    expect(loaded.store).toMatchObject({ kind: 'aws', prefix: 'token-rotator/' });
    expect(loaded.policy.schedule).toBe('*/5 * * * *');
    expect(await readFile(join(import.meta.dirname, '../../serverless.yml'), 'utf8')).toMatch(
      /^\s+schedule: rate\(5 minutes\)$/m,
    );
  });

  it('parses the string of the secret TOKEN_ROTATOR_CONFIG_SECRET names', async () => {
    const asked: string[] = [];
    const readSecret = async (id: string) => {
      asked.push(id);
      return valid;
    };

    const { source } = await loadLambdaConfig({
      env: { TOKEN_ROTATOR_CONFIG_SECRET: 'token-rotator/config', GENERIC_SECRET: 's' },
      bundleDir: root,
      readSecret,
    });

    expect(asked).toEqual(['token-rotator/config']);
    expect(source).toEqual({ kind: 'secret', id: 'token-rotator/config' });
  });

  it('reports an unreadable secret by the exception name only, never its message', async () => {
    const readSecret = async () => {
      throw Object.assign(new Error('Secrets Manager cannot find the specified secret; request body …'), {
        name: 'ResourceNotFoundException',
      });
    };

    const error = await loadLambdaConfig({
      env: { TOKEN_ROTATOR_CONFIG_SECRET: 'token-rotator/config' },
      bundleDir: root,
      readSecret,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      'cannot read config secret token-rotator/config (ResourceNotFoundException)',
    );
  });
});

/**
 * Two invocations with `variable` set to `value` both fail with a ConfigError whose one
 * issue names the variable with `message`, before the config is loaded: no store, no call.
 */
async function expectRefusedAtEveryInvocation(variable: string, value: string, message: string): Promise<void> {
  const { configPath, storeDir } = await workspace();
  const { handler, out, done } = capturedHandler({ TOKEN_ROTATOR_CONFIG_FILE: configPath, [variable]: value });
  const requests = sandbox.requests.length;

  const first = await handler(event(), context()).catch((e: unknown) => e);
  const second = await handler(event(), context()).catch((e: unknown) => e);
  done();

  for (const error of [first, second]) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([{ path: variable, message }]);
  }
  expect(out.logs).toMatch(/"msg":"invalid config"/);
  expect(out.logs).not.toContain('config loaded');
  expect(out.metrics).toBe('');
  expect(existsSync(storeDir)).toBe(false);
  expect(sandbox.requests.length).toBe(requests);
}

describe('createHandler', () => {
  it('rotates every provider on the first invocation and reports fresh tokens on the next, loading the config once', async () => {
    const { configPath, storeDir } = await workspace();
    const { handler, out, emf, done } = capturedHandler({ TOKEN_ROTATOR_CONFIG_FILE: configPath });

    const first = await handler(event(), context());
    const second = await handler(event(), context());
    done();

    expect(first.counts.rotated).toBe(PROVIDERS.length);
    expect(second.counts.fresh).toBe(PROVIDERS.length);
    expect(out.logs.match(/lambda cold start: config loaded/g)).toHaveLength(1);
    const stored = JSON.parse(await readFile(join(storeDir, 'tokens', 'klikoo.json'), 'utf8')) as {
      data: { access_token: string };
    };
    expect(sandbox.isValid(stored.data.access_token)).toBe(true);
    const rotations = emf()
      .filter((line) => line['Provider'] !== undefined)
      .map((line) => line['Rotations']);
    expect(rotations).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it('fails the invocation naming the failed provider and its class when a provider fails', async () => {
    const { configPath } = await workspace();
    const { handler, emf, done } = capturedHandler({ TOKEN_ROTATOR_CONFIG_FILE: configPath });
    sandbox.injectFault({ type: 'status', status: 503, target: 'oauth2' });

    const error = await handler(event(), context()).catch((e: unknown) => e);
    done();

    expect(error).toBeInstanceOf(PassFailedError);
    expect((error as Error).message).toBe(
      'token-rotator pass failed for 1 of 4 providers: generic (failed, retryable PROVIDER_RETRYABLE)',
    );
    expect(emf().find((line) => line['Provider'] === 'generic')).toMatchObject({
      Failures: 1,
      Rotations: 0,
      FailureClass: 'retryable',
    });
    expect(emf().find((line) => line['Provider'] === 'klikoo')).toMatchObject({ Failures: 0, Rotations: 1 });
  });

  it('rejects a bad config at the cold start naming the field, before the store exists, and retries loading next time', async () => {
    const { configPath, storeDir } = await workspace();
    const good = await readFile(configPath, 'utf8');
    const env: NodeJS.ProcessEnv = {
      TOKEN_ROTATOR_CONFIG: good.replace(
        /client_secret: .*generic-client-secret.*$/m,
        'client_secret: plain-text-secret',
      ),
    };
    const { handler, out, done } = capturedHandler(env);

    const error = await handler(event(), context()).catch((e: unknown) => e);
    env['TOKEN_ROTATOR_CONFIG'] = good;
    const after = await handler(event(), context());
    done();

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'providers.generic.client_secret', message: expect.stringMatching(/must be a reference/) },
    ]);
    expect(out.logs).toMatch(/"msg":"invalid config"/);
    expect(out.logs).not.toContain('plain-text-secret');
    expect(after.ok).toBe(true);
    expect(existsSync(storeDir)).toBe(true);
  });

  it('touches neither the store nor any provider when the config is bad', async () => {
    const { configPath, storeDir } = await workspace();
    const bad = (await readFile(configPath, 'utf8')).replace(/^policy:\n/m, 'policy:\n  concurrency: 0\n');
    const { handler, done } = capturedHandler({ TOKEN_ROTATOR_CONFIG: bad });
    const requests = sandbox.requests.length;

    const error = await handler(event(), context()).catch((e: unknown) => e);
    done();

    expect((error as ConfigError).issues.map((issue) => issue.path)).toEqual(['policy.concurrency']);
    expect(existsSync(storeDir)).toBe(false);
    expect(sandbox.requests.length).toBe(requests);
  });

  it("stops waiting for another runner's lease before the invocation's deadline", async () => {
    const { configPath } = await workspace({ lease_seconds: 60, request_timeout_seconds: 1 });
    const loaded = await loadConfig(configPath, {});
    const store = await createStore(loaded.store);
    const now = Date.now();
    await store.write(
      'state/generic',
      {
        ...emptyState('generic'),
        lease: {
          holder: 'another-runner',
          acquired_at: new Date(now).toISOString(),
          expires_at: new Date(now + 60_000).toISOString(),
          intent: 'obtain',
        },
      },
      null,
    );
    await store.close();
    const { handler, done } = capturedHandler({ TOKEN_ROTATOR_CONFIG_FILE: configPath });

    const started = Date.now();
    // Half a second of waiting allowed before the reserve for the last call and writes.
    const error = await handler(event(), context(reserveMs(loaded.policy) + 500)).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    done();

    expect(error).toBeInstanceOf(PassFailedError);
    expect((error as Error).message).toMatch(/generic \(busy, lease LEASE_BUSY\)/);
    expect(elapsed).toBeLessThan(10_000); // the lease would have held it for 60 s
  });
});

describe('createHandler in a warm execution environment, and TOKEN_ROTATOR_FULL_CHECK_SECONDS', () => {
  const publicRecord = (storeDir: string) => join(storeDir, 'tokens', 'klikoo.json');

  it('reads only the providers that may be due after the first invocation, so a record deleted behind its back waits for a full check', async () => {
    const { configPath, storeDir } = await workspace();
    const { handler, out, done } = capturedHandler({ TOKEN_ROTATOR_CONFIG_FILE: configPath });

    const first = await handler(event(), context());
    // Reads every provider all the same: a pass remembers only those it found fresh.
    const second = await handler(event(), context());
    await rm(publicRecord(storeDir));
    const third = await handler(event(), context());
    done();

    expect(first.counts.rotated).toBe(PROVIDERS.length);
    expect(second.counts.fresh).toBe(PROVIDERS.length);
    // Reported fresh from what the second pass read, without reading the records.
    expect(third.counts.fresh).toBe(PROVIDERS.length);
    expect(third.outcomes.find((o) => o.provider === 'klikoo')?.expires_at).toBe(
      first.outcomes.find((o) => o.provider === 'klikoo')?.expires_at,
    );
    expect(existsSync(publicRecord(storeDir))).toBe(false);
    expect(out.logs.match(/"full_check":true/g)).toHaveLength(1);
    expect(out.logs.match(/"full_check":false/g)).toHaveLength(2);
  });

  it('reads every provider at every invocation with TOKEN_ROTATOR_FULL_CHECK_SECONDS=0, repairing a deleted public record', async () => {
    const { configPath, storeDir } = await workspace();
    const { handler, done } = capturedHandler({
      TOKEN_ROTATOR_CONFIG_FILE: configPath,
      TOKEN_ROTATOR_FULL_CHECK_SECONDS: '0',
    });

    await handler(event(), context());
    await rm(publicRecord(storeDir));
    const second = await handler(event(), context());
    done();

    expect(second.counts.repaired).toBe(1);
    expect(second.counts.fresh).toBe(PROVIDERS.length - 1);
    const stored = JSON.parse(await readFile(publicRecord(storeDir), 'utf8')) as { data: { access_token: string } };
    expect(sandbox.isValid(stored.data.access_token)).toBe(true);
  });

  it('refuses an invalid TOKEN_ROTATOR_FULL_CHECK_SECONDS at every invocation, naming it, touching neither the store nor any provider', async () => {
    await expectRefusedAtEveryInvocation(
      'TOKEN_ROTATOR_FULL_CHECK_SECONDS',
      '10m',
      'must be a whole number of seconds (0: every pass)',
    );
  });
});

describe('createHandler and TOKEN_ROTATOR_LOG_LEVEL', () => {
  it('uses a valid TOKEN_ROTATOR_LOG_LEVEL over the config log_level', async () => {
    const { configPath } = await workspace(); // the workspace config says log_level: debug
    const { handler, out, done } = capturedHandler({
      TOKEN_ROTATOR_CONFIG_FILE: configPath,
      TOKEN_ROTATOR_LOG_LEVEL: 'warn',
    });

    const summary = await handler(event(), context());
    done();

    expect(summary.ok).toBe(true);
    expect(out.logs).not.toMatch(/"level":(20|30),/);
    expect(out.logs).not.toContain('lambda pass summary');
  });

  it('follows the config log_level when TOKEN_ROTATOR_LOG_LEVEL is empty, as the deployment template may leave it', async () => {
    const { configPath } = await workspace();
    const { handler, out, done } = capturedHandler({
      TOKEN_ROTATOR_CONFIG_FILE: configPath,
      TOKEN_ROTATOR_LOG_LEVEL: '',
    });

    await handler(event(), context());
    done();

    expect(out.logs).toMatch(/"level":20,.*"msg":"scheduled pass"/);
  });

  it('refuses an invalid TOKEN_ROTATOR_LOG_LEVEL at every invocation, naming it and the valid levels, touching neither the store nor any provider', async () => {
    await expectRefusedAtEveryInvocation(
      'TOKEN_ROTATOR_LOG_LEVEL',
      'verbose',
      '"verbose" is not a log level; use one of fatal, error, warn, info, debug, trace, silent',
    );
  });
});
