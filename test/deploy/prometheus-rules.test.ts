/**
 * deploy/prometheus and deploy/grafana (issue 12, "Monitoring in every runtime"): the alert
 * rules pass `promtool check rules` and their unit tests (`promtool test rules`), and they
 * and the Grafana dashboard name only metrics token-rotator exports. Those names are
 * collected from real output: a scrape of the built daemon's /metrics against the sandbox
 * scenario (which `promtool check metrics` parses), and a run's push rendering. Every
 * dashboard query is valid PromQL (promtool checks it, as a recording rule, with the
 * Grafana variables filled in). promtool is built by `scripts/install-tools.sh` into
 * `.tools/bin`. Needs `npm run build` first (npm test's pretest does it).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { RotatorMetrics } from '../../src/observability/metrics.js';
import { parseExposition } from '../helpers/exposition.js';
import { type Scenario, startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT, runTool } from './manifests.js';

const RULES = join(ROOT, 'deploy/prometheus/token-rotator.rules.yaml');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/token-rotator.rules.test.yaml');
const DASHBOARD = join(ROOT, 'deploy/grafana/token-rotator.json');

/** The path of promtool, built by `scripts/install-tools.sh`. */
function promtool(): string {
  const path = join(ROOT, '.tools/bin/promtool');
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/install-tools.sh (npm test does)`);
  return path;
}

/** PromQL's words that are not metric names: aggregations, functions, keywords. */
const PROMQL_WORDS = new Set([
  ...['sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group'],
  ...['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset'],
  ...['inf', 'nan'],
]);

/**
 * The metric names a PromQL expression reads: identifiers that are not functions (followed
 * by `(`), PromQL words, label names (inside `{}` or a grouping's `()`), or strings.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = [...stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\(?))/g)]
    .filter((match) => match[1] !== '(' && !PROMQL_WORDS.has(match[0].toLowerCase()))
    .filter((match) => !/\d/.test(stripped[match.index - 1] ?? '')) // the `m` of `30m`, the `e` of `1e3`
    .map((match) => match[0]);
  return [...new Set(names)];
}

/** Every metric name in an exposition text, histogram series (`_bucket`, `_sum`, `_count`) included. */
function exposedNames(text: string): Set<string> {
  return new Set(
    [...parseExposition(text).values()].flatMap((family) => [family.name, ...family.samples.map((s) => s.name)]),
  );
}

interface Dashboard {
  uid: string;
  title: string;
  panels: { id: number; type: string; title: string; targets?: { refId: string; expr: string }[] }[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
}

let scenario: Scenario;
let scrape: string;
let exported: Set<string>;
beforeAll(async () => {
  scenario = await startScenario({ workspace: { schedule: '*/5 * * * *' } });
  const { child, done } = scenario.spawnCli(['daemon', '--listen', '127.0.0.1:0']);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const url = await waitFor(
      async () => /"url":"(http:\/\/127\.0\.0\.1:\d+)","msg":"serving \/healthz/.exec(stderr)?.[1],
      15_000,
      'the daemon to listen',
    );
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 15_000, 'the first pass');
    scrape = await (await fetch(`${url}/metrics`)).text();
  } finally {
    child.kill('SIGTERM');
    await done;
  }
  const pushed = new RotatorMetrics({ mode: 'push', providers: ['klikoo'], gapSeconds: 300 });
  exported = new Set([...exposedNames(scrape), ...exposedNames(await pushed.render())]);
}, 60_000);
afterAll(async () => {
  await scenario?.close();
});

describe('the metrics the rules and the dashboard may use', () => {
  it("are collected from the daemon's real /metrics, which promtool parses with no finding on token-rotator's own", async () => {
    const result = await runTool(promtool(), ['check', 'metrics'], scrape);

    // Exit 3 is lint findings, 1 a parse error. prom-client's own nodejs_*_total gauges
    // are named against the conventions; token-rotator's metrics are not.
    expect(result.code, result.stderr).not.toBe(1);
    const findings = `${result.stdout}${result.stderr}`.split('\n').filter(Boolean);
    expect(
      findings.filter((line) => !/^nodejs_\w+_total non-counter metrics should not have "_total" suffix$/.test(line)),
    ).toEqual([]);
    for (const name of [
      'token_rotator_token_expiry_timestamp_seconds',
      'token_rotator_failures_total',
      'token_rotator_last_pass_timestamp_seconds',
      'token_rotator_schedule_gap_seconds',
      'token_rotator_build_info',
      'process_start_time_seconds',
    ])
      expect(exported, name).toContain(name);
  });

  it('are read out of PromQL by metricNames, and only they', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{job=~"x|y", le!="1"}[5m]))) > on(job) group_left() 2 * b offset 1h or vector(1e3)',
      ),
    ).toEqual(['a_bucket', 'b']);
  });
});

describe('deploy/prometheus/token-rotator.rules.yaml', () => {
  it('passes promtool check rules', async () => {
    const result = await runTool(promtool(), ['check', 'rules', RULES]);

    expect(result.stdout).toContain('SUCCESS: 5 rules found');
    expect(result.code, result.stderr).toBe(0);
  });

  it('passes its unit tests (promtool test rules)', async () => {
    const result = await runTool(promtool(), ['test', 'rules', RULE_TESTS]);

    expect(result.stdout).toContain('SUCCESS');
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  });

  it('alerts on what the issue asks: expiry within two gaps, no pass within two gaps, failures rising, store unreachable', () => {
    const { groups } = parse(readFileSync(RULES, 'utf8')) as {
      groups: { name: string; rules: { alert: string; expr: string; labels: { severity: string } }[] }[];
    };
    const alerts = groups.flatMap((group) => group.rules);

    expect(alerts.map((rule) => rule.alert)).toEqual([
      'TokenRotatorTokenExpiringSoon',
      'TokenRotatorTokenExpired',
      'TokenRotatorNoRecentPass',
      'TokenRotatorFailuresRising',
      'TokenRotatorStoreUnreachable',
    ]);
    for (const rule of alerts) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels.severity);
      expect(
        metricNames(rule.expr).filter((name) => !exported.has(name)),
        rule.alert,
      ).toEqual([]);
    }
  });
});

describe('deploy/grafana/token-rotator.json', () => {
  const dashboard = () => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  /** A panel's query with Grafana's variables filled in, as Prometheus would get it. */
  const asPromql = (expr: string) =>
    expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, '.*');

  it('is a dashboard with a uid, whose every panel but rows queries Prometheus', () => {
    const { uid, title, panels } = dashboard();

    expect(uid).toBe('token-rotator');
    expect(title).toBe('token-rotator');
    const queried = panels.filter((panel) => panel.type !== 'row');
    expect(queried.length).toBeGreaterThanOrEqual(8);
    for (const panel of queried) expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
  });

  it('names only metrics token-rotator exports, in its panels and its variables', () => {
    const { panels, templating } = dashboard();
    const exprs = [
      ...panels.flatMap((panel) => (panel.targets ?? []).map((target) => [panel.title, target.expr] as const)),
      ...templating.list
        .filter((variable) => variable.type === 'query')
        .map(
          (variable) =>
            [variable.name, /label_values\((.*),\s*\w+\)$/.exec(variable.definition ?? '')?.[1] ?? ''] as const,
        ),
    ];

    for (const [where, expr] of exprs) {
      const names = metricNames(asPromql(expr));
      expect(names.length, where).toBeGreaterThan(0);
      expect(
        names.filter((name) => !exported.has(name)),
        where,
      ).toEqual([]);
    }
  });

  it('queries in valid PromQL (promtool checks each as a recording rule)', async () => {
    const { panels } = dashboard();
    const rules = panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({
        record: `dashboard:panel_${panel.id}:${target.refId.toLowerCase()}`,
        expr: asPromql(target.expr),
      })),
    );
    const dir = mkdtempSync(join(tmpdir(), 'tr-dashboard-'));
    try {
      const file = join(dir, 'dashboard.rules.yaml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));

      const result = await runTool(promtool(), ['check', 'rules', file]);

      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
