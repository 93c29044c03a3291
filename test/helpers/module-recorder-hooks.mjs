// The load hook of module-recorder.mjs: appends each file URL loaded to the file it is given.
import { appendFileSync } from 'node:fs';

let out = '';

/** @param {{ out: string }} data */
export function initialize(data) {
  out = data.out;
}

/** @type {import('node:module').LoadHook} */
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:')) appendFileSync(out, `${url}\n`);
  return nextLoad(url, context);
}
