// Preloaded (`node --import <this file> …`): counts the modules a process loads. ES modules
// are seen by a load hook (it runs on the hooks thread and appends each file URL to
// BENCH_MODULES_OUT); CommonJS modules that require() loads never reach that hook, so the
// require cache is added at exit, under the marker line `# cjs`.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const out = process.env.BENCH_MODULES_OUT;
if (out) {
  register('./count-modules-hooks.mjs', { parentURL: import.meta.url, data: { out } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => appendFileSync(out, `# cjs\n${Object.keys(require.cache).join('\n')}\n`));
}
