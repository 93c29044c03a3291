/**
 * serverless.yml packaged as CI packages it: `osls package` with no AWS credentials, no
 * login and, where the machine allows an unprivileged network namespace, no network at
 * all. Then the artifact is opened: the zip holds the bundle and nothing else, and the
 * CloudFormation template has the runtime, architecture, concurrency, timeout, failure
 * destination, alarms and a least-privilege role the deployment promises.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { type ZipEntry, zipEntries, zipEntryData } from './zip.js';

/** The smallest valid config, to read the policy defaults from. */
const DEFAULTS =
  'providers: { p: { kind: oauth2, token_url: "https://auth.example.com/token", client_id: c, client_secret: "${env:S}" } }';
const ROOT = resolve(import.meta.dirname, '../..');
const BUNDLE = join(ROOT, 'dist-lambda/index.mjs');
const OSLS = join(ROOT, 'node_modules/osls/bin/serverless.js');
const KMS_KEY = `arn:aws:kms:eu-south-1:111122223333:key/${randomUUID()}`;

type Json = Record<string, any>;

interface Packaged {
  readonly dir: string;
  readonly zip: Buffer;
  readonly entries: ZipEntry[];
  readonly template: Json;
  readonly seconds: number;
}

/** Whether this machine lets us run a command in a new network namespace with no interfaces up. */
const isolatable = spawnSync('unshare', ['-rn', 'true']).status === 0;

let work: string;

/**
 * Runs `osls package` on a copy of the service (serverless.yml and the bundle) in a temp
 * dir, since osls stages its output in the service's own `.serverless/`, with a bare
 * environment: no AWS credentials or config.
 */
async function oslsPackage(name: string, args: string[]): Promise<Packaged> {
  const service = join(work, name);
  const dir = join(service, 'out');
  await mkdir(join(service, 'dist-lambda'), { recursive: true });
  await copyFile(join(ROOT, 'serverless.yml'), join(service, 'serverless.yml'));
  for (const file of await readdir(join(ROOT, 'dist-lambda'))) {
    await copyFile(join(ROOT, 'dist-lambda', file), join(service, 'dist-lambda', file));
  }
  const command = isolatable ? 'unshare' : process.execPath;
  const argv = [...(isolatable ? ['-rn', process.execPath] : []), OSLS, 'package', '--package', dir, ...args];
  const started = Date.now();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((done) => {
    const child = spawn(command, argv, {
      cwd: service,
      env: {
        PATH: process.env['PATH'],
        HOME: join(work, 'home'),
        SLS_TELEMETRY_DISABLED: '1',
        SLS_NOTIFICATIONS_MODE: 'off',
        CI: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('close', (exit) => done({ code: exit, output: text }));
  });
  expect(code, output).toBe(0);
  const zip = await readFile(join(dir, 'token-rotator.zip'));
  const template = JSON.parse(await readFile(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Json;
  return { dir, zip, entries: zipEntries(zip), template, seconds: (Date.now() - started) / 1000 };
}

let dev: Packaged;
let prod: Packaged;

beforeAll(async () => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run bundle:lambda first (npm test does)`);
  work = await mkdtemp(join(tmpdir(), 'tr-osls-'));
  [dev, prod] = await Promise.all([
    oslsPackage('dev', []),
    oslsPackage('prod', [
      '--stage',
      'prod',
      '--region',
      'eu-south-1',
      '--param',
      `kmsKeyArn=${KMS_KEY}`,
      '--param',
      'configSecret=token-rotator/config',
      '--param',
      'fullCheckSeconds=120',
    ]),
  ]);
  const bundleKiB = (await stat(BUNDLE)).size / 1024;
  console.log(
    `osls package (${isolatable ? 'in a network namespace without network' : 'network not isolated: unshare unavailable'}): ` +
      `${dev.seconds.toFixed(1)} s; token-rotator.zip ${(dev.zip.length / 1024).toFixed(1)} KiB, bundle ${bundleKiB.toFixed(1)} KiB`,
  );
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const resources = (p: Packaged) => p.template['Resources'] as Record<string, Json>;
const fn = (p: Packaged) => resources(p)['RotateLambdaFunction']!['Properties'] as Json;
const statements = (p: Packaged) =>
  (resources(p)['IamRoleLambdaExecution']!['Properties']['Policies'] as Json[]).flatMap(
    (policy) => policy['PolicyDocument']['Statement'] as Json[],
  );
const actionsOf = (statement: Json) => [statement['Action']].flat() as string[];
const resourcesOf = (statement: Json) => [statement['Resource']].flat() as unknown[];

describe('osls package', () => {
  it('zips the bundle and nothing else: no node_modules, sources, tests or dev tooling', () => {
    const names = dev.entries.map((entry) => entry.name);

    expect(names).toContain('dist-lambda/index.mjs');
    for (const name of names) expect(['dist-lambda/index.mjs', 'dist-lambda/config.yaml']).toContain(name);
  });

  it('zips the very bundle that was built, byte for byte', async () => {
    const entry = dev.entries.find((e) => e.name === 'dist-lambda/index.mjs')!;
    const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

    expect(digest(zipEntryData(dev.zip, entry))).toBe(digest(await readFile(BUNDLE)));
  });

  it('keeps the package small (about 210 KiB zipped today; the budget catches a heavy new dependency)', () => {
    expect(dev.zip.length).toBeLessThan(1024 * 1024);
  });

  it('points the handler at a file in the zip that exports it', async () => {
    const handler = fn(dev)['Handler'] as string;
    const file = `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`;
    const exported = handler.slice(handler.lastIndexOf('.') + 1);

    expect(dev.entries.map((e) => e.name)).toContain(file);
    const bundle = await import(join(ROOT, file));
    expect(typeof bundle[exported]).toBe('function');
  });

  it('declares nodejs22.x on arm64, 256 MB, reserved concurrency 1', () => {
    expect(fn(dev)).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      ReservedConcurrentExecutions: 1,
    });
  });

  it('sets a timeout longer than the worst pass of the default policy', async () => {
    const { policy } = await parseConfig(DEFAULTS, 'defaults', { S: 's' });
    // Waiting out a lease, every attempt timing out, the longest back-off between them, store writes.
    const worst =
      policy.lease_seconds +
      (policy.retries + 1) * policy.request_timeout_seconds +
      policy.retries * policy.max_retry_wait_seconds +
      15;

    expect(fn(dev)['Timeout']).toBeGreaterThan(worst);
  });

  it('runs on a five-minute EventBridge schedule, matching the default policy.schedule', async () => {
    const rule = resources(dev)['RotateEventsRuleSchedule1']!['Properties'] as Json;
    const { policy } = await parseConfig(DEFAULTS, 'defaults', { S: 's' });

    expect(rule['ScheduleExpression']).toBe('rate(5 minutes)');
    expect(policy.schedule).toBe('*/5 * * * *');
    expect(rule['Targets'][0]['Arn']).toEqual({ 'Fn::GetAtt': ['RotateLambdaFunction', 'Arn'] });
  });

  it('never retries a failed pass and sends it to an SQS queue', () => {
    const config = Object.values(resources(dev)).find((r) => r['Type'] === 'AWS::Lambda::EventInvokeConfig')![
      'Properties'
    ] as Json;

    expect(config['MaximumRetryAttempts']).toBe(0);
    expect(config['DestinationConfig']['OnFailure']['Destination']).toEqual({ 'Fn::GetAtt': ['FailureQueue', 'Arn'] });
    expect(resources(dev)['FailureQueue']!['Type']).toBe('AWS::SQS::Queue');
    const send = statements(dev).find((s) => actionsOf(s).includes('sqs:SendMessage'))!;
    expect(resourcesOf(send)).toEqual([{ 'Fn::GetAtt': ['FailureQueue', 'Arn'] }]);
  });

  it("alarms on the function's first error, and when it stops running", () => {
    const alarms = Object.values(resources(dev))
      .filter((r) => r['Type'] === 'AWS::CloudWatch::Alarm')
      .map((r) => r['Properties'] as Json);
    const onFunction = [{ Name: 'FunctionName', Value: { Ref: 'RotateLambdaFunction' } }];

    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: onFunction,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      }),
    );
    expect(alarms).toContainEqual(
      expect.objectContaining({
        Namespace: 'AWS/Lambda',
        MetricName: 'Invocations',
        Dimensions: onFunction,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      }),
    );
  });

  it("alarms on the handler's SecondsToExpiry metric under the Service dimension the handler writes (the function name)", () => {
    const alarm = resources(prod)['TokenExpiryAlarm']!['Properties'] as Json;

    expect(fn(prod)['FunctionName']).toBe('token-rotator-prod-rotate');
    expect(alarm).toMatchObject({
      Namespace: 'TokenRotator',
      MetricName: 'SecondsToExpiry',
      Dimensions: [{ Name: 'Service', Value: 'token-rotator-prod-rotate' }],
    });
  });

  it('keeps logs for a bounded time', () => {
    expect(resources(dev)['RotateLogGroup']!['Properties']['RetentionInDays']).toBe(30);
  });

  it("scopes the role's Secrets Manager actions to the rotator's prefix (DeleteSecret to its public records); only ListSecrets and BatchGetSecretValue, which cannot be scoped, are on *", () => {
    const all = statements(dev);
    const sm = all.filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));

    for (const statement of all) {
      expect(statement['Effect']).toBe('Allow');
      for (const action of actionsOf(statement)) expect(action).not.toMatch(/\*/);
      if (resourcesOf(statement).includes('*'))
        expect(actionsOf(statement)).toEqual(['secretsmanager:ListSecrets', 'secretsmanager:BatchGetSecretValue']);
    }
    for (const statement of sm.filter((s) => !resourcesOf(s).includes('*'))) {
      const deletes = actionsOf(statement).includes('secretsmanager:DeleteSecret');
      expect(resourcesOf(statement)).toEqual([
        {
          'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:token-rotator/${deletes ? 'tokens/' : ''}*`,
        },
      ]);
      if (deletes) expect(actionsOf(statement)).toEqual(['secretsmanager:DeleteSecret']);
    }
  });

  it('grants the same Secrets Manager, SSM and KMS actions as deploy/aws/rotator-policy.json, less listing parameters (a Lambda never lists)', async () => {
    const policy = JSON.parse(await readFile(join(ROOT, 'deploy/aws/rotator-policy.json'), 'utf8')) as Json;
    const expected = new Set(
      (policy['Statement'] as Json[]).flatMap(actionsOf).filter((a) => a !== 'ssm:GetParametersByPath'),
    );
    const granted = new Set(
      statements(dev)
        .flatMap(actionsOf)
        .filter((a) => /^(?:secretsmanager|ssm|kms):/.test(a)),
    );

    expect([...granted].sort()).toEqual([...expected].sort());
  });

  it('lets KMS be used only through Secrets Manager, for the rotator’s secrets, on the key given as a parameter', () => {
    const kms = statements(prod).find((s) => actionsOf(s).some((a) => a.startsWith('kms:')))!;

    expect(resourcesOf(kms)).toEqual([{ 'Fn::Sub': KMS_KEY }]);
    expect(kms['Condition']['StringEquals']['kms:ViaService']).toEqual({
      'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com',
    });
    expect(kms['Condition']['StringLike']['kms:EncryptionContext:SecretARN']).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:token-rotator/*',
    });
  });

  it('passes the config secret parameter to the handler, and leaves it empty (the bundled config) by default', () => {
    expect(fn(prod)['Environment']['Variables']['TOKEN_ROTATOR_CONFIG_SECRET']).toBe('token-rotator/config');
    expect(fn(dev)['Environment']['Variables']['TOKEN_ROTATOR_CONFIG_SECRET']).toBe('');
  });

  it('passes the full-check interval parameter to the handler, 600 s by default', () => {
    expect(fn(prod)['Environment']['Variables']['TOKEN_ROTATOR_FULL_CHECK_SECONDS']).toBe('120');
    expect(fn(dev)['Environment']['Variables']['TOKEN_ROTATOR_FULL_CHECK_SECONDS']).toBe('600');
  });
});

describe('the bundle (esbuild metafile)', () => {
  const meta = async () => {
    const metafile = JSON.parse(await readFile(join(ROOT, 'dist-lambda/meta.json'), 'utf8')) as Json;
    return {
      inputs: Object.keys(metafile['inputs'] as Json),
      output: metafile['outputs']['dist-lambda/index.mjs'] as Json,
    };
  };

  it('holds neither the sandbox, the CLI, the demo, the daemon nor any test or dev tool', async () => {
    const { inputs } = await meta();

    expect(inputs).toContain('src/runtimes/lambda.ts');
    const forbidden = inputs.filter((input) =>
      /^src\/sandbox\/|^src\/runtimes\/(?:cli|bin|demo|daemon)\.ts$|^test\/|node_modules\/(?:vitest|vite|@vitest|typescript|esbuild|osls)\//.test(
        input,
      ),
    );
    expect(forbidden).toEqual([]);
  });

  it("takes credentials from the function's two sources only, not the SDK's default chain", async () => {
    const { inputs } = await meta();

    expect(inputs).toContain('src/runtimes/lambda-credentials.ts');
    for (const source of ['credential-provider-env', 'credential-provider-http'])
      expect(inputs.some((input) => input.startsWith(`node_modules/@aws-sdk/${source}/`))).toBe(true);
    const defaultChain = inputs.filter((input) =>
      /node_modules\/@aws-sdk\/(?:credential-provider-(?:node|ini|sso|process|web-identity|login)|nested-clients)\/|node_modules\/@smithy\/credential-provider-imds\//.test(
        input,
      ),
    );
    expect(defaultChain).toEqual([]);
  });

  it('bundles the AWS SDK it was tested with, importing nothing but Node built-ins', async () => {
    const { inputs, output } = await meta();

    expect(inputs.some((input) => input.startsWith('node_modules/@aws-sdk/client-secrets-manager/'))).toBe(true);
    const external = (output['imports'] as { path: string; external?: boolean }[])
      .filter((i) => i.external)
      .map((i) => i.path);
    expect(external.filter((path) => !isBuiltin(path))).toEqual([]);
  });
});
