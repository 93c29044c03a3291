/**
 * The `store: { kind: file }` section, the default.
 */
import type { FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';

/** Where the file store keeps records unless configured otherwise. */
export const DEFAULT_FILE_DIRECTORY = '.token-rotator';

/**
 * The schema of the file store's section for one parsing pass.
 * @example
 * ```yaml
 * store: { kind: file, directory: /var/lib/token-rotator }
 * ```
 */
export function fileStoreSchema(kit: FieldKit) {
  return z.strictObject({
    kind: z.literal('file'),
    directory: z
      ._default(kit.text(), DEFAULT_FILE_DIRECTORY)
      .check(z.describe('Where records are kept, one JSON file each')),
  });
}

/** The resolved section of the file store. */
export type FileStoreConfig = z.output<ReturnType<typeof fileStoreSchema>>;
