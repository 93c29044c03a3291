/** `token-rotator status`: each provider's token and the last pass, read from the store only. */
import { describeLastPass } from '../../observability/heartbeat.js';
import { EXIT } from '../door.js';
import { formatStatus } from '../format.js';
import { jsonLine, statusOutput, statusProblems } from '../json-output.js';
import type { CommandContext } from './contract.js';

/** Prints the status; exits 1 when a provider has no valid token or no pass ran within twice the gap. */
export async function run(ctx: CommandContext): Promise<number> {
  const { rotator } = await ctx.open();
  try {
    const [rows, heartbeat] = await Promise.all([rotator.status(), rotator.heartbeat()]);
    const now = Date.now();
    const problems = statusProblems(rows, heartbeat, rotator.gapSeconds, now);
    ctx.io.stdout.write(
      ctx.values['json']
        ? jsonLine(statusOutput(rows, heartbeat, rotator.gapSeconds, now))
        : `${formatStatus(rows)}\n${describeLastPass(heartbeat, now)}\n`,
    );
    for (const problem of problems) ctx.io.stderr.write(`token-rotator status: ${problem.message}\n`);
    return problems.length === 0 ? EXIT.ok : EXIT.failed;
  } finally {
    await rotator.close();
  }
}
