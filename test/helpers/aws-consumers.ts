/**
 * Real third-party AWS consumers, as test peers: the AWS CLI v1 (`aws`, PyPI `awscli`)
 * and boto3, both installed into `.venv` by `scripts/install-test-peers.sh`. Each read is
 * the ONE call a service that consumes a token would make on a stable name: no listing,
 * no second call to find the current value, nothing of this project's code.
 *
 * The children get the fake credentials of {@link MOTO_ENV} and nothing of this
 * machine's AWS configuration (`~/.aws` is replaced by /dev/null), so a developer's own
 * profile can neither leak into nor change a test. Errors carry the consumer's stderr,
 * never its stdout, which holds the value read.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MOTO_ENV } from './moto.js';

const VENV_BIN = fileURLToPath(new URL('../../.venv/bin/', import.meta.url));
/** The AWS CLI v1 of `.venv` (not whatever `aws` is on PATH). */
export const AWS_CLI = `${VENV_BIN}aws`;
/** The Python of `.venv`, which has boto3. */
export const VENV_PYTHON = `${VENV_BIN}python`;

/** Where and how a consumer reaches AWS. */
export interface ConsumerOptions {
  /** The endpoint URL (moto, or an {@link AwsCallCounter} in front of it). */
  readonly endpoint: string;
  /** `MOTO_ENV.AWS_REGION` by default. */
  readonly region?: string;
  /** Extra environment of the child, e.g. another principal's credentials. */
  readonly env?: Readonly<Record<string, string>>;
  /** The child is killed after this many milliseconds; 30 s by default. */
  readonly timeoutMs?: number;
}

/** What one consumer read. */
export interface ConsumerRead {
  /** `SecretString` or the parameter's decrypted `Value`, exactly as the consumer returned it. */
  readonly value: string;
  /** Wall-clock milliseconds of the whole read, the consumer's own start-up included. */
  readonly durationMs: number;
}

/** A consumer that reads one name in one call. */
export interface Consumer {
  /** How a user would type it, e.g. `aws secretsmanager get-secret-value`. */
  readonly name: string;
  /** What it reads: a Secrets Manager secret or an SSM parameter. */
  readonly reads: 'secret' | 'parameter';
  read(name: string, options: ConsumerOptions): Promise<ConsumerRead>;
}

/** The output of a child process run to completion. */
interface ChildResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

function childEnv(options: ConsumerOptions): NodeJS.ProcessEnv {
  const region = options.region ?? MOTO_ENV.AWS_REGION;
  return {
    PATH: process.env['PATH'],
    ...MOTO_ENV,
    AWS_REGION: region,
    // The CLI v1 reads only AWS_DEFAULT_REGION.
    AWS_DEFAULT_REGION: region,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
    PYTHONDONTWRITEBYTECODE: '1',
    ...options.env,
  };
}

function run(command: string, args: readonly string[], options: ConsumerOptions): Promise<ChildResult> {
  if (!existsSync(command)) {
    return Promise.reject(new Error(`${command} not found: run scripts/install-test-peers.sh`));
  }
  const started = performance.now();
  const child = spawn(command, args, { env: childEnv(options), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, durationMs: performance.now() - started });
    });
  });
}

/** Runs a child and returns its stdout parsed as JSON, or throws with its stderr. */
async function runJson(what: string, command: string, args: readonly string[], options: ConsumerOptions) {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${what} failed with exit code ${result.code}: ${result.stderr.trim().slice(-2000)}`);
  }
  try {
    return { json: JSON.parse(result.stdout) as unknown, durationMs: result.durationMs };
  } catch {
    // stdout may hold a secret: name its size only
    throw new Error(`${what} printed ${result.stdout.length} characters that are not JSON; stderr: ${result.stderr}`);
  }
}

/**
 * Runs the AWS CLI v1 of `.venv` with `--endpoint-url` and `--output json`, and returns
 * its output parsed. For setting up what the consumers read, and for listings.
 *
 * @example
 * await awsCli(['ssm', 'put-parameter', '--name', '/t/p', '--type', 'SecureString', '--value', 'v'], { endpoint });
 */
export async function awsCli(
  args: readonly string[],
  options: ConsumerOptions,
): Promise<{ json: unknown; durationMs: number }> {
  const all = [...args, '--endpoint-url', options.endpoint, '--output', 'json'];
  return runJson(`aws ${args.slice(0, 2).join(' ')}`, AWS_CLI, all, options);
}

function field(json: unknown, path: readonly string[], what: string): string {
  let value: unknown = json;
  for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
  if (typeof value !== 'string') throw new Error(`${what} returned no ${path.join('.')}`);
  return value;
}

/** `aws secretsmanager get-secret-value --secret-id NAME`: the `SecretString` of `AWSCURRENT`. */
export async function awsCliGetSecretValue(name: string, options: ConsumerOptions): Promise<ConsumerRead> {
  const what = 'aws secretsmanager get-secret-value';
  const { json, durationMs } = await awsCli(['secretsmanager', 'get-secret-value', '--secret-id', name], options);
  return { value: field(json, ['SecretString'], what), durationMs };
}

/** `aws ssm get-parameter --name NAME --with-decryption`: the parameter's decrypted `Value`. */
export async function awsCliGetParameter(name: string, options: ConsumerOptions): Promise<ConsumerRead> {
  const what = 'aws ssm get-parameter';
  const { json, durationMs } = await awsCli(['ssm', 'get-parameter', '--name', name, '--with-decryption'], options);
  return { value: field(json, ['Parameter', 'Value'], what), durationMs };
}

/** One boto3 call, printing its result as JSON; the arguments come through argv, never through the code. */
const BOTO3_READ = `
import json, sys
import boto3
service, name, endpoint, region = sys.argv[1:5]
client = boto3.client(service, endpoint_url=endpoint, region_name=region)
if service == 'secretsmanager':
    value = client.get_secret_value(SecretId=name)['SecretString']
else:
    value = client.get_parameter(Name=name, WithDecryption=True)['Parameter']['Value']
sys.stdout.write(json.dumps(value))
`;

async function boto3Read(service: 'secretsmanager' | 'ssm', name: string, options: ConsumerOptions) {
  const what = `boto3 ${service} ${service === 'ssm' ? 'get_parameter' : 'get_secret_value'}`;
  const region = options.region ?? MOTO_ENV.AWS_REGION;
  const { json, durationMs } = await runJson(
    what,
    VENV_PYTHON,
    ['-c', BOTO3_READ, service, name, options.endpoint, region],
    options,
  );
  if (typeof json !== 'string') throw new Error(`${what} returned no string`);
  return { value: json, durationMs };
}

/** `boto3.client('secretsmanager').get_secret_value(SecretId=NAME)['SecretString']`. */
export function boto3GetSecretValue(name: string, options: ConsumerOptions): Promise<ConsumerRead> {
  return boto3Read('secretsmanager', name, options);
}

/** `boto3.client('ssm').get_parameter(Name=NAME, WithDecryption=True)['Parameter']['Value']`. */
export function boto3GetParameter(name: string, options: ConsumerOptions): Promise<ConsumerRead> {
  return boto3Read('ssm', name, options);
}

/** Every consumer above, for table-driven tests. */
export const CONSUMERS: readonly Consumer[] = [
  { name: 'aws secretsmanager get-secret-value', reads: 'secret', read: awsCliGetSecretValue },
  { name: 'aws ssm get-parameter --with-decryption', reads: 'parameter', read: awsCliGetParameter },
  { name: 'boto3 secretsmanager get_secret_value', reads: 'secret', read: boto3GetSecretValue },
  { name: 'boto3 ssm get_parameter(WithDecryption=True)', reads: 'parameter', read: boto3GetParameter },
];
