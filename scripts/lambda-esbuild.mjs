// The esbuild options of the Lambda bundle, shared by scripts/bundle-lambda.mjs and the
// benchmark's bare Secrets Manager bundle (bench/perf/lambda.ts), so the footprint ratio
// compares two bundles built alike. The credential alias below is the Lambda's own choice
// of code, kept apart so the benchmark can build the bare bundle with and without it.
//
// ESM output, like the source: import.meta.url keeps working (the default config.yaml is
// found beside the bundle) and Lambda's nodejs22.x loads .mjs natively. The CommonJS
// packages inside (pino and its helpers) call require() for Node built-ins, which an ES
// module lacks: the banner gives them one with createRequire.

/** @type {import('esbuild').BuildOptions} */
export const LAMBDA_BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  // Prefer packages' ES module builds: they tree-shake (the SDK's dist-es).
  mainFields: ['module', 'main'],
  minify: true,
  treeShaking: true,
  // Minified code keeps class names (50 KiB): an error whose class sets no name of its own
  // is described by its class name (describeError), which minified would say nothing.
  keepNames: true,
  sourcemap: false,
  legalComments: 'eof',
  logLevel: 'warning',
  // The banner is text esbuild does not see: its import is renamed so that no bundled
  // module's own createRequire can collide with it (unminified, one would).
  banner: {
    js: "import { createRequire as __bannerCreateRequire } from 'node:module'; const require = __bannerCreateRequire(import.meta.url);",
  },
};

/**
 * The SDK's default credential chain replaced by the two sources a Lambda function has
 * (src/runtimes/lambda-credentials.ts): the package and every import of it, dynamic ones
 * included. The path is relative to the build's absWorkingDir, the project's root.
 * @type {Record<string, string>}
 */
export const LAMBDA_CREDENTIALS_ALIAS = {
  '@aws-sdk/credential-provider-node': './src/runtimes/lambda-credentials.ts',
};
