/** The package's version, for `token-rotator --version` and the metrics' `version` label. */
import { readFileSync } from 'node:fs';

/**
 * The package's version, read from the `package.json` two folders above this file: the
 * package root, whether this runs as `dist/runtimes/version.js` (a checkout, the container
 * image, an installed package, where npm always ships `package.json`) or as the source.
 * @throws {Error} when that file cannot be read or names no version.
 */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string') throw new Error('package.json names no version');
  return manifest.version;
}
