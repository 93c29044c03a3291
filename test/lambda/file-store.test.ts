/**
 * The Lambda refuses `store.kind: file`: a function's disk does not outlive its execution
 * environment, so tokens, refresh tokens and leases kept there would be lost and every
 * cold start would rotate again. The refusal is a ConfigError at the cold start naming
 * `store.kind`, at every invocation, before any store or provider is touched.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ErrorCodes } from '../../src/errors.js';
import { startDemoSandbox, writeWorkspace } from '../../src/runtimes/demo.js';
import { createHandler } from '../../src/runtimes/lambda.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';

let sandbox: Sandbox;
let secrets: DemoSecrets;
let root: string;

beforeAll(async () => {
  ({ sandbox, secrets } = await startDemoSandbox());
  root = await mkdtemp(join(tmpdir(), 'tr-lambda-file-'));
});
afterAll(async () => {
  await sandbox?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const event = { id: 'c2a4c5e6-0000-4000-8000-000000000002', time: new Date().toISOString() } as ScheduledEvent;
const context = {
  functionName: 'token-rotator-test-rotate',
  awsRequestId: 'req-file-store',
  getRemainingTimeInMillis: () => 300_000,
} as Context;

describe('the Lambda handler with store.kind: file', () => {
  it('fails every invocation with a ConfigError naming store.kind, writing nothing and calling no provider', async () => {
    const storeDir = join(root, 'store');
    const configPath = await writeWorkspace(join(root, 'w'), sandbox, secrets, { storeDirectory: storeDir });
    const config = await readFile(configPath, 'utf8');
    expect(config).toMatch(/kind: file/);
    const logs = new PassThrough();
    let logged = '';
    logs.on('data', (chunk: Buffer) => (logged += chunk.toString()));
    const metrics = new PassThrough();
    let emitted = '';
    metrics.on('data', (chunk: Buffer) => (emitted += chunk.toString()));
    const handler = createHandler({
      env: { TOKEN_ROTATOR_CONFIG: config },
      bundleDir: root,
      logDestination: logs,
      metricsOut: metrics,
    });
    const requests = sandbox.requests.length;

    const first = await handler(event, context).catch((e: unknown) => e);
    const second = await handler(event, context).catch((e: unknown) => e);

    for (const error of [first, second]) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe(ErrorCodes.CONFIG_INVALID);
      expect((error as ConfigError).issues).toEqual([
        {
          path: 'store.kind',
          message: expect.stringMatching(/^"file" cannot be used in AWS Lambda: .*"aws".*"vault"/),
        },
      ]);
    }
    expect(logged.match(/"msg":"invalid config"/g)).toHaveLength(2);
    expect(logged).toContain('"path":"store.kind"');
    expect(logged).not.toContain('config loaded');
    expect(emitted).toBe('');
    expect(existsSync(storeDir)).toBe(false);
    expect(sandbox.requests.length).toBe(requests);
  });
});
