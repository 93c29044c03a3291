/**
 * Which URLs may carry credentials. Shared by the config schema (a `token_url` or a store
 * `address` is refused at load) and by the provider transport (checked again at each call).
 */

/** True for `localhost`, `127.0.0.0/8` and `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** True for a URL allowed to carry credentials: HTTPS, or HTTP on a loopback address. */
export function isSafeTokenUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}
