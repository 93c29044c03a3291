/**
 * The schema of the `webhooks:` section: where the rotator announces what happened to a
 * provider (see `observability/webhooks.ts` for the delivery). It lives in this leaf so
 * the config composes it without importing the code that sends.
 */
import type { FieldKit } from './fields.js';
import * as z from './zod.js';

/**
 * The events a webhook can subscribe to, by a pass's outcome for a provider:
 * - `rotated`: a new token was published (status `rotated`).
 * - `failed`: the provider's rotation failed this pass (status `failed`).
 * - `recovered`: the provider is left with a valid token (`rotated`, `fresh` or
 *   `repaired`) and its state record, as the pass first read it, counted consecutive
 *   failures (`failures.consecutive > 0`). A rotation after failures sends both `rotated`
 *   and `recovered`.
 */
export const WEBHOOK_EVENTS = ['rotated', 'failed', 'recovered'] as const;

/** One of {@link WEBHOOK_EVENTS}. */
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/**
 * The top-level `webhooks:` list: each entry a receiver with its signing secret (a
 * reference, like every credential) and the events it wants (default: all). Optional
 * without a default, so a config without webhooks resolves to the same keys as before.
 * @example webhooksSchema(fieldKit('raw')).parse([{ url: 'https://hooks.example.com/x', secret: '${env:S}' }])
 */
export function webhooksSchema(kit: FieldKit) {
  return z.optional(
    z.array(
      z.strictObject({
        url: kit.url().check(z.describe('Receiver URL: https://, or http:// on loopback only')),
        secret: kit
          .secret()
          .check(z.describe('HMAC-SHA256 signing key (Standard Webhooks; a whsec_ prefix means base64)')),
        events: z
          .optional(z.array(z.enum(WEBHOOK_EVENTS)).check(z.minLength(1, 'name at least one event')))
          .check(z.describe('Events sent to this receiver (default: rotated, failed, recovered)')),
        source: z
          .optional(kit.text())
          .check(z.describe('CloudEvents `source` attribute (default: token-rotator/<host name>)')),
      }),
    ),
  );
}
