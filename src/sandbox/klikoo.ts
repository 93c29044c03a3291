/**
 * Klikoo B2B OpenAPI: client credentials in a JSON body, signed with the client's RSA
 * key over `client_id|timestamp`, answered in Klikoo's `response_code` wrapper.
 *
 * @see docs/protocols.md#klikoo (Klikoo B2B OpenAPI "Access Token", `POST {URL}/v1/open-api/access-token`)
 * @see https://datatracker.ietf.org/doc/html/rfc8017#section-8.2 RSASSA-PKCS1-v1_5
 */

import type { KeyObject } from 'node:crypto';
import { createPublicKey, verify } from 'node:crypto';
import { acceptEncoding, parseJson } from './body.js';
import type { Environment, Exchange, MalformedVariant, Outcome, Protocol, Reply } from './protocol.js';
import { jsonReply, safeEqual } from './protocol.js';
import type { SandboxClient, SandboxTarget } from './types.js';

/** `yyyy-MM-ddTHH:mm:ss+07:00`, Jakarta local time, nothing else. */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\+07:00$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** How far `Open-Api-Timestamp` may stray from the sandbox clock. */
export const KLIKOO_TIMESTAMP_SKEW_SECONDS = 300;
const JAKARTA_OFFSET_MS = 7 * 3600 * 1000;

/** Klikoo's case codes after the HTTP status and the service code `012`. */
const CASE = { ok: '000', invalidField: '001', missingField: '002' } as const;

/** A Klikoo wrapper: `response_code` is the HTTP status, `012`, then a case code. */
function wrapper(status: number, caseCode: string, message: string, data?: unknown): Reply {
  return jsonReply(status, {
    response_code: `${status}012${caseCode}`,
    response_message: message,
    ...(data === undefined ? {} : { data }),
  });
}

function invalidField(message: string): Outcome {
  return { reply: wrapper(400, CASE.invalidField, `Bad Request. Invalid field format: ${message}`), notes: {} };
}

function missingField(name: string): Outcome {
  return { reply: wrapper(400, CASE.missingField, `Bad Request. Invalid mandatory field ${name}`), notes: {} };
}

function unauthorized(message: string): Outcome {
  return { reply: wrapper(401, CASE.ok, `Unauthorized. ${message}`), notes: {} };
}

function header(exchange: Exchange, name: string): string | undefined {
  const value = exchange.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The instant a Klikoo timestamp denotes, or `undefined` when it names no real date. */
export function parseKlikooTimestamp(value: string): number | undefined {
  const match = TIMESTAMP.exec(value);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(local);
  // Date.UTC rolls 30 February into March; a real timestamp survives the round trip.
  const actual = [
    check.getUTCFullYear(),
    check.getUTCMonth() + 1,
    check.getUTCDate(),
    check.getUTCHours(),
    check.getUTCMinutes(),
    check.getUTCSeconds(),
  ];
  if (actual.some((part, index) => part !== [year, month, day, hour, minute, second][index])) return undefined;
  return local - JAKARTA_OFFSET_MS;
}

/** The credentials of a well-formed body, or the answer to a malformed one. */
function readBody(body: unknown): { clientId: string; clientSecret: string } | Outcome {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return invalidField('the body must be a JSON object');
  const top = body as Record<string, unknown>;
  const extra = Object.keys(top).find((key) => key !== 'grant_type' && key !== 'additional_info');
  if (extra !== undefined) return invalidField(`unknown field ${extra}`);
  if (top['grant_type'] === undefined) return missingField('grant_type');
  if (top['grant_type'] !== 'client_credentials') return invalidField('grant_type must be "client_credentials"');
  const info = top['additional_info'];
  if (info === undefined) return missingField('additional_info');
  if (typeof info !== 'object' || info === null || Array.isArray(info))
    return invalidField('additional_info must be an object');
  const fields = info as Record<string, unknown>;
  const extraInfo = Object.keys(fields).find((key) => key !== 'client_id' && key !== 'client_secret');
  if (extraInfo !== undefined) return invalidField(`unknown field additional_info.${extraInfo}`);
  const clientId = fields['client_id'];
  if (clientId === undefined) return missingField('additional_info.client_id');
  if (typeof clientId !== 'string' || clientId.length !== 36 || !UUID_V4.test(clientId)) {
    return invalidField('additional_info.client_id must be a UUID v4 (36 characters)');
  }
  const clientSecret = fields['client_secret'];
  if (clientSecret === undefined) return missingField('additional_info.client_secret');
  if (typeof clientSecret !== 'string' || clientSecret.length !== 32)
    return invalidField('additional_info.client_secret must be 32 characters');
  return { clientId, clientSecret };
}

function publicKeyOf(client: SandboxClient): KeyObject | undefined {
  if (client.publicKeyPem === undefined) return undefined;
  try {
    return createPublicKey(client.publicKeyPem);
  } catch {
    return undefined;
  }
}

/**
 * The Klikoo token endpoint, `POST {base}/v1/open-api/access-token`. Every call issues
 * a new, independent token; earlier ones stay valid; there is no refresh token.
 */
export const klikoo: Protocol = {
  async handle(exchange: Exchange, env: Environment): Promise<Outcome> {
    const { target } = exchange;
    if (exchange.method !== 'POST') {
      const reply = wrapper(405, CASE.ok, 'Method Not Allowed. Use POST');
      return { reply: { ...reply, headers: { ...reply.headers, allow: 'POST' } }, notes: {} };
    }
    const accepted = acceptEncoding(exchange.media, ['json']);
    if (!accepted.ok) return invalidField(accepted.reason);
    const timestamp = header(exchange, 'open-api-timestamp');
    if (timestamp === undefined) return missingField('Open-Api-Timestamp');
    const signature = header(exchange, 'open-api-signature');
    if (signature === undefined) return missingField('Open-Api-Signature');
    const credentials = readBody(parseJson(exchange.body));
    if ('reply' in credentials) return credentials;

    const instant = parseKlikooTimestamp(timestamp);
    if (instant === undefined) return unauthorized('Open-Api-Timestamp must be yyyy-MM-ddTHH:mm:ss+07:00');
    if (Math.abs(env.now() - instant) > KLIKOO_TIMESTAMP_SKEW_SECONDS * 1000) {
      return unauthorized(
        `Open-Api-Timestamp is more than ${KLIKOO_TIMESTAMP_SKEW_SECONDS} seconds away from the server time`,
      );
    }
    const client = env.client(target, credentials.clientId);
    if (client === undefined) return unauthorized('Unknown client');
    const key = publicKeyOf(client);
    if (key === undefined) return unauthorized('No usable public key is registered for the client');
    if (signature.length % 4 !== 0 || !BASE64.test(signature)) return unauthorized('Open-Api-Signature is not base64');
    const signed = Buffer.from(`${credentials.clientId}|${timestamp}`, 'utf8');
    if (!verify('sha256', signed, key, Buffer.from(signature, 'base64'))) return unauthorized('Invalid signature');
    if (!safeEqual(credentials.clientSecret, client.clientSecret)) return unauthorized('Invalid client secret');

    const { accessSeconds } = env.lifetime(target);
    const tokens = env.ledger.issue({ target, clientId: client.clientId, style: 'klikoo', accessSeconds });
    env.count(target, 'obtained');
    env.count(target, 'issued');
    return {
      reply: wrapper(200, CASE.ok, 'Sukses', {
        access_token: tokens.accessToken,
        token_type: 'Bearer',
        expires_in: accessSeconds,
      }),
      notes: {},
    };
  },

  error(status: number, message: string): Reply {
    return wrapper(status, CASE.ok, message);
  },

  malformed(variant: MalformedVariant, target: SandboxTarget, env: Environment): Reply {
    const expiresIn = env.lifetime(target).accessSeconds;
    if (variant === 'not_json')
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '<html><body>Sukses</body></html>' };
    if (variant === 'missing_access_token')
      return wrapper(200, CASE.ok, 'Sukses', { token_type: 'Bearer', expires_in: expiresIn });
    return wrapper(200, CASE.ok, 'Sukses', {
      access_token: 12345,
      token_type: 'Bearer',
      expires_in: String(expiresIn),
    });
  },

  errorIn200(): Reply {
    return jsonReply(200, { response_code: '401012000', response_message: 'Unauthorized. Invalid signature' });
  },
};
