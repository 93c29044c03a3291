// Config parse in a fresh process, as a runner pays it at start: `parseConfig` from the
// built `dist/` (YAML, the raw schema, env and file references, the resolved schema) on a
// generated config. The file is read before the clock starts.
//
//   node config-parse.mjs <dist directory> <config path>
// Prints one JSON line: { ms, providers }.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, path] = process.argv.slice(2);
const { parseConfig } = await import(pathToFileURL(join(dist, 'config/load.js')).href);
const text = await readFile(path, 'utf8');
const start = performance.now();
const loaded = await parseConfig(text, path, process.env);
const ms = performance.now() - start;
process.stdout.write(`${JSON.stringify({ ms, providers: loaded.providerNames.length })}\n`);
