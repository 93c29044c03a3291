/**
 * Every record layout the rotator keeps, in one place: the two records per provider and
 * the one heartbeat per store. All three are a public interface, documented in the
 * README: consumers read the public record; only the rotator reads the state; `status`,
 * `/readyz` and operators read the heartbeat.
 */
import * as z from '../common/zod.js';

const isoTime = z.iso.datetime({ offset: true });

/** What consumers read: the current access token. Path: `tokens/<provider>`. */
export const publicRecordSchema = z.object({
  provider: z.string(),
  access_token: z.string().check(z.minLength(1)),
  token_type: z.string().check(z.minLength(1)),
  issued_at: isoTime,
  expires_at: isoTime,
  /** Increases by one with every new token; consumers can tell a rotation happened. */
  generation: z.number().check(z.int(), z.positive()),
});
/** A public record, as consumers read it. */
export type PublicRecord = z.infer<typeof publicRecordSchema>;

/** How a token was got. */
export const methodSchema = z.enum(['obtain', 'refresh']);
/** `obtain` (the provider's own credentials) or `refresh` (a refresh token). */
export type Method = z.infer<typeof methodSchema>;

/** A runner's claim on a provider, taken by compare-and-set on the state record. */
export const leaseSchema = z.object({
  holder: z.string(),
  acquired_at: isoTime,
  expires_at: isoTime,
  /** What the holder is about to do; an abandoned `refresh` means the refresh token may be spent. */
  intent: methodSchema,
});
/** A lease as stored in the state record. */
export type Lease = z.infer<typeof leaseSchema>;

/** The last failed rotation, safe to print: a class, a stable code and a message without secrets. */
export const failureSchema = z.object({
  at: isoTime,
  class: z.enum(['retryable', 'reauthenticate', 'permanent']),
  code: z.string(),
  message: z.string(),
});

/** The rotator's private state. Path: `state/<provider>`. Holds the refresh token. */
export const stateRecordSchema = z.object({
  schema: z.literal(1),
  provider: z.string(),
  /** Generation of `token`; the public record is behind when its generation is lower. */
  generation: z.number().check(z.int(), z.nonnegative()),
  /** The latest token, kept so a crash between the two writes can be repaired. */
  token: z.optional(
    z.object({
      access_token: z.string().check(z.minLength(1)),
      token_type: z.string(),
      issued_at: isoTime,
      expires_at: isoTime,
    }),
  ),
  refresh_token: z.optional(z.string().check(z.minLength(1))),
  refresh_expires_at: z.optional(isoTime),
  method: z.optional(methodSchema),
  lease: z.optional(leaseSchema),
  failures: z.object({
    consecutive: z.number().check(z.int(), z.nonnegative()),
    last: z.optional(failureSchema),
    /** Permanent failures back off until this time. */
    next_attempt_at: z.optional(isoTime),
  }),
  last_success_at: z.optional(isoTime),
  last_attempt_at: z.optional(isoTime),
  /**
   * What is left of the store's write budget for this record (see `engine/budget.ts`):
   * `tokens` writes available at `at`, refilling over time. Absent: a full allowance.
   * Kept in the record itself so every runner sees the writes of all.
   */
  write_allowance: z.optional(z.object({ tokens: z.number(), at: isoTime })),
});
/** A state record, as only the rotator reads it. */
export type StateRecord = z.infer<typeof stateRecordSchema>;

/** Record path of the heartbeat, beside `tokens/` and `state/`: one per store. */
export const HEARTBEAT_PATH = 'runner/heartbeat';

/**
 * The heartbeat record (the dead-man signal): when the last pass finished, whether it
 * was ok, who ran it and how long it took. Path: {@link HEARTBEAT_PATH}.
 */
export const heartbeatSchema = z.object({
  last_pass_at: isoTime,
  last_pass_ok: z.boolean(),
  /** The runner's lease holder id (`host:pid:random`). */
  holder: z.string(),
  duration_ms: z.number().check(z.int(), z.nonnegative()),
});
/** A heartbeat record. */
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Record paths, relative to the store's root. */
export const recordPaths = {
  public: (provider: string) => `tokens/${provider}`,
  state: (provider: string) => `state/${provider}`,
} as const;

/** A state record for a provider never rotated. */
export function emptyState(provider: string): StateRecord {
  return { schema: 1, provider, generation: 0, failures: { consecutive: 0 } };
}
