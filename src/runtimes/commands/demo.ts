/** `token-rotator demo`: the sandbox, short lifetimes, the daemon and a live status table. */
import { runDemo } from '../demo.js';
import { EXIT } from '../door.js';
import { type CommandContext, text } from './contract.js';

/** Runs the demo until Ctrl-C. */
export async function run(ctx: CommandContext): Promise<number> {
  await runDemo({
    dir: text(ctx.values['dir']) ?? '.token-rotator/demo',
    out: ctx.io.stdout,
    err: ctx.io.stderr,
    isTTY: 'isTTY' in ctx.io.stdout && ctx.io.stdout.isTTY === true,
    levels: ctx.levels,
  });
  return EXIT.ok;
}
