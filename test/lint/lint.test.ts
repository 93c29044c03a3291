import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Lint, format and architecture rules run here so that `npm test` (and so CI's count) fails when one breaks.
// Each tool runs as its CLI, as a developer would run it, and the failure message is the tool's own output.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');
const DEPCRUISE = join(ROOT, 'node_modules', '.bin', 'depcruise');
const DEPCRUISE_CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const ARCHITECTURE_FIXTURE = join(ROOT, 'test', 'fixtures', 'architecture');
const CAST_FIXTURE = join(ROOT, 'test', 'fixtures', 'casts', 'escape-casts.ts');
const TIMEOUT = 120_000;

interface Run {
  status: number | null;
  stdout: string;
  output: string;
}

function run(command: string, args: string[], cwd: string): Run {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}\n${result.stderr}` };
}

interface BiomeDiagnostic {
  category: string;
  severity: string;
  message: string;
  location: { path: string; start: { line: number } };
}

/** Runs `biome lint` with the JSON reporter and returns its diagnostics. */
function biomeLint(cwd: string, paths: string[]): { status: number | null; diagnostics: BiomeDiagnostic[] } {
  const result = run(BIOME, ['lint', '--reporter=json', '--colors=off', '--max-diagnostics=none', ...paths], cwd);
  const report = JSON.parse(result.stdout) as { diagnostics: BiomeDiagnostic[] };
  return { status: result.status, diagnostics: report.diagnostics };
}

const castBans = (diagnostics: BiomeDiagnostic[]): string[] =>
  diagnostics.filter((d) => d.category === 'plugin').map((d) => `${d.location.path}:${d.location.start.line}`);

/**
 * Runs depcruise over `src/` of `cwd` with the project's rules; returns its violations as `rule: from → to`
 * and the modules it read, so a test can tell "no violation" from "read nothing".
 */
function depcruise(cwd: string): { violations: string[]; modules: string[] } {
  const result = run(DEPCRUISE, ['src', '--config', DEPCRUISE_CONFIG, '--output-type', 'json'], cwd);
  const report = JSON.parse(result.stdout) as {
    modules: { source: string }[];
    summary: { violations: { from: string; to: string; rule: { name: string } }[] };
  };
  return {
    violations: report.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort(),
    modules: report.modules.map((m) => m.source),
  };
}

/** The TypeScript files under `dir` (relative to the root, `/`-separated), fixtures left out. */
async function typeScriptFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { recursive: true });
  return entries
    .map((entry) => `${dir}/${entry.split('\\').join('/')}`)
    .filter((path) => path.endsWith('.ts') && !path.startsWith('test/fixtures/'));
}

describe('the code base', () => {
  it(
    'passes `biome ci` (formatting, recommended lint rules, no warnings) over src/, test/, scripts/ and the root configs',
    async () => {
      const ours = [...(await typeScriptFiles('src')), ...(await typeScriptFiles('test'))];

      const result = run(BIOME, ['ci', '--error-on-warnings', '--colors=off', '--max-diagnostics=none'], ROOT);

      expect(result.status, result.output).toBe(0);
      const checked = Number(/Checked (\d+) files?/.exec(result.output)?.[1] ?? 0);
      expect(checked, result.output).toBeGreaterThanOrEqual(ours.length);
    },
    TIMEOUT,
  );

  it(
    'has no `as never` nor `as unknown as` cast in src/',
    () => {
      const { diagnostics } = biomeLint(ROOT, ['src']);

      expect(castBans(diagnostics)).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'keeps the architecture rules of .dependency-cruiser.cjs in src/',
    async () => {
      const sources = await typeScriptFiles('src');

      const { violations, modules } = depcruise(ROOT);

      expect(violations).toEqual([]);
      expect(sources.filter((source) => !modules.includes(source))).toEqual([]);
    },
    TIMEOUT,
  );
});

describe('the architecture rules', () => {
  it(
    'report each broken rule of the fixture tree by name, and nothing for its allowed imports',
    () => {
      const { violations } = depcruise(ARCHITECTURE_FIXTURE);

      expect(violations).toEqual([
        'common-is-a-leaf: src/common/leaky.ts → src/engine/pass.ts',
        'config-not-to-backends: src/config/load.ts → src/stores/vault/config.ts',
        'config-not-to-engine-or-runtimes: src/config/load.ts → src/engine/policy.ts',
        'engine-config-types-only: src/engine/pass.ts → src/config/schema.ts',
        'engine-only-contracts: src/engine/pass.ts → src/stores/vault/config.ts',
        'no-circular: src/common/loop-a.ts → src/common/loop-b.ts',
        'no-orphans: src/observability/orphan.ts → src/observability/orphan.ts',
        'not-to-dev-dep: src/observability/log.ts → ../../../node_modules/vitest/dist/index.d.ts',
        'not-to-unresolvable: src/observability/log.ts → ./missing.js',
        'nothing-imports-the-top: src/engine/pass.ts → src/reader.ts',
        'observability-not-to-stores: src/observability/log.ts → src/stores/contract.ts',
        'provider-kinds-independent: src/providers/oauth2/index.ts → src/providers/klikoo/index.ts',
        'providers-not-to-config-stores-engine: src/providers/oauth2/index.ts → src/config/internal.ts',
        'store-kinds-independent: src/stores/file/index.ts → src/stores/vault/config.ts',
        'stores-not-to-config-engine-providers: src/stores/file/index.ts → src/providers/contract.ts',
      ]);
    },
    TIMEOUT,
  );
});

describe('the cast ban', () => {
  it(
    'reports each `as never` and `as unknown as` in src/ and none in test/',
    async () => {
      const project = await mkdtemp(join(tmpdir(), 'token-rotator-cast-ban-'));
      try {
        await mkdir(join(project, 'biome'));
        await mkdir(join(project, 'src'));
        await mkdir(join(project, 'test'));
        await copyFile(join(ROOT, 'biome.jsonc'), join(project, 'biome.jsonc'));
        await copyFile(join(ROOT, 'biome', 'no-escape-casts.grit'), join(project, 'biome', 'no-escape-casts.grit'));
        await copyFile(CAST_FIXTURE, join(project, 'src', 'escape-casts.ts'));
        await copyFile(CAST_FIXTURE, join(project, 'test', 'escape-casts.ts'));
        const banned = (await readFile(CAST_FIXTURE, 'utf8'))
          .split('\n')
          .flatMap((line, index) => (line.includes('// BANNED') ? [`src/escape-casts.ts:${index + 1}`] : []));

        const { status, diagnostics } = biomeLint(project, []);

        expect(banned).toHaveLength(3);
        expect(castBans(diagnostics)).toEqual(banned);
        expect(status).not.toBe(0);
      } finally {
        await rm(project, { recursive: true, force: true });
      }
    },
    TIMEOUT,
  );
});
