/**
 * The `store: { kind: aws }` section of the config, built with the same field kit as the
 * rest of the schema so it is checked in the raw and the resolved pass alike.
 */
import { z } from 'zod';
import type { FieldKit } from '../../common/fields.js';
import type { ConfigIssue } from '../../errors.js';
import { MAX_RING_SIZE, MAX_VERSIONS_PER_DAY, ringSizeFor, WRITES_PER_PASS } from './ring.js';

/** Tag keys the store sets itself; a configured tag may not override them. */
export const RESERVED_TAG_KEYS = ['managed-by', 'provider', 'ring-slot'] as const;

/**
 * The schema of the AWS Secrets Manager store's section. Credentials never appear here:
 * the SDK's standard chain provides them (environment, shared files, instance or task
 * role), and its region chain the region when `region` is absent.
 *
 * @example
 * ```yaml
 * store:
 *   kind: aws
 *   prefix: token-rotator/
 *   region: eu-south-1
 *   kms_key_id: alias/token-rotator
 *   tags: { team: billing }
 * ```
 */
export function awsStoreSchema(kit: FieldKit) {
  const { text, url } = kit;
  return z
    .object({
      kind: z.literal('aws'),
      prefix: text()
        .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'may hold only letters, digits and /_+=.@-')
        .default('token-rotator/')
        .describe('Prepended to every record path to name its secret (token-rotator/tokens/klikoo)'),
      region: text().optional().describe('AWS region (default: the SDK region chain, AWS_REGION)'),
      endpoint: url().optional().describe('Overrides the Secrets Manager endpoint (tests, VPC endpoints)'),
      kms_key_id: text().optional().describe('KMS key to encrypt new secrets with (default: aws/secretsmanager)'),
      tags: z
        .record(z.string().min(1).max(128), z.string().max(256))
        .refine(
          (tags) => RESERVED_TAG_KEYS.every((key) => !(key in tags)),
          `${RESERVED_TAG_KEYS.join(' and ')} are set by the store`,
        )
        .optional()
        .describe('Extra tags put on every secret the store creates'),
      ring_size: z
        .number()
        .int()
        .min(1)
        .max(MAX_RING_SIZE)
        .optional()
        .describe(
          'Secrets per record, so none takes over 96 versions a day (default: the least the schedule needs; existing rings keep their size)',
        ),
      max_attempts: z
        .number()
        .int()
        .min(1)
        .max(10)
        .default(3)
        .describe("Attempts per call, by the SDK's standard retry strategy (throttling, 5xx, network)"),
    })
    .strict();
}

/** The resolved section of the AWS store. */
export type AwsStoreConfig = z.infer<ReturnType<typeof awsStoreSchema>>;

/**
 * Gives the store the ring size its schedule needs when the config names none, or
 * reports a configured size or a schedule that would exceed the version budget.
 * @example
 * ```ts
 * sizeRing({ kind: 'aws', prefix: 'token-rotator/', max_attempts: 3 }, 288) // { store: { …, ring_size: 6 }, issues: [] }
 * ```
 */
export function sizeRing(
  store: AwsStoreConfig,
  passesPerDay: number,
): { store: AwsStoreConfig; issues: ConfigIssue[] } {
  const needed = ringSizeFor(passesPerDay);
  const writes = passesPerDay * WRITES_PER_PASS;
  if (needed > MAX_RING_SIZE) {
    const most = (MAX_RING_SIZE * MAX_VERSIONS_PER_DAY) / WRITES_PER_PASS;
    return {
      store,
      issues: [
        {
          path: 'policy.schedule',
          message: `runs more than ${most} passes a day; the aws store keeps each record under ${MAX_VERSIONS_PER_DAY} versions per secret a day with at most ${MAX_RING_SIZE} secrets per record`,
        },
      ],
    };
  }
  if (store.ring_size === undefined) return { store: { ...store, ring_size: needed }, issues: [] };
  if (store.ring_size < needed) {
    return {
      store,
      issues: [
        {
          path: 'store.ring_size',
          message: `${store.ring_size} is too small: ${passesPerDay} passes a day write a record up to ${writes} times, and no secret may take over ${MAX_VERSIONS_PER_DAY} versions a day; use at least ${needed}`,
        },
      ],
    };
  }
  return { store, issues: [] };
}
