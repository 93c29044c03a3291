/**
 * Webhooks: after a pass, each provider's outcome is announced to the configured
 * receivers as a CloudEvents 1.0 structured JSON event, signed the Standard Webhooks way.
 *
 * Delivery never blocks a rotation: {@link WebhookDispatcher.notify} returns at once and
 * the requests run in the background, retried with exponential back-off and jitter on a
 * network error, a timeout, a 5xx or a 429. A runtime that is about to end (`run`, a
 * Lambda invocation, the daemon's stop) waits for them with a bound
 * ({@link WebhookDispatcher.settle}).
 *
 * An event carries only facts that are safe to print (the provider's name, generation,
 * expiry, method and, for a failure, its class, code and message, which are secret-free
 * by design): never a token, a secret, nor a fingerprint of either. The signing secret
 * only keys the HMAC; no log line names it or a body.
 *
 * @see https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md
 * @see https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 */
import { createHmac, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { abortableSleep } from '../common/sleep.js';
import type { WebhookEventName } from '../common/webhooks.js';
import type { Outcome } from '../engine/outcome.js';
import { describeError } from '../errors.js';
import type { Logger } from './logger.js';

export { WEBHOOK_EVENTS, type WebhookEventName } from '../common/webhooks.js';

/** The CloudEvents `type` of each event: reverse-DNS of the project, then the event's name. */
export const WEBHOOK_EVENT_TYPES: Readonly<Record<WebhookEventName, string>> = {
  rotated: 'io.token-rotator.rotated',
  failed: 'io.token-rotator.failed',
  recovered: 'io.token-rotator.recovered',
};

/** The media type of a CloudEvent in structured JSON mode. */
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/** The code of the log line that reports a webhook given up. */
export const WEBHOOK_FAILED = 'WEBHOOK_FAILED';

/** One receiver, as the resolved config gives it. */
export interface WebhookTarget {
  readonly url: string;
  /** The HMAC key; `whsec_<base64>` is decoded as Standard Webhooks does, any other value is used as UTF-8. */
  readonly secret: string;
  /** Default: every event. */
  readonly events?: readonly WebhookEventName[] | undefined;
  /** The CloudEvents `source`; default `token-rotator/<host name>`. */
  readonly source?: string | undefined;
}

/** The `data` of an event: non-secret facts of the outcome. */
export interface WebhookEventData {
  readonly provider: string;
  readonly status: Outcome['status'];
  readonly generation?: number;
  readonly expires_at?: string;
  readonly method?: string;
  readonly reason?: string;
  readonly error?: { readonly class: string; readonly code: string; readonly message: string };
}

/** A CloudEvents 1.0 event as sent (structured JSON mode). */
export interface CloudEvent {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly subject: string;
  readonly time: string;
  readonly datacontenttype: 'application/json';
  readonly data: WebhookEventData;
}

/**
 * The events an outcome raises. `previousFailures` is the `failures.consecutive` of the
 * state record as the pass first read it (0 or undefined when none).
 * @example outcomeEvents({ provider: 'a', status: 'rotated', ok: true, durationMs: 1 }, 2) // ['rotated', 'recovered']
 */
export function outcomeEvents(outcome: Outcome, previousFailures: number | undefined): WebhookEventName[] {
  const events: WebhookEventName[] = [];
  if (outcome.status === 'rotated') events.push('rotated');
  if (outcome.status === 'failed') events.push('failed');
  const healthy = outcome.ok && ['rotated', 'fresh', 'repaired'].includes(outcome.status);
  if (healthy && (previousFailures ?? 0) > 0) events.push('recovered');
  return events;
}

/** The `failures.consecutive` of a raw state record, if it has one. */
export function consecutiveFailures(state: Record<string, unknown> | undefined): number | undefined {
  const failures = state?.['failures'];
  if (failures === null || typeof failures !== 'object') return undefined;
  const consecutive = (failures as Record<string, unknown>)['consecutive'];
  return typeof consecutive === 'number' ? consecutive : undefined;
}

/** The CloudEvent announcing `event` for `outcome`. */
export function cloudEvent(
  event: WebhookEventName,
  outcome: Outcome,
  options: { readonly source: string; readonly time: Date; readonly id?: string },
): CloudEvent {
  const { provider, status, generation, expiresAt, method, reason, error } = outcome;
  return {
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source,
    type: WEBHOOK_EVENT_TYPES[event],
    subject: provider,
    time: options.time.toISOString(),
    datacontenttype: 'application/json',
    data: {
      provider,
      status,
      ...(generation === undefined ? {} : { generation }),
      ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
      ...(method === undefined ? {} : { method }),
      ...(reason === undefined ? {} : { reason }),
      ...(error === undefined ? {} : { error: { class: error.class, code: error.code, message: error.message } }),
    },
  };
}

/** The HMAC key of a secret: `whsec_<base64>` decoded (Standard Webhooks), else its UTF-8 bytes. */
function signingKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret);
}

/**
 * The Standard Webhooks headers of a body: `webhook-id`, `webhook-timestamp` (Unix
 * seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
 * A receiver recomputes the HMAC over the raw body it got, compares in constant time and
 * refuses a timestamp too far from its clock (replays).
 * @example signatureHeaders('whsec_c2VjcmV0', 'id-1', 1700000000, '{}')['webhook-signature'] // 'v1,…'
 */
export function signatureHeaders(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const timestamp = String(timestampSeconds);
  const mac = createHmac('sha256', signingKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${mac}` };
}

/** Options of a {@link WebhookDispatcher}; all but `logger` are for tests. */
export interface WebhookDispatcherOptions {
  readonly logger: Logger;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly random?: () => number;
  /** The back-off before each retry, before jitter (each is drawn in [d/2, d]); default 1 s, 4 s, 16 s. */
  readonly retryDelaysMs?: readonly number[];
  /** Per request; default 5 s. */
  readonly attemptTimeoutMs?: number;
}

/** What {@link WebhookDispatcher.settle} found: deliveries that had not finished when its bound passed (then abandoned). */
export interface SettleResult {
  readonly abandoned: number;
}

/** The default bound of {@link WebhookDispatcher.settle}: what a short-lived runtime waits at most before exiting. */
export const WEBHOOK_SETTLE_MS = 10_000;

const RETRYABLE_STATUS = (status: number) => status === 429 || status >= 500;

/**
 * Sends webhooks in the background. One dispatcher per rotator; {@link notify} after each
 * pass, {@link settle} before the runtime ends.
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #inFlight = new Set<Promise<void>>();
  #abort = new AbortController();

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
  }

  /** Deliveries not yet finished (sent, waiting to retry, or in flight). */
  get pending(): number {
    return this.#inFlight.size;
  }

  /**
   * Queues the events of a pass's outcomes for every receiver that wants them; returns at
   * once. `previousFailures(provider)` is the provider's `failures.consecutive` before the pass.
   */
  notify(
    targets: readonly WebhookTarget[],
    outcomes: readonly Outcome[],
    previousFailures: (provider: string) => number | undefined,
  ): void {
    if (targets.length === 0) return;
    const time = new Date((this.#options.now ?? Date.now)());
    for (const outcome of outcomes) {
      for (const event of outcomeEvents(outcome, previousFailures(outcome.provider))) {
        for (const target of targets) {
          if (target.events !== undefined && !target.events.includes(event)) continue;
          const source = target.source ?? `token-rotator/${hostname()}`;
          this.#track(this.#deliver(target, cloudEvent(event, outcome, { source, time })));
        }
      }
    }
  }

  /**
   * Waits for the deliveries in flight, at most `timeoutMs`; those still running then are
   * abandoned (their requests aborted), each with a warning.
   */
  async settle(timeoutMs: number = WEBHOOK_SETTLE_MS): Promise<SettleResult> {
    if (this.#inFlight.size === 0) return { abandoned: 0 };
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs));
    });
    const all = (async () => {
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
      return 'done' as const;
    })();
    const result = await Promise.race([all, bound]);
    clearTimeout(timer);
    if (result === 'done') return { abandoned: 0 };
    const abandoned = this.#inFlight.size;
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
    this.#abort = new AbortController();
    return { abandoned };
  }

  #track(delivery: Promise<void>): void {
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
  }

  async #deliver(target: WebhookTarget, event: CloudEvent): Promise<void> {
    const { logger } = this.#options;
    const doFetch = this.#options.fetch ?? fetch;
    const now = this.#options.now ?? Date.now;
    const random = this.#options.random ?? Math.random;
    const delays = this.#options.retryDelaysMs ?? [1000, 4000, 16_000];
    const timeoutMs = this.#options.attemptTimeoutMs ?? 5000;
    const abort = this.#abort.signal;
    const body = JSON.stringify(event);
    // The receiver's address without credentials or query (it may hold a token of the receiver's).
    const receiver = describeReceiver(target.url);
    const context = { receiver, event_type: event.type, event_id: event.id, provider: event.subject };
    let last = '';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) {
        const delay = delays[attempt - 1] ?? 0;
        await abortableSleep(delay / 2 + (random() * delay) / 2, abort);
      }
      if (abort.aborted) {
        last = 'the runtime stopped waiting';
        break;
      }
      try {
        const headers = {
          'content-type': CLOUDEVENTS_CONTENT_TYPE,
          ...signatureHeaders(target.secret, event.id, Math.floor(now() / 1000), body),
        };
        const response = await doFetch(target.url, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.any([abort, AbortSignal.timeout(timeoutMs)]),
        });
        await response.body?.cancel().catch(() => undefined);
        if (response.ok) {
          logger.debug({ ...context, attempts: attempt + 1 }, 'webhook delivered');
          return;
        }
        last = `HTTP ${response.status}`;
        if (!RETRYABLE_STATUS(response.status)) break;
      } catch (error) {
        last = abort.aborted ? 'the runtime stopped waiting' : describeError(error);
      }
    }
    logger.warn(
      { ...context, err: { class: 'webhook', code: WEBHOOK_FAILED, message: last } },
      'webhook not delivered; giving up on this event',
    );
  }
}

/** A URL as it can be logged: scheme, host, port and path only. */
function describeReceiver(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
