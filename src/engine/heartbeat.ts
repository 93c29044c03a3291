/**
 * The dead-man signal, in the store. Every pass, whatever runs it (`token-rotator run`,
 * the daemon, the Lambda), records when it finished in one small record,
 * `runner/heartbeat` (layout in `records.ts`). `token-rotator status` and the daemon's
 * `/readyz` judge it with `observability/heartbeat.ts`.
 *
 * The heartbeat is exactly one compare-and-set write per pass (on AWS a free SSM
 * parameter, as no secret could take a write every pass) and never fails a pass: a conflict is retried a couple of times, then
 * given up; a store error is logged, not retried.
 *
 * @see https://en.wikipedia.org/wiki/Dead_man%27s_switch
 */
import { ConflictError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { SecretStore } from '../stores/contract.js';
import { outcomeError } from './outcome.js';
import { HEARTBEAT_PATH, type Heartbeat, heartbeatSchema } from './records.js';
import { type RecordParser, readRecord, updateRecord } from './records-io.js';

/** A heartbeat as read: `invalid` when a record exists but does not have the layout. */
export interface HeartbeatRead {
  readonly heartbeat: Heartbeat | undefined;
  readonly version: string | null;
  readonly invalid: boolean;
}

const parseHeartbeat: RecordParser<Heartbeat> = (value) => {
  const parsed = heartbeatSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
};

/** Reads the heartbeat; a record of another layout reads as absent (it is overwritten by the next pass). */
export async function readHeartbeat(store: SecretStore): Promise<HeartbeatRead> {
  const read = await readRecord(store, HEARTBEAT_PATH, parseHeartbeat);
  return { heartbeat: read.record, version: read.version, invalid: !read.valid };
}

/**
 * Writes `heartbeat` by compare-and-set, unless the record already holds a later pass
 * (another runner's). Tries up to `attempts` rounds against other runners' writes, then
 * gives up. A store failure is not retried: the next pass writes again. Never throws:
 * returns true when it wrote.
 */
export async function recordHeartbeat(
  store: SecretStore,
  heartbeat: Heartbeat,
  logger: Logger,
  attempts = 3,
): Promise<boolean> {
  const passAt = Date.parse(heartbeat.last_pass_at);
  try {
    const result = await updateRecord(store, HEARTBEAT_PATH, {
      parse: parseHeartbeat,
      next: (current) =>
        current !== undefined && Date.parse(current.last_pass_at) > passAt ? undefined : { ...heartbeat },
      attempts,
      retry: { attempts: 1 },
    });
    return result.written;
  } catch (error) {
    if (error instanceof ConflictError) {
      logger.debug({ path: HEARTBEAT_PATH }, 'heartbeat not recorded: other runners kept writing it');
    } else {
      // The shape outcomes and `status --json` use; a message never holds a value.
      logger.warn({ path: HEARTBEAT_PATH, err: outcomeError(error) }, 'could not record the heartbeat');
    }
    return false;
  }
}
