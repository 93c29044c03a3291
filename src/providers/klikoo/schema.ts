/**
 * The `kind: klikoo` section: Klikoo's signed client-credentials call.
 */
import type { FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';
import { commonProviderFields } from '../shared/fields.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * The schema of a `klikoo` provider for one parsing pass. The resolved pass checks what
 * Klikoo issues: a UUID v4 client id, a 32-character secret and a PKCS#8 PEM key.
 */
export function klikooSchema(kit: FieldKit) {
  const { raw, text, secret, url } = kit;
  return z.strictObject({
    kind: z.literal('klikoo'),
    base_url: url(),
    client_id: raw ? text() : text().check(z.regex(UUID_V4, 'must be a UUID v4 (36 characters)')),
    client_secret: raw ? secret() : secret().check(z.refine((v) => v.length === 32, 'must be 32 characters')),
    private_key: kit.pkcs8Key(),
    ...commonProviderFields(kit),
  });
}

/** A resolved `klikoo` section. */
export type KlikooProviderConfig = z.output<ReturnType<typeof klikooSchema>>;
