#!/usr/bin/env node
// Part of `npm run build`, after tsc: bundles `zod/mini` with English messages only into
// dist/vendor/zod-mini.js and points dist/common/zod.js at it.
//
// Why: `zod/mini` re-exports all 64 of zod's message locales, and Node loads every one of
// them at the start of each process that imports it: importing `zod/mini` took about 50 ms,
// the bundle takes about 19 ms (issue 13). Every CLI process (`run`, `validate`, the
// daemon) imports zod to read its config.
//
// What stays the same: the source (src/common/zod.ts, the one way into zod) and so the tests
// that run it, the types (dist/common/zod.d.ts still names `zod/mini`), the Lambda bundle
// (built from src with the same plugin), zod's version (the one installed, as locked).
// dist/common/zod.js is replaced by a re-export of the bundle, which configures English as
// src/common/zod.ts does. The build fails if zod.js no longer looks as this script expects.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { englishOnlyZodLocales } from './zod-english-only.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const wrapper = join(root, 'dist', 'common', 'zod.js');
const outfile = join(root, 'dist', 'vendor', 'zod-mini.js');

const compiled = await readFile(wrapper, 'utf8');
const expected = ["from 'zod/locales'", "from 'zod/mini'", 'config(en());', "export * from 'zod/mini';"];
const missing = expected.filter((part) => !compiled.includes(part));
if (missing.length > 0) {
  console.error(`vendor-zod: dist/common/zod.js no longer has ${missing.join(', ')}; update scripts/vendor-zod.mjs`);
  process.exit(1);
}

const { version } = JSON.parse(await readFile(join(root, 'node_modules', 'zod', 'package.json'), 'utf8'));
await build({
  absWorkingDir: root,
  stdin: {
    contents: [
      // English alone; `zod/locales` would bring every locale back.
      "import en from 'zod/v4/locales/en.js';",
      "import { config } from 'zod/mini';",
      'config(en());',
      "export * from 'zod/mini';",
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'zod-mini-english.js',
  },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minifySyntax: true,
  minifyWhitespace: true,
  outfile,
  legalComments: 'none',
  banner: {
    js: `/*! zod ${version} (zod/mini, English messages only), MIT License, Copyright (c) 2025 Colin McDonnell: https://github.com/colinhacks/zod. Bundled by scripts/vendor-zod.mjs. */`,
  },
  plugins: [englishOnlyZodLocales],
  logLevel: 'warning',
});

await writeFile(
  wrapper,
  [
    '// Written by scripts/vendor-zod.mjs: zod/mini with English messages only, bundled (see src/common/zod.ts).',
    "export * from '../vendor/zod-mini.js';",
    '',
  ].join('\n'),
);
console.log(`dist/vendor/zod-mini.js: zod ${version}, English only`);
