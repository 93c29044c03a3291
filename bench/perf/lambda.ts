/**
 * The Lambda's footprint against the SDK it cannot do without: the bundle `npm run
 * bundle:lambda` wrote (`dist-lambda/index.mjs`) against a bundle of only
 * `@aws-sdk/client-secrets-manager` (the client and the commands the AWS store calls),
 * built with the same esbuild options; and the time each takes to import in a fresh
 * process under the Lambda's Node major.
 *
 * The bare bundle keeps the SDK's default credential chain, as the client ships. The
 * Lambda bundle replaces that chain with the function's two sources
 * (`LAMBDA_CREDENTIALS_ALIAS`), so the bare bundle is also built that way, and its size
 * and import quoted beside the ratio: what the floor would be if it were trimmed alike.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { LAMBDA_BUILD_OPTIONS, LAMBDA_CREDENTIALS_ALIAS } from '../../scripts/lambda-esbuild.mjs';
import { ROOT } from './processes.js';

/** The project's Lambda bundle. */
export const LAMBDA_BUNDLE = join(ROOT, 'dist-lambda', 'index.mjs');

/**
 * The bare bundle's entry: `src/stores/aws/sdk.ts` as built, the Secrets Manager client and
 * the commands the AWS store sends, which is all the store imports of the SDK.
 */
const BARE_ENTRY = join(ROOT, 'dist', 'stores', 'aws', 'sdk.js');

/**
 * Builds the bare bundle at `<directory>/<name>.mjs` and returns its path, with the Lambda
 * bundle's options (`scripts/lambda-esbuild.mjs`), less its zod plugin, which has nothing
 * to act on here; with the Lambda's credential chain when `lambdaCredentials` is set.
 */
export async function buildBareBundle(directory: string, lambdaCredentials = false): Promise<string> {
  const outfile = join(directory, lambdaCredentials ? 'lambda-credentials.mjs' : 'index.mjs');
  await build({
    ...LAMBDA_BUILD_OPTIONS,
    ...(lambdaCredentials ? { alias: LAMBDA_CREDENTIALS_ALIAS } : {}),
    absWorkingDir: ROOT,
    entryPoints: [BARE_ENTRY],
    outfile,
  });

  return outfile;
}

/** A file's size in bytes. */
export async function sizeOf(file: string): Promise<number> {
  return (await stat(file)).size;
}
