/**
 * The daemon's `--listen` value, parsed before anything else loads: the listener itself
 * (`http.ts`, with prom-client behind it) is imported only when there is one to start.
 */
import { isIP } from 'node:net';

/** Where the listener binds. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `--listen`: `HOST:PORT`, `[IPV6]:PORT`; port 0 picks a free one.
 * @throws {TypeError} saying what is wrong with the value.
 */
export function parseListen(value: string): ListenAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d{1,5})$/.exec(value);
  if (match === null) {
    throw new TypeError(`--listen must be HOST:PORT, e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464 (got "${value}")`);
  }
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && isIP(host) !== 6) throw new TypeError(`--listen: "${host}" is not an IPv6 address`);
  const port = Number(match[3]);
  if (port > 65535) throw new TypeError(`--listen: port ${port} is out of range (0-65535)`);
  return { host, port };
}
