/**
 * The core of `npm run bench` (entry `bench/perf/perf.ts`): measures issue 13's figures
 * on generated workloads and returns them as {@link Figure}s. Everything the project does
 * is run as users run it (the built CLI, the Lambda bundle) or, for the two
 * micro-figures, called in a fresh process from `dist/`; every floor is written without
 * the project's code (`probes/floor.mjs`, the bare SDK bundle, a bare write-fsync-rename).
 *
 * Per size N and concurrency c, run i measures the floor, then the project, on fresh
 * store directories, and the ratio is taken pair by pair. Each figure is sanity-checked
 * (every provider rotated, every idle pass idle, exit codes) so a broken setup fails
 * instead of printing fast nonsense.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureDaemon } from './daemon.js';
import { FIGURE_IDS, type Figure, type FigureId, median, ratios } from './figures.js';
import { buildBareBundle, LAMBDA_BUNDLE, sizeOf } from './lambda.js';
import { BIN, lastJsonLine, measureChild, PROBES, ROOT, runScript } from './processes.js';
import { startTokenServer, type TokenServer } from './token-server.js';
import { type CredentialSource, providerName, type Workload, writeWorkload } from './workload.js';

/** Groups of figures that can be selected (`BENCH_ONLY`). */
export const GROUPS = ['run', 'file-write', 'run-idle', 'daemon', 'config', 'lambda', 'help'] as const;
/** One group. */
export type Group = (typeof GROUPS)[number];

/** Options of {@link measurePerformance}. */
export interface PerfOptions {
  /** Provider counts (`BENCH_SIZES`). */
  readonly sizes: readonly number[];
  /** Measured runs per figure (`BENCH_RUNS`). */
  readonly runs: number;
  /** `policy.concurrency` values of the `run --force` figures (`BENCH_CONCURRENCY`, default 4). */
  readonly concurrencies?: readonly number[];
  /** The token server's delay (`BENCH_DELAY_MS`, default 20). */
  readonly delayMs?: number;
  /** The groups to measure (`BENCH_ONLY`, default all). */
  readonly only?: readonly Group[];
  /** Writes per timed block of the file-store figure (default 200). */
  readonly fileWrites?: number;
  /** How the generated configs hold credentials (`BENCH_CREDENTIALS`, default `file`). */
  readonly credentials?: CredentialSource;
  /** The Node 22 binary the Lambda's cold import runs under. */
  readonly node22?: string;
  /**
   * Idle passes the daemon figures are measured over (`BENCH_DAEMON_PASSES`, default the
   * larger of 10 and {@link runs}): a pass now and then carries a full collection of V8's
   * old generation (tens of ms), which a median of three can land on.
   */
  readonly daemonPasses?: number;
  /** Where the workloads go (default a new directory under the OS temp dir, removed at the end). */
  readonly workDir?: string;
  /** Progress lines, for a run of many minutes. */
  readonly progress?: (line: string) => void;
}

/** The Node 22 that `scripts/install-test-peers.sh` installs. */
export const DEFAULT_NODE22 = join(ROOT, '.tools', 'node22', 'node_modules', 'node', 'bin', 'node');
/** The size the config-parse growth is relative to. */
export const CONFIG_REFERENCE_SIZE = 100;

const ms = (value: number) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`);

interface Context {
  readonly options: PerfOptions;
  readonly work: string;
  readonly server: TokenServer;
  readonly figures: Figure[];
  readonly workloads: Map<number, Workload>;
  progress(line: string): void;
  wanted(group: Group): boolean;
}

function figure(
  context: Context,
  id: FigureId,
  fields: Omit<Figure, 'id' | 'samples'> & { samples: readonly number[] },
): void {
  context.figures.push({ id, ...fields });
}

async function workloadOf(context: Context, size: number): Promise<Workload> {
  let workload = context.workloads.get(size);
  if (workload === undefined) {
    const root = join(context.work, `n${size}`);
    await mkdir(root, { recursive: true });
    workload = await writeWorkload(root, size, context.server.url, context.options.credentials);
    context.workloads.set(size, workload);
  }
  return workload;
}

/** `run --force` on a fresh store; throws unless it exited 0 having asked for every provider's token. */
async function projectForcedRun(context: Context, workload: Workload, storeDir: string, concurrency: number) {
  const config = await workload.configFor(storeDir, `run-c${concurrency}`, concurrency);
  context.server.reset();
  const cost = await measureChild([BIN, 'run', '--force', '--config', config], {
    stderrFile: `${storeDir}.log`,
    env: workload.env,
  });
  const asked = context.server.requests();
  if (cost.code !== 0 || asked !== workload.providers.length) {
    const log = await readFile(`${storeDir}.log`, 'utf8').catch(() => '');
    throw new Error(
      `run --force exited ${cost.code} after ${asked} of ${workload.providers.length} token requests:\n${log.slice(-3000)}`,
    );
  }
  await rm(`${storeDir}.log`, { force: true });
  return cost;
}

/** The floor client on a fresh directory; throws unless it asked for every provider's token. */
async function floorRun(
  context: Context,
  workload: Workload,
  directory: string,
  concurrency: number,
  sizes: Sizes,
  client: 'node' | 'fetch' = 'node',
) {
  const job = join(context.work, 'floor-job.json');
  await writeFile(
    job,
    JSON.stringify({
      tokenUrl: context.server.url,
      providers: workload.providers,
      concurrency,
      directory,
      stateBytes: sizes.state,
      publicBytes: sizes.public,
      client,
    }),
  );
  context.server.reset();
  const cost = await measureChild([join(PROBES, 'floor.mjs'), job]);
  const asked = context.server.requests();
  if (cost.code !== 0 || asked !== workload.providers.length) {
    throw new Error(`the floor exited ${cost.code} after ${asked} token requests: ${cost.stderr.slice(-2000)}`);
  }
  return cost;
}

interface Sizes {
  readonly state: number;
  readonly public: number;
}

/** The sizes of the records a forced pass wrote, so the floor writes as many bytes. */
async function recordSizes(storeDir: string): Promise<Sizes> {
  const name = providerName(1);
  return {
    state: (await stat(join(storeDir, 'state', `${name}.json`))).size,
    public: (await stat(join(storeDir, 'tokens', `${name}.json`))).size,
  };
}

/**
 * `run --force` against the floor at each concurrency; leaves a store of fresh tokens
 * (written at concurrency 4 when asked, else the first) and returns its directory, with
 * the directories the runs wrote, for the caller to remove once nothing more is measured.
 *
 * Nothing is deleted between measured processes: the process after the removal of a
 * directory of thousands of files paid for it in system time (a forced pass of 1,000
 * providers took 4.5 to 6.3 s of CPU right after the floor's directory was removed, 3.6 to
 * 4.5 s otherwise, on this machine's ext4), and it was always the project's run.
 */
async function measureForcedRuns(context: Context, size: number): Promise<{ fresh: string; leftovers: string[] }> {
  const { runs } = context.options;
  const workload = await workloadOf(context, size);
  const root = join(context.work, `n${size}`);
  const warm = join(root, 'store-warm');
  context.progress(`${size} providers: warm-up run --force`);
  await projectForcedRun(context, workload, warm, 4);
  if (!context.wanted('run')) return { fresh: warm, leftovers: [] };
  const sizes = await recordSizes(warm);

  let fresh = warm;
  const leftovers: string[] = [];
  for (const concurrency of context.options.concurrencies ?? [4]) {
    const project = { wall: [] as number[], cpu: [] as number[] };
    const floor = { wall: [] as number[], cpu: [] as number[] };
    const fetchFloor = { wall: [] as number[], cpu: [] as number[] };
    for (let run = 0; run < runs; run++) {
      context.progress(
        `${size} providers, concurrency ${concurrency}: run ${run + 1}/${runs}, floors then run --force`,
      );
      const floorDir = join(root, `floor-${concurrency}-${run}`);
      const f = await floorRun(context, workload, floorDir, concurrency, sizes);
      leftovers.push(floorDir);
      floor.wall.push(f.wallMs);
      floor.cpu.push(f.cpuMs);
      const fetchDir = join(root, `floor-fetch-${concurrency}-${run}`);
      const ff = await floorRun(context, workload, fetchDir, concurrency, sizes, 'fetch');
      leftovers.push(fetchDir);
      fetchFloor.wall.push(ff.wallMs);
      fetchFloor.cpu.push(ff.cpuMs);
      const storeDir = join(root, `store-${concurrency}-${run}`);
      const p = await projectForcedRun(context, workload, storeDir, concurrency);
      project.wall.push(p.wallMs);
      project.cpu.push(p.cpuMs);
      if (run === runs - 1 && concurrency === 4) {
        leftovers.push(fresh);
        fresh = storeDir;
      } else leftovers.push(storeDir);
    }
    const common = { providers: size, concurrency, unit: 'ratio' as const };
    figure(context, 'run-force.wall-ratio', {
      ...common,
      label: '`run --force` wall ÷ floor',
      samples: ratios(project.wall, floor.wall),
      target: '≤ 1.25',
      detail: `${ms(median(project.wall))} vs ${ms(median(floor.wall))}`,
    });
    figure(context, 'run-force.cpu-ratio', {
      ...common,
      label: '`run --force` CPU ÷ floor',
      samples: ratios(project.cpu, floor.cpu),
      target: '≤ 1.5',
      detail: `${ms(median(project.cpu))} vs ${ms(median(floor.cpu))} CPU`,
    });
    // Against the floor of the earlier figures, whose POSTs went out with fetch (probes/floor.mjs).
    figure(context, 'run-force.wall-ratio-fetch-floor', {
      ...common,
      label: '`run --force` wall ÷ floor with fetch (as before)',
      samples: ratios(project.wall, fetchFloor.wall),
      target: '–',
      detail: `${ms(median(project.wall))} vs ${ms(median(fetchFloor.wall))}`,
    });
    figure(context, 'run-force.cpu-ratio-fetch-floor', {
      ...common,
      label: '`run --force` CPU ÷ floor with fetch (as before)',
      samples: ratios(project.cpu, fetchFloor.cpu),
      target: '–',
      detail: `${ms(median(project.cpu))} vs ${ms(median(fetchFloor.cpu))} CPU`,
    });
  }
  return { fresh, leftovers };
}

/** `run` on a store of fresh tokens against `validate` of the same config, CPU pair by pair. */
async function measureIdleRun(context: Context, size: number, config: string): Promise<void> {
  const { env } = await workloadOf(context, size);
  const run: number[] = [];
  const validate: number[] = [];
  for (let i = 0; i < context.options.runs; i++) {
    context.progress(`${size} providers: run ${i + 1}/${context.options.runs}, idle run then validate`);
    context.server.reset();
    const r = await measureChild([BIN, 'run', '--config', config], {
      stderrFile: join(context.work, 'idle.log'),
      env,
    });
    if (r.code !== 0 || context.server.requests() !== 0) {
      throw new Error(`an idle run exited ${r.code} after ${context.server.requests()} token requests`);
    }
    const v = await measureChild([BIN, 'validate', '--config', config], { env });
    if (v.code !== 0) throw new Error(`validate exited ${v.code}: ${v.stderr.slice(-2000)}`);
    run.push(r.cpuMs);
    validate.push(v.cpuMs);
  }
  figure(context, 'run-idle.cpu-ratio', {
    providers: size,
    unit: 'ratio',
    label: '`run` idle pass CPU ÷ `validate` CPU',
    samples: ratios(run, validate),
    target: '≤ 1.2',
    detail: `${ms(median(run))} vs ${ms(median(validate))} CPU`,
  });
}

/** The daemon's idle passes on a store of fresh tokens. */
async function measureDaemonFigures(context: Context, size: number, config: string): Promise<void> {
  const passes = context.options.daemonPasses ?? Math.max(10, context.options.runs);
  context.progress(`${size} providers: daemon, ${passes} idle passes after the first`);
  const cost = await measureDaemon(config, passes, (await workloadOf(context, size)).env);
  const notIdle = cost.counts.find((counts) => counts['fresh'] !== size);
  if (notIdle !== undefined) throw new Error(`a daemon pass was not idle: ${JSON.stringify(notIdle)}`);
  figure(context, 'daemon.idle-pass-cpu-ms', {
    providers: size,
    unit: 'ms',
    label: 'daemon idle pass CPU',
    samples: cost.idlePassCpuMs,
    target: '≤ 10 ms at 1,000',
    detail: `${((median(cost.idlePassCpuMs) * 1000) / size).toFixed(0)} µs per provider`,
  });
  figure(context, 'daemon.rss-steady-mb', {
    providers: size,
    unit: 'MB',
    label: 'daemon RSS, steady (VmRSS after each idle pass)',
    samples: cost.rssKb.map((kb) => kb / 1024),
    target: '≤ 80 MB at 1,000',
    // In pass order: a steady state is flat, a leak climbs.
    detail: `per pass ${cost.rssKb.map((kb) => (kb / 1024).toFixed(0)).join(', ')}`,
  });
  figure(context, 'daemon.rss-peak-mb', {
    providers: size,
    unit: 'MB',
    label: 'daemon peak RSS (VmHWM)',
    samples: [cost.peakKb / 1024],
    target: '≤ 150 MB at 10,000',
    detail: 'one value per daemon',
  });
}

/** `parseConfig` at `size` and at the reference size, each in a fresh process, pair by pair. */
async function measureConfigParse(context: Context, size: number): Promise<void> {
  const dist = join(ROOT, 'dist');
  const parse = async (n: number) => {
    const workload = await workloadOf(context, n);
    const config = await workload.configFor(join(context.work, `n${n}`, 'store'), 'parse');
    const out = lastJsonLine<{ ms: number; providers: number }>(
      await runScript([join(PROBES, 'config-parse.mjs'), dist, config], { env: workload.env }),
    );
    if (out.providers !== n) throw new Error(`parseConfig saw ${out.providers} providers, not ${n}`);
    return (out.ms * 1000) / n;
  };
  const perProvider: number[] = [];
  const reference: number[] = [];
  for (let run = 0; run < context.options.runs; run++) {
    context.progress(`${size} providers: config parse ${run + 1}/${context.options.runs}`);
    reference.push(await parse(CONFIG_REFERENCE_SIZE));
    perProvider.push(await parse(size));
  }
  figure(context, 'config.parse-us-per-provider', {
    providers: size,
    unit: 'µs',
    label: 'config parse per provider (`parseConfig`)',
    samples: perProvider,
    target: 'flat',
    detail: `${ms((median(perProvider) * size) / 1000)} in all`,
  });
  figure(context, 'config.parse-growth', {
    providers: size,
    unit: 'ratio',
    label: `config parse per provider ÷ the same at ${CONFIG_REFERENCE_SIZE}`,
    samples: ratios(perProvider, reference),
    target: '≈ 1 (flat)',
    detail: `${median(reference).toFixed(1)} µs at ${CONFIG_REFERENCE_SIZE}`,
  });
}

/** One `FileStore.write` against a bare write-fsync-rename, in-process. */
async function measureFileWrite(context: Context): Promise<void> {
  context.progress('file store: one write vs write-fsync-rename');
  const scratch = join(context.work, 'file-write');
  await mkdir(scratch, { recursive: true });
  const writes = String(context.options.fileWrites ?? 200);
  const out = lastJsonLine<{ project_ms: number[]; floor_ms: number[] }>(
    await runScript([
      join(PROBES, 'file-write.mjs'),
      join(ROOT, 'dist'),
      scratch,
      String(context.options.runs),
      writes,
    ]),
  );
  figure(context, 'file-write.ratio', {
    unit: 'ratio',
    label: 'one file-store write ÷ write-fsync-rename',
    samples: ratios(out.project_ms, out.floor_ms),
    target: '≤ 1.3',
    detail: `${median(out.project_ms).toFixed(2)} ms vs ${median(out.floor_ms).toFixed(2)} ms`,
  });
}

/** The fewest cold imports of each bundle the Lambda's import ratio is the median of. */
const COLD_IMPORT_PAIRS = 9;

/** The Lambda bundle's size and cold import against the bare Secrets Manager bundle. */
async function measureLambda(context: Context): Promise<void> {
  const node22 = context.options.node22 ?? DEFAULT_NODE22;
  if (!existsSync(LAMBDA_BUNDLE)) throw new Error(`${LAMBDA_BUNDLE} is missing: run npm run bundle:lambda first`);
  if (!existsSync(node22)) throw new Error(`no Node 22 at ${node22}: run npm run test-peers first`);
  context.progress('lambda: bare bundle, sizes and cold imports');
  const bareDir = join(context.work, 'bare-bundle');
  await mkdir(bareDir, { recursive: true });
  const bare = await buildBareBundle(bareDir);
  const trimmed = await buildBareBundle(bareDir, true);
  const [projectBytes, bareBytes, trimmedBytes] = [
    await sizeOf(LAMBDA_BUNDLE),
    await sizeOf(bare),
    await sizeOf(trimmed),
  ];
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  figure(context, 'lambda.bundle-ratio', {
    unit: 'ratio',
    label: 'Lambda bundle ÷ bare Secrets Manager bundle',
    samples: [projectBytes / bareBytes],
    target: '≤ 1.5',
    detail: `${kib(projectBytes)} vs ${kib(bareBytes)}; bare with the Lambda's credential chain ${kib(trimmedBytes)}`,
  });

  const coldImport = async (bundle: string) => {
    const out = await runScript([join(PROBES, 'cold-import.mjs'), bundle], { node: node22 });
    return lastJsonLine<{ ms: number }>(out).ms;
  };
  // One of each unmeasured: the page cache.
  for (const bundle of [LAMBDA_BUNDLE, bare, trimmed]) await coldImport(bundle);
  const project: number[] = [];
  const floor: number[] = [];
  const floorTrimmed: number[] = [];
  // An import takes a tenth of a second, and one pair's ratio varies by a third from the
  // next: at least 9 pairs, whatever BENCH_RUNS says.
  for (let run = 0; run < Math.max(COLD_IMPORT_PAIRS, context.options.runs); run++) {
    project.push(await coldImport(LAMBDA_BUNDLE));
    floor.push(await coldImport(bare));
    floorTrimmed.push(await coldImport(trimmed));
  }
  figure(context, 'lambda.cold-import-ratio', {
    unit: 'ratio',
    label: 'Lambda cold import ÷ bare bundle (Node 22)',
    samples: ratios(project, floor),
    target: '≤ 1.25',
    detail: `${median(project).toFixed(0)} ms vs ${median(floor).toFixed(0)} ms; bare with the Lambda's credential chain ${median(floorTrimmed).toFixed(0)} ms`,
  });
}

/** `token-rotator --help`: wall time against a bare node start, and the modules it loads. */
async function measureHelp(context: Context): Promise<void> {
  context.progress('--help: wall time and modules');
  const empty = join(PROBES, 'empty.mjs');
  const help: number[] = [];
  const bare: number[] = [];
  await measureChild([BIN, '--help']);
  for (let run = 0; run < context.options.runs; run++) {
    const h = await measureChild([BIN, '--help']);
    if (h.code !== 0 || !h.stdout.includes('token-rotator')) throw new Error(`--help exited ${h.code}`);
    help.push(h.wallMs);
    bare.push((await measureChild([empty])).wallMs);
  }
  figure(context, 'help.wall-ms', {
    unit: 'ms',
    label: '`token-rotator --help` wall',
    samples: help,
    target: '≤ 150 ms',
    detail: `bare node start ${median(bare).toFixed(0)} ms (${(median(help) / median(bare)).toFixed(2)}×)`,
  });

  const list = join(context.work, 'modules.txt');
  await rm(list, { force: true });
  await runScript(['--import', join(PROBES, 'count-modules.mjs'), BIN, '--help'], {
    env: { ...process.env, BENCH_MODULES_OUT: list },
  });
  const [esm = '', cjs = ''] = (await readFile(list, 'utf8')).split('# cjs\n');
  const { fileURLToPath } = await import('node:url');
  const files = new Set([
    ...esm
      .split('\n')
      .filter((line) => line !== '')
      .map((url) => fileURLToPath(url)),
    ...cjs.split('\n').filter((line) => line !== ''),
  ]);
  // The two preloads are the harness's, not the CLI's.
  const own = [...files].filter((file) => !file.startsWith(PROBES));
  figure(context, 'help.modules', {
    unit: 'modules',
    label: '`token-rotator --help` modules loaded',
    samples: [own.length],
    target: '(few: commands loaded on demand)',
    detail: `${own.filter((f) => f.includes('/node_modules/')).length} from node_modules`,
  });
}

/**
 * Measures every selected figure and returns them in table order.
 * @throws {Error} when a setup is broken (a missing build, a run that did not rotate).
 */
export async function measurePerformance(options: PerfOptions): Promise<Figure[]> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
  const work = options.workDir ?? (await mkdtemp(join(tmpdir(), 'token-rotator-bench-')));
  const server = await startTokenServer(options.delayMs ?? 20);
  const only = new Set<Group>(options.only ?? GROUPS);
  const context: Context = {
    options,
    work,
    server,
    figures: [],
    workloads: new Map(),
    progress: (line) => options.progress?.(line),
    wanted: (group) => only.has(group),
  };
  try {
    for (const size of options.sizes) {
      if (only.has('run') || only.has('run-idle') || only.has('daemon')) {
        const { fresh, leftovers } = await measureForcedRuns(context, size);
        const workload = await workloadOf(context, size);
        const config = await workload.configFor(fresh, 'fresh');
        if (only.has('run-idle')) await measureIdleRun(context, size, config);
        if (only.has('daemon')) await measureDaemonFigures(context, size, config);
        for (const directory of [fresh, ...leftovers]) await rm(directory, { recursive: true, force: true });
      }
      if (only.has('config')) await measureConfigParse(context, size);
    }
    if (only.has('file-write')) await measureFileWrite(context);
    if (only.has('lambda')) await measureLambda(context);
    if (only.has('help')) await measureHelp(context);
  } finally {
    await server.close();
    if (options.workDir === undefined) await rm(work, { recursive: true, force: true });
  }
  // The order, then by size.
  const rank = (f: Figure) => FIGURE_IDS.indexOf(f.id);
  return context.figures.sort(
    (a, b) =>
      rank(a) - rank(b) || (a.providers ?? 0) - (b.providers ?? 0) || (a.concurrency ?? 0) - (b.concurrency ?? 0),
  );
}
