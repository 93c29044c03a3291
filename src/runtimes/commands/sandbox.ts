/** `token-rotator sandbox`: the vendors' token endpoints served locally, with a config written for them. */
import { runSandboxCommand } from '../demo.js';
import { EXIT } from '../door.js';
import { type CommandContext, text, UsageError } from './contract.js';

/** Serves the sandbox until Ctrl-C. */
export async function run(ctx: CommandContext): Promise<number> {
  const port = Number(ctx.values['port'] ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be a port number');
  await runSandboxCommand({
    port,
    dir: text(ctx.values['dir']) ?? '.token-rotator/sandbox',
    short: ctx.values['short'] === true,
    out: ctx.io.stdout,
  });
  return EXIT.ok;
}
