import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { webhooksSchema } from '../../src/common/webhooks.js';
import { configJsonSchema, fieldKit } from '../../src/config/schema.js';
import type { Outcome } from '../../src/engine/outcome.js';
import {
  CLOUDEVENTS_CONTENT_TYPE,
  cloudEvent,
  consecutiveFailures,
  outcomeEvents,
  signatureHeaders,
  WEBHOOK_FAILED,
  WebhookDispatcher,
} from '../../src/observability/webhooks.js';
import { captureLogs } from '../helpers/captured-logger.js';

/** pino's number for `warn`. */
const WARN = 40;
const SECRET = 'webhook-unit-secret-0123456789';
const rotated: Outcome = {
  provider: 'api',
  status: 'rotated',
  ok: true,
  method: 'refresh',
  reason: 'due',
  expiresAt: '2099-01-01T00:00:00.000Z',
  generation: 7,
  durationMs: 12,
};
const failed: Outcome = {
  provider: 'api',
  status: 'failed',
  ok: false,
  error: { class: 'retryable', code: 'PROVIDER_UNAVAILABLE', message: 'HTTP 503 from the token endpoint' },
  durationMs: 3,
};

/** What a receiver does: recompute the Standard Webhooks signature over the raw body. */
function verifies(secret: string, headers: Record<string, string>, body: string): boolean {
  const [version, mac] = (headers['webhook-signature'] ?? '').split(',');
  const expected = createHmac('sha256', secret)
    .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`)
    .digest();
  const got = Buffer.from(mac ?? '', 'base64');
  return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
}

interface Sent {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A fetch answering each request with the next status of `statuses` (the last one repeats), recording it. */
function scriptedFetch(statuses: readonly (number | 'error' | 'hang')[]) {
  const sent: Sent[] = [];
  const fake = (async (url: string | URL | Request, init?: RequestInit) => {
    sent.push({ url: String(url), headers: init?.headers as Record<string, string>, body: String(init?.body) });
    const status = statuses[Math.min(sent.length - 1, statuses.length - 1)];
    if (status === 'error') throw new TypeError('fetch failed');
    if (status === 'hang')
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true }),
      );
    return new Response(null, { status: status ?? 200 });
  }) as typeof fetch;
  return { fake, sent };
}

describe('webhooks', () => {
  describe('outcomeEvents', () => {
    it('raises rotated for a rotation and failed for a failure', () => {
      expect(outcomeEvents(rotated, 0)).toEqual(['rotated']);
      expect(outcomeEvents(failed, 3)).toEqual(['failed']);
    });

    it('raises recovered when a provider left healthy had consecutive failures before the pass', () => {
      expect(outcomeEvents(rotated, 2)).toEqual(['rotated', 'recovered']);
      expect(outcomeEvents({ ...rotated, status: 'fresh' }, 1)).toEqual(['recovered']);
    });

    it('raises nothing for a fresh, busy or backing-off provider without failures before', () => {
      expect(outcomeEvents({ ...rotated, status: 'fresh' }, 0)).toEqual([]);
      expect(outcomeEvents({ ...rotated, status: 'fresh' }, undefined)).toEqual([]);
      expect(outcomeEvents({ ...failed, status: 'backoff' }, 2)).toEqual([]);
      expect(outcomeEvents({ ...rotated, status: 'busy', ok: true }, 2)).toEqual([]);
    });

    it('reads failures.consecutive from a raw state record', () => {
      expect(consecutiveFailures({ failures: { consecutive: 3 } })).toBe(3);
      expect(consecutiveFailures({})).toBeUndefined();
      expect(consecutiveFailures(undefined)).toBeUndefined();
    });
  });

  describe('cloudEvent', () => {
    it('is a CloudEvents 1.0 event whose data holds only the outcome facts', () => {
      const event = cloudEvent('rotated', rotated, { source: 'token-rotator/host', time: new Date(0), id: 'id-1' });
      expect(event).toEqual({
        specversion: '1.0',
        id: 'id-1',
        source: 'token-rotator/host',
        type: 'io.token-rotator.rotated',
        subject: 'api',
        time: '1970-01-01T00:00:00.000Z',
        datacontenttype: 'application/json',
        data: {
          provider: 'api',
          status: 'rotated',
          generation: 7,
          expires_at: '2099-01-01T00:00:00.000Z',
          method: 'refresh',
          reason: 'due',
        },
      });
    });

    it('carries a failure as its class, code and message', () => {
      const event = cloudEvent('failed', failed, { source: 's', time: new Date(0) });
      expect(event.type).toBe('io.token-rotator.failed');
      expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(event.data.error).toEqual(failed.error);
    });
  });

  describe('signatureHeaders', () => {
    it('signs id, timestamp and body with HMAC-SHA256 as Standard Webhooks does', () => {
      const headers = signatureHeaders(SECRET, 'msg-1', 1_700_000_000, '{"a":1}');
      expect(headers['webhook-id']).toBe('msg-1');
      expect(headers['webhook-timestamp']).toBe('1700000000');
      expect(verifies(SECRET, headers, '{"a":1}')).toBe(true);
      expect(verifies(SECRET, headers, '{"a":2}')).toBe(false);
      expect(verifies('another-secret', headers, '{"a":1}')).toBe(false);
    });

    it('decodes a whsec_ secret as base64, the Standard Webhooks key format', () => {
      const key = Buffer.from('raw-key-bytes');
      const headers = signatureHeaders(`whsec_${key.toString('base64')}`, 'm', 1, 'b');
      const mac = createHmac('sha256', key).update('m.1.b').digest('base64');
      expect(headers['webhook-signature']).toBe(`v1,${mac}`);
    });
  });

  describe('webhooksSchema', () => {
    it('refuses a plain-text secret and a plain http URL off loopback', () => {
      const schema = webhooksSchema(fieldKit('raw'));
      expect(schema.safeParse([{ url: 'https://hooks.example.com/x', secret: '${env:S}' }]).success).toBe(true);
      expect(schema.safeParse([{ url: 'https://hooks.example.com/x', secret: 'plain' }]).success).toBe(false);
      expect(schema.safeParse([{ url: 'http://hooks.example.com/x', secret: '${env:S}' }]).success).toBe(false);
      expect(schema.safeParse([{ url: 'http://127.0.0.1:9/x', secret: '${env:S}' }]).success).toBe(true);
      expect(schema.safeParse([{ url: 'https://h.example/x', secret: '${env:S}', events: ['x'] }]).success).toBe(false);
      expect(schema.parse(undefined)).toBeUndefined();
    });

    it('is described in the config JSON Schema for editors', () => {
      const properties = configJsonSchema()['properties'] as Record<string, any>;
      const item = properties['webhooks']?.items;
      expect(Object.keys(item.properties).sort()).toEqual(['events', 'secret', 'source', 'url']);
      expect(item.required).toEqual(['url', 'secret']);
      expect(item.properties.events.items.enum).toEqual(['rotated', 'failed', 'recovered']);
      expect(item.properties.secret.description).toMatch(/HMAC-SHA256/);
    });
  });

  describe('WebhookDispatcher', () => {
    const target = { url: 'https://hooks.example.com/in?key=receiver-token', secret: SECRET };

    it('posts a signed CloudEvent per event and receiver that wants it, without being awaited', async () => {
      const { fake, sent } = scriptedFetch([200]);
      const { logger } = captureLogs();
      const dispatcher = new WebhookDispatcher({ logger, fetch: fake, now: () => 1_700_000_000_000 });

      dispatcher.notify(
        [target, { ...target, url: 'https://other.example.com/', events: ['failed'] }],
        [rotated],
        () => 1,
      );
      expect(dispatcher.pending).toBe(2);
      expect(await dispatcher.settle(1000)).toEqual({ abandoned: 0 });

      expect(sent.map((s) => [s.url, JSON.parse(s.body).type])).toEqual([
        [target.url, 'io.token-rotator.rotated'],
        [target.url, 'io.token-rotator.recovered'],
      ]);
      for (const { headers, body } of sent) {
        expect(headers['content-type']).toBe(CLOUDEVENTS_CONTENT_TYPE);
        expect(headers['webhook-id']).toBe(JSON.parse(body).id);
        expect(headers['webhook-timestamp']).toBe('1700000000');
        expect(verifies(SECRET, headers, body)).toBe(true);
      }
    });

    it('retries a network error, a 5xx and a 429 with back-off, then delivers', async () => {
      const { fake, sent } = scriptedFetch(['error', 503, 429, 204]);
      const { logger, lines } = captureLogs();
      const dispatcher = new WebhookDispatcher({ logger, fetch: fake, retryDelaysMs: [1, 1, 1] });
      dispatcher.notify([target], [failed], () => 0);
      await dispatcher.settle(5000);
      expect(sent).toHaveLength(4);
      expect(new Set(sent.map((s) => JSON.parse(s.body).id)).size).toBe(1);
      expect(lines().filter((line) => line['level'] === WARN)).toEqual([]);
    });

    it('gives up after its retries with a warning that names neither the secret nor the body', async () => {
      const { fake, sent } = scriptedFetch([500]);
      const { logger, lines, text } = captureLogs();
      const dispatcher = new WebhookDispatcher({ logger, fetch: fake, retryDelaysMs: [1, 1, 1] });
      dispatcher.notify([target], [failed], () => 0);
      await dispatcher.settle(5000);
      expect(sent).toHaveLength(4);
      const warnings = lines().filter((line) => line['level'] === WARN);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.['err']).toEqual({ class: 'webhook', code: WEBHOOK_FAILED, message: 'HTTP 500' });
      expect(warnings[0]?.['receiver']).toBe('https://hooks.example.com/in');
      expect(text()).not.toContain(SECRET);
      expect(text()).not.toContain('receiver-token');
      expect(text()).not.toContain(failed.error?.message);
    });

    it('does not retry a 4xx other than 429', async () => {
      const { fake, sent } = scriptedFetch([401]);
      const { logger } = captureLogs();
      const dispatcher = new WebhookDispatcher({ logger, fetch: fake, retryDelaysMs: [1, 1, 1] });
      dispatcher.notify([target], [failed], () => 0);
      await dispatcher.settle(5000);
      expect(sent).toHaveLength(1);
    });

    it('abandons, within the bound of settle, a receiver that never answers', async () => {
      const { fake } = scriptedFetch(['hang']);
      const { logger, lines } = captureLogs();
      const dispatcher = new WebhookDispatcher({ logger, fetch: fake, attemptTimeoutMs: 60_000 });
      dispatcher.notify([target], [failed], () => 0);
      const started = performance.now();
      expect(await dispatcher.settle(200)).toEqual({ abandoned: 1 });
      expect(performance.now() - started).toBeLessThan(2000);
      expect(dispatcher.pending).toBe(0);
      expect(lines().find((line) => line['level'] === WARN)?.['err']?.['message']).toBe('the runtime stopped waiting');
    });

    it('sends nothing without receivers or events', async () => {
      const { fake, sent } = scriptedFetch([200]);
      const { logger } = captureLogs();
      const dispatcher = new WebhookDispatcher({ logger, fetch: fake });
      dispatcher.notify([], [rotated], () => 1);
      dispatcher.notify([target], [{ ...rotated, status: 'fresh' }], () => 0);
      expect(dispatcher.pending).toBe(0);
      await dispatcher.settle();
      expect(sent).toEqual([]);
    });
  });
});
