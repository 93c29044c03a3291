/**
 * The version budget of the AWS store, and the ring of secrets that keeps each record
 * under it.
 *
 * Secrets Manager keeps every version younger than 24 hours (it prunes unlabeled
 * versions beyond 100, never younger ones) and advises at most one write per secret every
 * 10 minutes. A 900 s token renewed on a 5-minute schedule is written every 10 minutes,
 * and its state record twice per rotation (the lease, then the result), so a record kept
 * in one secret would take 288 versions a day. The store therefore spreads each record
 * over a ring of `size` secrets, `<prefix><path>@0` … `@<size-1>`: write number `seq`
 * goes to slot `seq mod size`, so each slot takes one write in `size`, and the reader
 * takes the slot with the highest `seq`.
 *
 * Each slot holds an envelope, `{"ring":{"seq":12,"size":6},"record":{…}}`; the size is
 * fixed when the ring is created and every writer follows the size the ring records, so
 * runners configured differently can never write the same `seq` into two slots.
 */
/** The most new versions one secret may receive in any 24 hours. */
export const MAX_VERSIONS_PER_DAY = 96;

/**
 * The most writes a pass makes to one record: the lease and the result on a provider's
 * state record (also when the call fails), and at most two publications of the public
 * record (a repair, then the new token). The heartbeat record takes one.
 */
export const WRITES_PER_PASS = 2;

/** The largest ring: a read costs one call per slot. */
export const MAX_RING_SIZE = 20;

/** A ring of `size` secrets in which `seq` is the latest write. */
export interface RingPosition {
  readonly seq: number;
  readonly size: number;
}

/**
 * The smallest ring that keeps every slot of a record under {@link MAX_VERSIONS_PER_DAY}
 * when `passesPerDay` passes each write it {@link WRITES_PER_PASS} times.
 * @example ringSizeFor(288) // 6: a 5-minute schedule, 576 writes a day, 96 per slot
 */
export function ringSizeFor(passesPerDay: number, runners = 1): number {
  return Math.max(1, Math.ceil((passesPerDay * WRITES_PER_PASS * runners) / MAX_VERSIONS_PER_DAY));
}

/** The secret that holds slot `slot` of the record whose single-secret name is `name`. */
export function slotName(name: string, slot: number): string {
  return `${name}@${slot}`;
}

/** The record name of a slot's secret name (`…/tokens/klikoo@3` → `…/tokens/klikoo`). */
export function unslotted(secretName: string): string {
  return secretName.replace(/@\d+$/, '');
}

/** The record's version as the store contract sees it: `<seq>/<size>`. */
export function formatVersion(position: RingPosition): string {
  return `${position.seq}/${position.size}`;
}

/** Parses {@link formatVersion}; `undefined` for anything else. */
export function parseVersion(version: string): RingPosition | undefined {
  const match = /^(\d{1,15})\/(\d{1,2})$/.exec(version);
  if (!match) return undefined;
  const position = { seq: Number(match[1]), size: Number(match[2]) };
  return position.size >= 1 && position.size <= MAX_RING_SIZE ? position : undefined;
}

/** The text a slot's secret holds. */
export function encodeSlot(position: RingPosition, record: Record<string, unknown>): string {
  return JSON.stringify({ ring: { seq: position.seq, size: position.size }, record });
}

/** A slot's content, or why it is not one. */
export type DecodedSlot =
  | { readonly ok: true; readonly position: RingPosition; readonly record: Record<string, unknown> }
  | { readonly ok: false; readonly reason: string };

/** Parses a slot's text; the reason never quotes the text. */
export function decodeSlot(text: string): DecodedSlot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid('is not JSON');
  }
  if (!isObject(value) || !isObject(value['ring']) || !isObject(value['record']))
    return invalid('is not a ring slot ({"ring":…,"record":…})');
  const { seq, size } = value['ring'];
  if (
    !Number.isSafeInteger(seq) ||
    (seq as number) < 0 ||
    !Number.isInteger(size) ||
    (size as number) < 1 ||
    (size as number) > MAX_RING_SIZE
  ) {
    return invalid('has an invalid ring position');
  }
  return { ok: true, position: { seq: seq as number, size: size as number }, record: value['record'] };
}

function invalid(reason: string): DecodedSlot {
  return { ok: false, reason };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
