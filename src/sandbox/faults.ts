/**
 * Fault injection: a queue of failures the token endpoints serve instead of, before or
 * after a real grant, so a client's retry, timeout and validation paths can be tested
 * against real HTTP.
 */
import type { Environment, Protocol, Reply } from './protocol.js';
import type { Fault, SandboxTarget } from './types.js';
import { isSandboxTarget } from './types.js';

/** Longest latency a fault may ask for, so a typo cannot hang a test run. */
export const MAX_FAULT_LATENCY_MS = 120_000;

const MALFORMED_VARIANTS = ['not_json', 'missing_access_token', 'wrong_types'] as const;
const PHASES = ['before', 'after'] as const;

function isNonNegativeInteger(value: unknown, max = Number.MAX_SAFE_INTEGER): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

/**
 * Checks a fault that may come from JSON and returns it typed.
 * @throws {TypeError} naming the first bad field.
 */
export function validateFault(input: unknown): Fault {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new TypeError('a fault must be an object');
  const fault = input as Record<string, unknown>;
  if (fault['target'] !== undefined && !isSandboxTarget(fault['target']))
    throw new TypeError('fault.target: unknown target');
  if (fault['count'] !== undefined && (!isNonNegativeInteger(fault['count']) || fault['count'] < 1))
    throw new TypeError('fault.count: must be a positive integer');
  const phaseOk = fault['phase'] === undefined || (PHASES as readonly unknown[]).includes(fault['phase']);
  switch (fault['type']) {
    case 'latency':
      if (!isNonNegativeInteger(fault['ms'], MAX_FAULT_LATENCY_MS))
        throw new TypeError(`fault.ms: must be an integer from 0 to ${MAX_FAULT_LATENCY_MS}`);
      if (!phaseOk) throw new TypeError('fault.phase: must be before or after');
      break;
    case 'drop':
      if (!phaseOk) throw new TypeError('fault.phase: must be before or after');
      break;
    case 'status':
      if (!isNonNegativeInteger(fault['status']) || fault['status'] < 400 || fault['status'] > 599) {
        throw new TypeError('fault.status: must be an HTTP status from 400 to 599');
      }
      break;
    case 'rate_limit':
      if (!isNonNegativeInteger(fault['retryAfterSeconds']))
        throw new TypeError('fault.retryAfterSeconds: must be a non-negative integer');
      break;
    case 'malformed':
      if (!(MALFORMED_VARIANTS as readonly unknown[]).includes(fault['variant']))
        throw new TypeError(`fault.variant: must be one of ${MALFORMED_VARIANTS.join(', ')}`);
      break;
    case 'error_in_200':
      break;
    default:
      throw new TypeError('fault.type: must be latency, status, rate_limit, malformed, error_in_200 or drop');
  }
  return structuredClone(input) as Fault;
}

/** Queued faults, consumed in injection order by the requests they match. */
export class FaultQueue {
  readonly #queue: { fault: Fault; remaining: number }[] = [];

  /** Queues a fault after validating it. @throws {TypeError} */
  push(fault: Fault): void {
    const valid = validateFault(fault);
    this.#queue.push({ fault: valid, remaining: valid.count ?? 1 });
  }

  /** Consumes one use of the first fault matching `target`, if any. */
  take(target: SandboxTarget): Fault | undefined {
    const index = this.#queue.findIndex((entry) => entry.fault.target === undefined || entry.fault.target === target);
    const entry = this.#queue[index];
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    if (entry.remaining === 0) this.#queue.splice(index, 1);
    return entry.fault;
  }

  /** Drops every queued fault. */
  clear(): void {
    this.#queue.length = 0;
  }
}

const REASONS: Readonly<Record<number, string>> = {
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * The answer a fault gives instead of a grant, or `undefined` when the fault only
 * delays or drops. Gateway statuses come as the HTML page a proxy would serve; others
 * in the protocol's own error format.
 */
export function faultReply(
  fault: Fault,
  protocol: Protocol,
  target: SandboxTarget,
  env: Environment,
): Reply | undefined {
  switch (fault.type) {
    case 'status': {
      const reason = REASONS[fault.status] ?? 'Injected failure';
      if (fault.status >= 502 && fault.status <= 504) {
        const title = `${fault.status} ${reason}`;
        const body = `<html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>\n`;
        return { status: fault.status, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
      }
      return protocol.error(fault.status, reason);
    }
    case 'rate_limit': {
      const reply = protocol.error(429, 'Too Many Requests');
      return { ...reply, headers: { ...reply.headers, 'retry-after': String(fault.retryAfterSeconds) } };
    }
    case 'malformed':
      return protocol.malformed(fault.variant, target, env);
    case 'error_in_200':
      return protocol.errorIn200();
    case 'latency':
    case 'drop':
      return undefined;
  }
}
