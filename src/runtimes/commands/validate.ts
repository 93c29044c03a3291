/** `token-rotator validate`: the config, its references and the schedule, checked without calling a provider. */
import { EXIT } from '../door.js';
import { invalidOutput, jsonLine, validOutput } from '../json-output.js';
import type { CommandContext } from './contract.js';

/** Prints the verdict; a problem is thrown, for `cli.ts` to report with its exit code. */
export async function run(ctx: CommandContext): Promise<number> {
  const json = ctx.values['json'] === true;
  try {
    const { loaded, rotator } = await ctx.open();
    try {
      const config = await rotator.check();
      const facts = {
        config: loaded.path,
        providers: Object.keys(config.providers).length,
        store: loaded.store.kind,
        gapSeconds: rotator.gapSeconds,
      };
      ctx.io.stdout.write(
        json
          ? jsonLine(validOutput(facts))
          : `${facts.config}: valid (${facts.providers} providers, store ${facts.store}, passes at most ${facts.gapSeconds} s apart)\n`,
      );
      return EXIT.ok;
    } finally {
      await rotator.close();
    }
  } catch (error) {
    // The verdict on stdout; main() still writes the usual lines on stderr and picks the exit code.
    if (json) ctx.io.stdout.write(jsonLine(invalidOutput(error)));
    throw error;
  }
}
