// An esbuild plugin shared by the Lambda bundle (bundle-lambda.mjs) and the CLI's vendored
// zod (vendor-zod.mjs).
//
// Zod re-exports all of its ~60 message locales as a namespace (`z.locales`), from both
// `zod/v4/mini/external.js` and `zod/v4/core/index.js`. A bundler cannot drop a namespace
// once `z` is used as a value (a quarter of the Lambda bundle), and Node loads all 64
// modules at every start of an unbundled program (about 30 ms). The rotator uses only
// English (src/common/zod.ts configures it), so the namespace is replaced by one holding
// `en` alone. If zod moves its locales, the filter stops matching and the output is
// merely bigger.
import { dirname, join } from 'node:path';

/** @type {import('esbuild').Plugin} */
export const englishOnlyZodLocales = {
  name: 'zod-english-only',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](?:mini[\\/]external|core[\\/]index)\.js$/.test(args.importer)
        ? { path: join(dirname(args.importer), '../locales/en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};
