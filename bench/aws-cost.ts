/**
 * `npm run bench:aws-cost`: what an AWS store costs, counted, not computed by hand.
 *
 * Builds the CLI, then runs it as users do (`node dist/runtimes/bin.js run`) against the
 * provider sandbox and an AWS store on moto behind a call counter, once per provider
 * kind (a 3600 s and a 900 s token), and prints the secrets, the calls of an idle pass,
 * of a rotation and of the heartbeat, the calls per day on the default schedule and
 * $/month for 1 and 1,000 providers. How calls are attributed and priced: the header of
 * `bench/aws-cost-measure.ts`.
 *
 * How it runs: Node 20 cannot execute TypeScript and the project has no tsx, so this file
 * is a vitest test file run by `vitest run --config bench/vitest.config.ts` (which
 * includes nothing but `bench/*.ts` entries and prints straight to the terminal). It is
 * not part of `npm test`; `test/bench/aws-cost.smoke.test.ts` runs the same core at the
 * smallest size there so it cannot rot.
 *
 * Environment: AWS_COST_RUNS (measured runs per kind, 5), AWS_COST_WARMUP (forced
 * rotations before measuring, 3), AWS_COST_PROVIDERS (comma-separated, `generic,klikoo`).
 */
import { describe, expect, it } from 'vitest';
import { formatReport, measureAwsCost, PROVIDER_KINDS } from './aws-cost-measure.js';

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, not ${raw}`);
  return value;
}

describe('bench:aws-cost', () => {
  it('counts the calls and secrets of the AWS store and prices them', async () => {
    const runs = Math.max(1, numberFromEnv('AWS_COST_RUNS', 5));
    const warmup = numberFromEnv('AWS_COST_WARMUP', 3);
    const wanted = (process.env['AWS_COST_PROVIDERS'] ?? '').split(',').filter((name) => name !== '');
    const kinds = wanted.length === 0 ? PROVIDER_KINDS : PROVIDER_KINDS.filter((k) => wanted.includes(k.provider));
    expect(kinds.length, `AWS_COST_PROVIDERS names none of ${PROVIDER_KINDS.map((k) => k.provider)}`).toBeGreaterThan(
      0,
    );

    const measurements = await measureAwsCost({
      kinds,
      runs,
      warmup,
      progress: (line) => process.stderr.write(`bench:aws-cost: ${line}\n`),
    });

    process.stdout.write(`\n${formatReport(measurements, { runs, warmup })}\n\n`);
  });
});
