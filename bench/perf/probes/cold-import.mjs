// A Lambda cold import: the time to import one bundle in a fresh process (run under the
// Lambda's Node major). `node cold-import.mjs <bundle file>` prints { ms }.
import { pathToFileURL } from 'node:url';

const url = pathToFileURL(process.argv[2]).href;
const start = performance.now();
await import(url);
const ms = performance.now() - start;
process.stdout.write(`\n${JSON.stringify({ ms })}\n`);
