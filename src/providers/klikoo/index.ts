/**
 * Klikoo B2B OpenAPI: client credentials in a JSON body, signed with the client's RSA
 * key, answered inside a `response_code`/`data` wrapper. Tokens live 900 s
 * and there is no refresh token: renewal is always a new signed call.
 * @see docs/protocols.md#klikoo, from Klikoo's "Access Token" page and its "Auth Signature" section
 */
import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { ProviderError } from '../../errors.js';
import type { TokenProvider } from '../contract.js';
import { parseJsonObject, post } from '../shared/http.js';
import type { KlikooProviderConfig } from './schema.js';

/** Default token lifetime Klikoo documents. */
export const KLIKOO_ACCESS_SECONDS = 900;

/**
 * Formats an instant as Jakarta local time, `yyyy-MM-ddTHH:mm:ss+07:00`. Jakarta has no
 * daylight saving, so a fixed +7 h offset is exact.
 * @example klikooTimestamp(new Date('2022-03-21T03:11:40Z')) // '2022-03-21T10:11:40+07:00'
 */
export function klikooTimestamp(date: Date): string {
  const local = new Date(date.getTime() + 7 * 3600_000);
  return `${local.toISOString().slice(0, 19)}+07:00`;
}

/** Base64 SHA256withRSA (RSASSA-PKCS1-v1_5) signature of `client_id|timestamp`. */
export function klikooSignature(clientId: string, timestamp: string, key: KeyObject): string {
  return createSign('sha256').update(`${clientId}|${timestamp}`).sign(key, 'base64');
}

/** Builds a Klikoo provider from its resolved config; the key is parsed once, here. */
export function createKlikooProvider(
  config: KlikooProviderConfig,
  timeoutMs: number,
  now: () => Date = () => new Date(),
): TokenProvider {
  const key = createPrivateKey({ key: config.private_key, format: 'pem' });
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('klikoo private_key must be an RSA key');
  const url = `${config.base_url.replace(/\/+$/, '')}/v1/open-api/access-token`;
  const lifetime = config.default_lifetime_seconds ?? KLIKOO_ACCESS_SECONDS;

  return {
    kind: 'klikoo',
    async obtain(call) {
      const timestamp = klikooTimestamp(now());
      const raw = await post(
        url,
        {
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'Open-Api-Timestamp': timestamp,
            'Open-Api-Signature': klikooSignature(config.client_id, timestamp, key),
          },
          body: JSON.stringify({
            grant_type: 'client_credentials',
            additional_info: { client_id: config.client_id, client_secret: config.client_secret },
          }),
        },
        { timeoutMs, ...(call?.signal ? { signal: call.signal } : {}) },
      );
      const body = parseJsonObject(raw);
      const code = typeof body['response_code'] === 'string' ? body['response_code'] : undefined;
      const succeeded = raw.status === 200 && code !== undefined && code.startsWith('200');
      if (!succeeded) {
        const message =
          typeof body['response_message'] === 'string' ? body['response_message'].slice(0, 200) : 'no message';
        throw new ProviderError(
          'permanent',
          `klikoo refused the token request: HTTP ${raw.status}, response_code ${code ?? 'missing'} (${message})`,
          { status: raw.status, reason: code ?? 'missing_response_code' },
        );
      }
      const data = body['data'] as Record<string, unknown> | undefined;
      const accessToken = data?.['access_token'];
      if (typeof accessToken !== 'string' || accessToken.length === 0) {
        throw new ProviderError('permanent', 'malformed klikoo response: data.access_token is missing', {
          status: raw.status,
          reason: 'malformed_response',
        });
      }
      const expiresIn = data?.['expires_in'];
      if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !(expiresIn > 0))) {
        throw new ProviderError('permanent', 'malformed klikoo response: data.expires_in is not a positive number', {
          status: raw.status,
          reason: 'malformed_response',
        });
      }
      const tokenType = typeof data?.['token_type'] === 'string' ? data['token_type'] : 'Bearer';
      return { accessToken, tokenType, expiresIn: Math.floor(expiresIn ?? lifetime) };
    },
  };
}
