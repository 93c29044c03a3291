/**
 * The CLI's usage text and exit codes, in process. The names its help quotes come from
 * small modules of their own (so that `--help` loads neither the config loader, the
 * logger nor the door); these tests check that the help quotes them.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH } from '../../src/config/load.js';
import { LOG_LEVELS } from '../../src/observability/logger.js';
import { main } from '../../src/runtimes/cli.js';
import { EXIT, PUSHGATEWAY_ENV, PUSHGATEWAY_INSTANCE_ENV } from '../../src/runtimes/door.js';

/** Runs `main` with `args` on captured streams and an empty environment. */
async function cli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const code = await main(args, { stdout, stderr, env });
  return { code, stdout: out, stderr: err };
}

describe('token-rotator (cli.ts)', () => {
  it('names the default config file and every log level in a command help', async () => {
    const result = await cli(['status', '--help']);

    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toContain(`(default: $TOKEN_ROTATOR_CONFIG or ${DEFAULT_CONFIG_PATH})\n`);
    expect(result.stdout).toContain(`--log-level L   ${LOG_LEVELS.join('|')}\n`);
  });

  it("names run's Pushgateway environment variables in its help", async () => {
    const result = await cli(['run', '--help']);

    expect(result.code).toBe(EXIT.ok);
    expect(result.stdout).toContain(`(default: $${PUSHGATEWAY_ENV}), replacing the group`);
    expect(result.stdout).toContain(`(default: $${PUSHGATEWAY_INSTANCE_ENV},\n`);
  });

  it('prints the main help on stderr and exits 2 without a command', async () => {
    const result = await cli([]);

    expect(result.code).toBe(EXIT.usage);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^token-rotator: keeps API access tokens fresh in a store\n/);
  });

  it("exits 2 with the command's usage on an option it does not take", async () => {
    const result = await cli(['validate', '--force']);

    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/^token-rotator validate: Unknown option '--force'/);
    expect(result.stderr).toContain('\n\nUsage: token-rotator validate [--json]\n');
  });

  it("checks run's Pushgateway from the environment it is given, before reading the config", async () => {
    // A malformed URL from the injected environment is a usage error before the config is read.
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await main(['run', '--config', '/nonexistent/token-rotator.yaml'], {
      stdout,
      stderr,
      env: { [PUSHGATEWAY_ENV]: 'ftp://pushgateway' },
    });

    expect(code).toBe(EXIT.usage);
    expect(err).toMatch(/^token-rotator run: --pushgateway must be an http\(s\) URL/);
  });

  it('refuses a full-check interval that is not a whole number of seconds, before reading the config', async () => {
    const result = await cli(['daemon', '--config', '/nonexistent/token-rotator.yaml'], {
      TOKEN_ROTATOR_FULL_CHECK_SECONDS: 'soon',
    });

    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toContain('TOKEN_ROTATOR_FULL_CHECK_SECONDS must be a whole number of seconds');
    expect(result.stderr).not.toContain('cannot read config file');
  });
});
