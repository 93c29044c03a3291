/**
 * Request bodies: read with a size cap, then decoded strictly by media type. A body the
 * sandbox cannot decode is a client bug, so every oddity (unknown media type, a
 * parameter sent twice, a file part, a non-string JSON value) is refused.
 */
import type { IncomingMessage } from 'node:http';

/** Largest request body accepted; a larger one is answered 413. */
export const MAX_BODY_BYTES = 64 * 1024;

/** Past this the sandbox stops draining an oversized body and drops the connection. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;

/** A request body read in full, or the fact that it was too large. */
export type RawBody = { readonly tooLarge: false; readonly bytes: Buffer } | { readonly tooLarge: true };

/**
 * Reads the request body. An oversized body is drained (so the client can read the 413)
 * up to a hard limit, past which the socket is destroyed.
 */
export function readBody(req: IncomingMessage): Promise<RawBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT_BYTES) {
        req.socket.destroy();
        return;
      }
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(size > MAX_BODY_BYTES ? { tooLarge: true } : { tooLarge: false, bytes: Buffer.concat(chunks) }),
    );
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('request aborted'));
    });
  });
}

/** A parsed `Content-Type`: the lower-case media type and its parameters. */
export interface MediaType {
  readonly essence: string;
  readonly params: ReadonlyMap<string, string>;
}

/** Parses a `Content-Type` header (RFC 9110 §8.3.1); `undefined` when absent or unparsable. */
export function parseContentType(header: string | undefined): MediaType | undefined {
  if (header === undefined) return undefined;
  const [head = '', ...rest] = header.split(';');
  const essence = head.trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(essence)) return undefined;
  const params = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 1) return undefined;
    const name = part.slice(0, eq).trim().toLowerCase();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (params.has(name)) return undefined;
    params.set(name, value);
  }
  return { essence, params };
}

/** The body encodings a token endpoint may accept. */
export type BodyEncoding = 'form' | 'multipart' | 'json';

const ESSENCES: Record<BodyEncoding, string> = {
  form: 'application/x-www-form-urlencoded',
  multipart: 'multipart/form-data',
  json: 'application/json',
};

/** A body decoded into flat string parameters, or why it could not be. */
export type ParsedParams =
  | { readonly ok: true; readonly params: ReadonlyMap<string, string>; readonly encoding: BodyEncoding }
  | { readonly ok: false; readonly reason: string };

/** The encoding a media type was accepted as, or why it was not. */
export type AcceptedEncoding =
  | { readonly ok: true; readonly encoding: BodyEncoding }
  | { readonly ok: false; readonly reason: string };

/**
 * Which allowed encoding a media type is. Only `charset=utf-8` may qualify form and JSON
 * bodies; multipart needs its `boundary` and nothing else.
 */
export function acceptEncoding(media: MediaType | undefined, allowed: readonly BodyEncoding[]): AcceptedEncoding {
  const accepted = allowed.map((encoding) => ESSENCES[encoding]).join(', ');
  if (media === undefined) return { ok: false, reason: `Content-Type must be one of ${accepted}` };
  const encoding = allowed.find((candidate) => ESSENCES[candidate] === media.essence);
  if (encoding === undefined)
    return { ok: false, reason: `Content-Type ${media.essence} is not accepted; use one of ${accepted}` };
  for (const [name, value] of media.params) {
    if (encoding === 'multipart' && name === 'boundary' && value !== '') continue;
    if (encoding !== 'multipart' && name === 'charset' && value.toLowerCase() === 'utf-8') continue;
    return { ok: false, reason: `Content-Type parameter ${name} is not accepted` };
  }
  if (encoding === 'multipart' && !media.params.has('boundary'))
    return { ok: false, reason: 'multipart/form-data needs a boundary' };
  return { ok: true, encoding };
}

/**
 * `grant_type` of a body, best effort and without judging it: for the request log, also
 * of requests a fault answered before any grant.
 */
export async function peekGrantType(
  bytes: Buffer,
  media: MediaType | undefined,
  contentType: string | undefined,
): Promise<string | undefined> {
  if (media === undefined || contentType === undefined) return undefined;
  const encoding = (Object.keys(ESSENCES) as BodyEncoding[]).find((candidate) => ESSENCES[candidate] === media.essence);
  if (encoding === undefined) return undefined;
  if (encoding === 'json') {
    const json = parseJson(bytes);
    const value: unknown =
      typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['grant_type'] : undefined;
    return typeof value === 'string' ? value.slice(0, 64) : undefined;
  }
  const parsed = await parseParams(bytes, encoding, contentType);
  return parsed.ok ? parsed.params.get('grant_type')?.slice(0, 64) : undefined;
}

/** Decodes a body of a known encoding into string parameters, each sent once. */
export async function parseParams(bytes: Buffer, encoding: BodyEncoding, contentType: string): Promise<ParsedParams> {
  const entries: [string, unknown][] = [];
  if (encoding === 'form') {
    entries.push(...new URLSearchParams(bytes.toString('utf8')));
  } else if (encoding === 'multipart') {
    let form: FormData;
    try {
      form = await new Request('http://sandbox.invalid/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: bytes,
      }).formData();
    } catch {
      return { ok: false, reason: 'The multipart body could not be parsed' };
    }
    entries.push(...form);
  } else {
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      return { ok: false, reason: 'The body is not valid JSON' };
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      return { ok: false, reason: 'The JSON body must be an object' };
    entries.push(...Object.entries(json));
  }
  const params = new Map<string, string>();
  for (const [name, value] of entries) {
    if (typeof value !== 'string') return { ok: false, reason: `Check the \`${name}\` parameter: it must be a string` };
    if (params.has(name))
      return { ok: false, reason: `Check the \`${name}\` parameter: it is included more than once` };
    params.set(name, value);
  }
  return { ok: true, params, encoding };
}

/** Parses a JSON body; `undefined` when it is not JSON. */
export function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}
