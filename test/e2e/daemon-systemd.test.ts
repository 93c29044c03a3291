import { execFile, spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseListen } from '../../src/runtimes/listen.js';
import { BIN } from '../helpers/scenario.js';

const UNIT = resolve(import.meta.dirname, '../../deploy/systemd/token-rotator.service');
const run = promisify(execFile);

/** `[section] → key → every value`, comments and blank lines dropped (systemd.syntax(7), without line continuations). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

let service: Map<string, string[]>;
let text: string;
beforeAll(async () => {
  text = await readFile(UNIT, 'utf8');
  service = parseUnit(text).get('Service')!;
});

const value = (key: string) => service.get(key)?.at(-1);

describe('deploy/systemd/token-rotator.service', () => {
  it('runs the daemon with the config and listener the other deployments use', () => {
    expect(value('Type')).toMatch(/^(simple|exec)$/);
    expect(value('ExecStart')).toBe(
      '/usr/bin/node /opt/token-rotator/dist/runtimes/bin.js daemon --config /etc/token-rotator/config.yaml --listen 127.0.0.1:9464',
    );
    expect(value('Restart')).toBe('on-failure');
    expect(value('KillSignal')).toBe('SIGTERM');
    expect(Number.parseInt(value('TimeoutStopSec') ?? '', 10)).toBeGreaterThanOrEqual(60);
  });

  it('runs as an unprivileged transient user with a private state directory', () => {
    expect(value('DynamicUser')).toBe('yes');
    expect(value('StateDirectory')).toBe('token-rotator');
    expect(value('UMask')).toBe('0077');
    expect(value('CapabilityBoundingSet')).toBe('');
  });

  it('sets the hardening options', () => {
    expect(
      Object.fromEntries(
        [...service]
          .filter(([key]) => /^(Protect|Private|Restrict|NoNew|Lock|SystemCall)/.test(key))
          .map(([k, v]) => [k, v.at(-1)]),
      ),
    ).toMatchObject({
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      RestrictNamespaces: 'yes',
      LockPersonality: 'yes',
      SystemCallFilter: '@system-service',
    });
  });

  it('leaves MemoryDenyWriteExecute off, saying why: V8 needs writable and executable memory', () => {
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
    expect(text).toMatch(
      /# Deliberately no MemoryDenyWriteExecute=yes: V8's JIT needs memory that is writable and\n# executable/,
    );
  });

  it('has a command line the built CLI accepts', async () => {
    const [node, script, ...args] = value('ExecStart')!.split(' ');
    expect([node, script]).toEqual(['/usr/bin/node', '/opt/token-rotator/dist/runtimes/bin.js']);
    expect(parseListen(args[args.indexOf('--listen') + 1]!)).toEqual({ host: '127.0.0.1', port: 9464 });

    // The same arguments with --help: the CLI parses them strictly, so an unknown flag would exit 2.
    const help = await run(process.execPath, [BIN, ...args, '--help']);
    expect(help.stdout).toMatch(/^Usage: token-rotator daemon .*--listen HOST:PORT/);
    const wrong = spawnSync(process.execPath, [BIN, ...args, '--lisen', 'x', '--help'], { encoding: 'utf8' });
    expect(wrong.status).toBe(2);
  });

  describe.skipIf(!hasSystemdAnalyze)(
    'with systemd-analyze (skipped where systemd-analyze is not installed: nothing to run it with)',
    () => {
      let dir: string;
      beforeAll(async () => {
        dir = await mkdtemp(join(tmpdir(), 'tr-systemd-'));
      });
      afterAll(async () => {
        await rm(dir, { recursive: true, force: true });
      });

      it('verify finds nothing to warn about', async () => {
        // verify checks that the ExecStart binary exists: point it at this machine's node.
        const unit = join(dir, 'token-rotator.service');
        await writeFile(unit, text.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
        const result = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
        expect(result.status, result.stderr).toBe(0);
        expect(result.stderr).toBe('');
      });

      it('verify would catch a misspelt directive (the check above can fail)', async () => {
        const unit = join(dir, 'broken.service');
        await writeFile(
          unit,
          text
            .replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `)
            .replace('ProtectHome=yes', 'ProtectHome=yess'),
        );
        expect(spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' }).stderr).toMatch(
          /broken\.service:\d+: Failed to parse protect home value/,
        );
      });

      it('rates the exposure at 2.5 or better', async () => {
        const unit = join(dir, 'token-rotator.service');
        await copyFile(UNIT, unit);
        const result = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=25', unit], {
          encoding: 'utf8',
        });
        expect(result.status, result.stdout.split('\n').slice(-3).join('\n')).toBe(0);
        expect(result.stdout).toMatch(/Overall exposure level for token-rotator\.service: \d\.\d/);
      });
    },
  );
});
