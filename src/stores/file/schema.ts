/**
 * The `store: { kind: file }` section, the default.
 */
import { z } from 'zod';
import type { FieldKit } from '../../common/fields.js';

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
  return z
    .object({
      kind: z.literal('file'),
      directory: kit.text().default(DEFAULT_FILE_DIRECTORY).describe('Where records are kept, one JSON file each'),
    })
    .strict();
}

/** The resolved section of the file store. */
export type FileStoreConfig = z.output<ReturnType<typeof fileStoreSchema>>;
