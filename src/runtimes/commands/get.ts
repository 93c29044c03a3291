/** `token-rotator get PROVIDER`: the current access token on stdout, for scripts. */
import { createTokenReader } from '../../reader.js';
import { EXIT } from '../door.js';
import { type CommandContext, UsageError } from './contract.js';

/** Prints the token and a newline; a missing or expired token is thrown (exit 1). */
export async function run(ctx: CommandContext): Promise<number> {
  const name = ctx.positionals[0];
  if (name === undefined) throw new UsageError('get needs a PROVIDER');
  const { rotator } = await ctx.open();
  try {
    const token = await createTokenReader({ store: rotator.store, refreshMarginSeconds: 0 }).get(name);
    ctx.io.stdout.write(`${token.accessToken}\n`);
    return EXIT.ok;
  } finally {
    await rotator.close();
  }
}
