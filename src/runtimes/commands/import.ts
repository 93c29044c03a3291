/**
 * `token-rotator import PROVIDER`: stores a refresh token read from standard input (never
 * from the command line, where it would land in shell history and `ps`) under the
 * provider's lease, so rotation continues from it by refresh. See docs/import.md.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ImportInputError, importTokens, parseImportInput } from '../../engine/import.js';
import { fingerprint } from '../../observability/fingerprint.js';
import { createProvider } from '../../providers/registry.js';
import { selectProviders } from '../../rotator.js';
import { EXIT } from '../door.js';
import { type CommandContext, UsageError } from './contract.js';

/** The most standard input read: a token pair with its JSON wrapping is far smaller. */
const MAX_INPUT_BYTES = 64 * 1024;

/** What {@link run} reads the tokens from; `process.stdin` unless a test gives another. */
export interface ImportInput extends AsyncIterable<unknown> {
  readonly isTTY?: boolean | undefined;
}

/**
 * Reads all of `input` as UTF-8, at most {@link MAX_INPUT_BYTES}. A terminal is refused:
 * a token typed there would be echoed, and a prompt would hang a script.
 * @throws {UsageError} for a terminal or input over the cap.
 */
export async function readInput(input: ImportInput): Promise<string> {
  if (input.isTTY === true)
    throw new UsageError('reads the token from standard input: pipe it in (e.g. `< token.txt`), never as an argument');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    size += buffer.length;
    if (size > MAX_INPUT_BYTES) throw new UsageError(`standard input is larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Imports the tokens on standard input for the provider named by the one positional
 * argument. Exits 0 once stored, 2 for a usage or input problem (nothing written), 1 when
 * the store fails or another runner holds the provider's lease.
 */
export async function run(ctx: CommandContext, input: ImportInput = process.stdin): Promise<number> {
  const name = ctx.positionals[0];
  if (name === undefined) throw new UsageError('missing PROVIDER');
  const text = await readInput(input);
  let tokens: ReturnType<typeof parseImportInput>;
  try {
    tokens = parseImportInput(text, Date.now());
  } catch (error) {
    if (error instanceof ImportInputError) throw new UsageError(`standard input: ${error.message}`);
    throw error;
  }
  const { loaded, logger, rotator } = await ctx.open();
  try {
    selectProviders(loaded.providerNames, [name]);
    const config = await rotator.check();
    const provider = config.providers[name];
    if (provider === undefined) throw new UsageError(`no provider named ${name}`);
    if (createProvider(provider, { timeoutMs: 1000 }).refresh === undefined)
      throw new UsageError(
        `provider ${name} (kind ${provider.kind}) has no refresh grant: a refresh token is of no use to it`,
      );
    const result = await importTokens({
      provider: name,
      store: rotator.store,
      tokens,
      holder: `import:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      now: Date.now,
      logger: logger.child({ provider: name }),
    });
    ctx.io.stdout.write(
      `imported a refresh token for ${name} (fingerprint ${fingerprint(tokens.refreshToken)})` +
        (tokens.accessToken
          ? `, and its access token as generation ${result.generation}${result.published ? ', published' : ''}`
          : '; the next pass refreshes it when its token is missing or due (run --force to refresh now)') +
        '\n',
    );
    return EXIT.ok;
  } finally {
    await rotator.close();
  }
}
