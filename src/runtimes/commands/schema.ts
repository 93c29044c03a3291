/** `token-rotator schema`: the config's JSON Schema, for editors. */
import { configJsonSchema } from '../../config/schema.js';
import { EXIT } from '../door.js';
import type { CommandContext } from './contract.js';

/** Prints the JSON Schema of the config file. */
export async function run(ctx: CommandContext): Promise<number> {
  ctx.io.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  return EXIT.ok;
}
