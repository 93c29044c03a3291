/**
 * The `store: { kind: aws }` section of the config, built with the same field kit as the
 * rest of the schema so it is checked in the raw and the resolved pass alike.
 */
import type { FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';
import { MAX_RING_SIZE } from './ring.js';

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
  return z.strictObject({
    kind: z.literal('aws'),
    prefix: z
      ._default(
        text().check(
          z.regex(/^[A-Za-z0-9/_.-]+$/, 'may hold only letters, digits and /_.- (it names secrets and parameters)'),
          z.refine((prefix) => !/^\/*(aws|ssm)/i.test(prefix), 'must not start with "aws" or "ssm" (reserved by SSM)'),
        ),
        'token-rotator/',
      )
      .check(
        z.describe(
          'Prepended to every record path to name its secret (token-rotator/tokens/klikoo) and, after a /, its parameter',
        ),
      ),
    region: z.optional(text()).check(z.describe('AWS region (default: the SDK region chain, AWS_REGION)')),
    endpoint: z.optional(url()).check(z.describe('Overrides the Secrets Manager endpoint (tests, VPC endpoints)')),
    ssm_endpoint: z
      .optional(url())
      .check(
        z.describe('Overrides the SSM Parameter Store endpoint (default: endpoint when set, for an emulator of both)'),
      ),
    kms_key_id: z
      .optional(text())
      .check(
        z.describe('KMS key to encrypt new secrets and SecureString parameters with (default: the AWS managed keys)'),
      ),
    tags: z
      .optional(
        z
          .record(z.string().check(z.minLength(1), z.maxLength(128)), z.string().check(z.maxLength(256)))
          .check(
            z.refine(
              (tags) => RESERVED_TAG_KEYS.every((key) => !(key in tags)),
              `${RESERVED_TAG_KEYS.join(' and ')} are set by the store`,
            ),
          ),
      )
      .check(z.describe('Extra tags put on every secret and parameter the store creates')),
    ring_size: z
      .optional(z.number().check(z.int(), z.minimum(1), z.maximum(MAX_RING_SIZE)))
      .check(
        z.describe(
          'Deprecated and ignored: each record now takes the secrets its real write rate needs. Accepted so configs of 0.1 still load',
        ),
      ),
    max_attempts: z
      ._default(z.number().check(z.int(), z.minimum(1), z.maximum(10)), 3)
      .check(z.describe("Attempts per call, by the SDK's standard retry strategy (throttling, 5xx, network)")),
  });
}

/** The resolved section of the AWS store. */
export type AwsStoreConfig = z.infer<ReturnType<typeof awsStoreSchema>>;
