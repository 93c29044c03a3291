/**
 * Every string an error and its causes hold (message, stack, own properties, to a depth of
 * 5), as text: where a test looks for a secret that must not be there.
 */
export function everythingIn(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (typeof current !== 'object') {
      parts.push(String(current));
      break;
    }
    parts.push(String(current), JSON.stringify(current, Object.getOwnPropertyNames(current)));
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}
