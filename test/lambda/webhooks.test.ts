/**
 * The Lambda handler and webhooks: Lambda freezes the runtime once a handler returns, so
 * the handler waits for the pass's deliveries before it does, within the invocation's
 * deadline. In process, against the provider sandbox, the file store in a temp directory
 * and a `node:http` receiver on loopback.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startDemoSandbox, writeWorkspace } from '../../src/runtimes/demo.js';
import { createHandler } from '../../src/runtimes/lambda.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import { Canary } from '../helpers/scenario.js';

const WEBHOOK_SECRET = 'lambda-webhook-signing-secret-8c2e41d7';
const PROVIDERS = 4;

let sandbox: Sandbox;
let secrets: DemoSecrets;
let root: string;
let receiver: Server;
let url: string;
/** How long the receiver takes to answer; `Infinity` never answers. */
let answerAfterMs = 0;
const answered: number[] = [];
const canary = new Canary();

beforeAll(async () => {
  ({ sandbox, secrets } = await startDemoSandbox());
  root = await mkdtemp(join(tmpdir(), 'tr-lambda-webhooks-'));
  canary.addDemoSecrets(secrets);
  canary.addSecret(WEBHOOK_SECRET);
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      canary.outputs.push(JSON.stringify(request.headers), body);
      if (answerAfterMs === Number.POSITIVE_INFINITY) return;
      setTimeout(() => {
        response.writeHead(204).end();
        answered.push(Date.now());
      }, answerAfterMs);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
});

afterAll(async () => {
  for (const token of sandbox?.issuedTokens() ?? []) canary.addSecret(token);
  expect(canary.leaks()).toEqual([]);
  receiver?.closeAllConnections();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  await sandbox?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

let workspaces = 0;
/** A fresh config for the sandbox with its own file store and the receiver as its webhook. */
async function workspace(): Promise<string> {
  const dir = join(root, `w${++workspaces}`);
  const configPath = await writeWorkspace(dir, sandbox, secrets, {
    storeDirectory: join(dir, 'store'),
    logLevel: 'debug',
    policy: { lease_seconds: 60, request_timeout_seconds: 2, retries: 0 },
  });
  const config = parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  config['webhooks'] = [{ url, secret: '${env:WEBHOOK_SECRET}' }];
  await writeFile(configPath, stringify(config), { mode: 0o600 });
  return configPath;
}

function event(): ScheduledEvent {
  return {
    version: '0',
    id: 'c2a4c5e6-0000-4000-8000-000000000002',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/token-rotator-test'],
    detail: {},
  };
}

function context(remainingMs: number): Context {
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

function handlerFor(configPath: string) {
  const logs = new PassThrough();
  let text = '';
  logs.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const handler = createHandler({
    env: { TOKEN_ROTATOR_CONFIG_FILE: configPath, WEBHOOK_SECRET },
    bundleDir: root,
    logDestination: logs,
    metricsOut: new PassThrough(),
    allowFileStore: true,
  });
  return { handler, logs: () => text, done: () => canary.outputs.push(text) };
}

describe('createHandler with webhooks', () => {
  it('returns only once the receiver has answered every event of the pass', async () => {
    answerAfterMs = 800;
    answered.length = 0;
    const { handler, done } = handlerFor(await workspace());

    const result = await handler(event(), context(60_000));
    const returnedAt = Date.now();
    done();

    expect(result.counts.rotated).toBe(PROVIDERS);
    expect(answered).toHaveLength(PROVIDERS);
    expect(Math.max(...answered)).toBeLessThanOrEqual(returnedAt);
  });

  it('stops waiting for a receiver that never answers a second before the invocation deadline', async () => {
    answerAfterMs = Number.POSITIVE_INFINITY;
    const { handler, logs, done } = handlerFor(await workspace());

    const started = Date.now();
    const result = await handler(event(), context(4000));
    const elapsed = Date.now() - started;
    done();

    expect(result.counts.rotated).toBe(PROVIDERS);
    expect(elapsed).toBeLessThan(3800);
    expect(logs()).toMatch(/webhook not delivered/);
  });
});
