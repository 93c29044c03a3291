// Preloaded by a test (`node --import <this file> …`): writes the file URL of every module
// the process loads to $MODULE_RECORDER_OUT, one a line. ES modules (and the CommonJS
// entries they import) are seen by a load hook on the hooks thread; CommonJS modules
// loaded by require() never reach it, so the require cache is added at exit.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const out = process.env.MODULE_RECORDER_OUT;
if (out) {
  register('./module-recorder-hooks.mjs', { parentURL: import.meta.url, data: { out } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const required = Object.keys(require.cache).map((file) => `${pathToFileURL(file).href}\n`);
    appendFileSync(out, required.join(''));
  });
}
