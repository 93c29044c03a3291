// Invokes a bundled Lambda handler the way the nodejs runtime does for an EventBridge
// schedule: imports the bundle once (one container), then calls handler(event, context)
// with a "Scheduled Event" and a context object, COUNT times in a row.
//
//   node test/lambda/invoke.mjs dist-lambda/index.mjs [COUNT]
//
// The handler's own output (pino on stderr, EMF on stdout) passes through untouched; this
// script adds one line per invocation on stdout, prefixed so a test can pick it out:
//   @@invoke {"runtime": "v22.…"}                                   once, at start
//   @@invoke {"invocation": 1, "result": {...}}                      on success
//   @@invoke {"invocation": 1, "errorType": "…", "errorMessage": "…"} when the handler threw,
// which are the fields Lambda reports for a failed invocation. Exit code: 0 when every
// invocation succeeded, 1 otherwise.
// Environment: AWS_LAMBDA_FUNCTION_NAME, AWS_REGION and LAMBDA_TIMEOUT_MS (default 300000).
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [bundle, countText = '1'] = process.argv.slice(2);
if (bundle === undefined) {
  console.error('usage: node invoke.mjs BUNDLE [COUNT]');
  process.exit(2);
}
const say = (fields) => process.stdout.write(`@@invoke ${JSON.stringify(fields)}\n`);

const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'token-rotator-test-rotate';
const region = process.env.AWS_REGION ?? 'us-east-1';
const account = '000000000000';
const timeoutMs = Number(process.env.LAMBDA_TIMEOUT_MS ?? '300000');

function scheduledEvent() {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:${account}:rule/${functionName}-schedule`],
    detail: {},
  };
}

function lambdaContext() {
  const deadline = Date.now() + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2025/01/01/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

say({ runtime: process.version });
const { handler } = await import(pathToFileURL(resolve(bundle)).href);
if (typeof handler !== 'function') {
  say({ invocation: 0, errorType: 'Runtime.HandlerNotFound', errorMessage: `${bundle} exports no handler` });
  process.exit(1);
}
let failed = false;
for (let invocation = 1; invocation <= Number(countText); invocation++) {
  try {
    const result = await handler(scheduledEvent(), lambdaContext());
    say({ invocation, result });
  } catch (error) {
    failed = true;
    say({ invocation, errorType: error?.name ?? 'Error', errorMessage: error?.message ?? String(error) });
  }
}
// Lambda freezes the container after each invocation; here the process simply ends,
// even though the store's SDK client keeps idle sockets open.
process.exit(failed ? 1 : 0);
