#!/usr/bin/env node
// Bundles the Lambda handler (src/runtimes/lambda.ts) with esbuild into one file,
// dist-lambda/index.mjs, which is all the deployment package holds (see serverless.yml).
//
//   npm run bundle:lambda                       # the bundle only
//   npm run bundle:lambda -- --config my.yaml   # and my.yaml as dist-lambda/config.yaml
//
// The options are in lambda-esbuild.mjs (ESM for Node 22, minified, class names kept, the
// SDK's credential chain cut to the environment and the container endpoint). The AWS SDK is
// bundled, not taken from the runtime, so the version tested is the version deployed.
//
// The build fails if a test-only or CLI-only module (sandbox, CLI, demo, daemon, test
// code, vitest) reaches the bundle. dist-lambda/meta.json is esbuild's metafile, for
// `esbuild --analyze`-style inspection; it is not packaged.
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { LAMBDA_BUILD_OPTIONS, LAMBDA_CREDENTIALS_ALIAS } from './lambda-esbuild.mjs';
import { englishOnlyZodLocales } from './zod-english-only.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist-lambda');

/** Inputs that must never be bundled: the handler does not need them. */
const FORBIDDEN_INPUTS = [
  /^src\/sandbox\//,
  /^src\/runtimes\/(?:cli|bin|demo|daemon|version|commands\/[^/]+)\.ts$/,
  /^test\//,
  /node_modules\/(?:vitest|vite|@vitest|typescript|esbuild|osls)\//,
  // The default credential chain and the sources it alone reads (LAMBDA_CREDENTIALS_ALIAS):
  // here, the alias missed an import of it.
  /node_modules\/@aws-sdk\/(?:credential-provider-(?:node|ini|sso|process|web-identity|login)|nested-clients|token-providers)\//,
  /node_modules\/@smithy\/credential-provider-imds\//,
];

const { values } = parseArgs({ options: { config: { type: 'string' } } });

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });

const result = await build({
  ...LAMBDA_BUILD_OPTIONS,
  alias: LAMBDA_CREDENTIALS_ALIAS,
  absWorkingDir: root,
  entryPoints: ['src/runtimes/lambda.ts'],
  outfile: join(outdir, 'index.mjs'),
  metafile: true,
  plugins: [englishOnlyZodLocales],
});

await writeFile(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
const inputs = Object.keys(result.metafile.inputs);
const forbidden = inputs.filter((input) => FORBIDDEN_INPUTS.some((pattern) => pattern.test(input)));
if (forbidden.length > 0) {
  console.error(`bundle-lambda: modules that must not be in the Lambda bundle:\n  ${forbidden.join('\n  ')}`);
  process.exit(1);
}

if (values.config !== undefined) {
  await copyFile(resolve(values.config), join(outdir, 'config.yaml'));
}

const output = result.metafile.outputs[relative(root, join(outdir, 'index.mjs'))];
// The heaviest packages, so a new dependency's weight shows at once.
const byPackage = new Map();
for (const [input, info] of Object.entries(output.inputs)) {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  const name = match ? match[1] : 'token-rotator (src)';
  byPackage.set(name, (byPackage.get(name) ?? 0) + info.bytesInOutput);
}
const top = [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 6);
console.log(`dist-lambda/index.mjs: ${(output.bytes / 1024).toFixed(1)} KiB from ${inputs.length} modules; largest:`);
for (const [name, bytes] of top) console.log(`  ${(bytes / 1024).toFixed(1).padStart(7)} KiB  ${name}`);
if (values.config !== undefined) console.log(`dist-lambda/config.yaml: copied from ${values.config}`);
