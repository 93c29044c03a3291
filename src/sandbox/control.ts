/**
 * The control endpoints under `/_sandbox/`, so an operator or another process can read
 * counters, inject faults and introspect tokens over HTTP:
 *
 * - `GET /_sandbox/stats[?target=…]` → {@link SandboxStats}
 * - `POST /_sandbox/faults` with a JSON {@link Fault} → 201; `DELETE /_sandbox/faults` → 204
 * - `POST /_sandbox/introspect` with `{"token":"…"}` (JSON or form) → {@link IntrospectionResult}
 *
 * @see https://datatracker.ietf.org/doc/html/rfc7662 token introspection, in spirit
 */

import type { MediaType } from './body.js';
import { acceptEncoding, parseJson, parseParams } from './body.js';
import type { FaultQueue } from './faults.js';
import { validateFault } from './faults.js';
import type { Reply } from './protocol.js';
import { jsonReply } from './protocol.js';
import type { StatsBook } from './stats.js';
import type { TokenLedger } from './tokens.js';
import { isSandboxTarget } from './types.js';

/** The state the control endpoints read and change. */
export interface ControlState {
  readonly ledger: TokenLedger;
  readonly stats: StatsBook;
  readonly faults: FaultQueue;
}

/** One request to a control endpoint, its body already read within the size cap. */
export interface ControlRequest {
  readonly method: string;
  readonly url: URL;
  readonly media: MediaType | undefined;
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

function problem(
  status: number,
  error: string,
  description: string,
  headers: Readonly<Record<string, string>> = {},
): Reply {
  return jsonReply(status, { error, error_description: description }, headers);
}

function methodNotAllowed(allow: string): Reply {
  return problem(405, 'method_not_allowed', `Use ${allow}`, { allow });
}

/** Answers a request under `/_sandbox/`. */
export async function control(request: ControlRequest, state: ControlState): Promise<Reply> {
  switch (request.url.pathname) {
    case '/_sandbox/stats': {
      if (request.method !== 'GET') return methodNotAllowed('GET');
      const target = request.url.searchParams.get('target');
      if (target === null) return jsonReply(200, state.stats.read());
      if (!isSandboxTarget(target)) return problem(400, 'invalid_request', 'Unknown target');
      return jsonReply(200, state.stats.read(target));
    }
    case '/_sandbox/faults': {
      if (request.method === 'DELETE') {
        state.faults.clear();
        return { status: 204, headers: {}, body: '' };
      }
      if (request.method !== 'POST') return methodNotAllowed('POST, DELETE');
      const accepted = acceptEncoding(request.media, ['json']);
      if (!accepted.ok) return problem(400, 'invalid_request', accepted.reason);
      try {
        state.faults.push(validateFault(parseJson(request.body)));
      } catch (error) {
        return problem(400, 'invalid_fault', error instanceof TypeError ? error.message : 'The fault is not valid');
      }
      return jsonReply(201, { queued: true });
    }
    case '/_sandbox/introspect': {
      if (request.method !== 'POST') return methodNotAllowed('POST');
      const accepted = acceptEncoding(request.media, ['json', 'form']);
      if (!accepted.ok) return problem(400, 'invalid_request', accepted.reason);
      const parsed = await parseParams(request.body, accepted.encoding, request.contentType ?? '');
      const token = parsed.ok ? parsed.params.get('token') : undefined;
      if (token === undefined || token === '') return problem(400, 'invalid_request', 'Missing parameter token');
      return jsonReply(200, state.ledger.introspect(token), { 'cache-control': 'no-store' });
    }
    default:
      return problem(404, 'not_found', 'No such control endpoint');
  }
}
