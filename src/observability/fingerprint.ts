import { hash } from 'node:crypto';

/**
 * A short, stable, non-reversible label for a secret, safe to log: the first 12 hex
 * digits of its SHA-256. Enough to tell two tokens apart in logs, useless to an attacker.
 * @example fingerprint('eyJ0eXAi…') // 'sha256:3f9c8962c4b1'
 */
export function fingerprint(secret: string): string {
  return `sha256:${hash('sha256', secret, 'hex').slice(0, 12)}`;
}
