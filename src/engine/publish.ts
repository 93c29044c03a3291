/**
 * Publishing: the public record follows the state record. It is written after the state
 * (so a crash between the two is repaired by republishing, never by calling the provider
 * again) and only ever moves forward in generation, whichever runner writes it.
 */

import { fingerprint } from '../observability/fingerprint.js';
import type { Logger } from '../observability/logger.js';
import type { RecordUsage, SecretStore } from '../stores/contract.js';
import { type PublicRecord, recordPaths, type StateRecord } from './records.js';
import { parsePublic, updateRecord, type WriteRetryOptions } from './records-io.js';

/** Options of {@link publishBehind}. */
export interface PublishOptions {
  /** The provider's name in config: the record's path and its `provider` field. */
  readonly provider: string;
  readonly store: SecretStore;
  /** Bound to the provider. */
  readonly logger: Logger;
  readonly writeRetry?: WriteRetryOptions | undefined;
  /** How often the public record is written (`providerUsage(…).public`), when the token's lifetime is known. */
  readonly usage?: RecordUsage | undefined;
}

/** Rounds against other runners publishing the same provider before giving up with a conflict. */
const PUBLISH_ATTEMPTS = 5;

/** The public record a provider's state record stands for, or `undefined` when it holds no token yet. */
export function publicFromState(provider: string, state: StateRecord): PublicRecord | undefined {
  if (state.token === undefined) return undefined;
  return { provider, ...state.token, generation: state.generation };
}

/**
 * Writes the public record from the state when the stored one is behind (older
 * generation, absent, or of another layout). Returns true if it wrote.
 * @throws {ConflictError} when other runners kept winning the compare-and-set.
 */
export async function publishBehind(state: StateRecord, options: PublishOptions): Promise<boolean> {
  const { provider } = options;
  const desired = publicFromState(provider, state);
  if (desired === undefined) return false;
  const result = await updateRecord(options.store, recordPaths.public(provider), {
    parse: parsePublic,
    next: (current) => (current !== undefined && current.generation >= desired.generation ? undefined : desired),
    attempts: PUBLISH_ATTEMPTS,
    labels: { provider, expires_at: desired.expires_at },
    usage: options.usage,
    retry: options.writeRetry,
  });
  if (result.written) {
    options.logger.info(
      { generation: desired.generation, access_token_fp: fingerprint(desired.access_token) },
      'published token',
    );
  }
  return result.written;
}
