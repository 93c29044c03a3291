/**
 * Plain HTTP helpers for the sandbox tests: build token requests the way the vendors'
 * examples do, and read answers without judging them.
 */
import { sign } from 'node:crypto';
import type { Sandbox } from '../../src/sandbox/index.js';

/** An answer read in full. `json` is `undefined` when the body is not JSON. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: unknown;
}

/** A JSON object answer's fields, for terse assertions. */
export type Fields = Record<string, unknown>;

/** Sends a request and reads the whole answer. */
export async function call(url: string, init: RequestInit): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The answer's JSON as an object (fails loudly when it is not one). */
export function fields(answer: Answer): Fields {
  if (typeof answer.json !== 'object' || answer.json === null)
    throw new Error(`not a JSON object: ${answer.status} ${answer.text.slice(0, 200)}`);
  return answer.json as Fields;
}

/** `application/x-www-form-urlencoded`, as the PHP examples send. */
export function form(params: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  };
}

/** `multipart/form-data`, as curl `--form` and jQuery `FormData` send. */
export function multipart(params: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  const body = new FormData();
  for (const [name, value] of Object.entries(params)) body.append(name, value);
  return { method: 'POST', headers, body };
}

/** `application/json`, as seed 004 and Klikoo send. */
export function json(value: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

/** A Klikoo `Open-Api-Timestamp` for an instant: Jakarta wall time with `+07:00`. */
export function jakartaTimestamp(ms: number): string {
  return `${new Date(ms + 7 * 3600 * 1000).toISOString().slice(0, 19)}+07:00`;
}

/** RSASSA-PKCS1-v1_5 SHA-256 over `client_id|timestamp`, base64, as Klikoo documents. */
export function klikooSignature(clientId: string, timestamp: string, privateKeyPem: string): string {
  return sign('sha256', Buffer.from(`${clientId}|${timestamp}`, 'utf8'), privateKeyPem).toString('base64');
}

/** A complete Klikoo access-token request. */
export function klikooRequest(
  credentials: { clientId: string; clientSecret: string; privateKeyPem: string },
  options: { timestamp?: string; signature?: string; body?: unknown } = {},
): RequestInit {
  const timestamp = options.timestamp ?? jakartaTimestamp(Date.now());
  const signature = options.signature ?? klikooSignature(credentials.clientId, timestamp, credentials.privateKeyPem);
  const body = options.body ?? {
    grant_type: 'client_credentials',
    additional_info: { client_id: credentials.clientId, client_secret: credentials.clientSecret },
  };
  return json(body, { 'Open-Api-Timestamp': timestamp, 'Open-Api-Signature': signature });
}

/** `client_secret_basic` as RFC 6749 §2.3.1 and oauth4webapi build it. */
export function basicAuth(clientId: string, clientSecret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

/** Asks the sandbox's control endpoint about a token. */
export async function introspect(sandbox: Sandbox, token: string): Promise<Fields> {
  return fields(await call(`${sandbox.url}/_sandbox/introspect`, json({ token })));
}

/** The header of a JWT, decoded. */
export function jwtHeader(token: string): Fields {
  const [header = ''] = token.split('.');
  return JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Fields;
}
