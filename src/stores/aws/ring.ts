/**
 * The ring of secrets that keeps a record written more often than one secret allows under
 * Secrets Manager's version budget: at most {@link MAX_VERSIONS_PER_DAY} new versions per
 * secret in any 24 hours (it prunes unlabeled versions beyond 100, never younger than a
 * day). Only the state of a short-lived token needs one: a 900 s token is renewed about
 * 170 times a day, and each renewal writes its state twice (the lease, then the result).
 *
 * A ring of `size` secrets is `<prefix><path>@0` … `@<size-1>`: write number `seq` goes to
 * slot `seq mod size`, and the reader takes the slot with the highest `seq`. Each slot
 * holds an envelope, `{"ring":{"seq":12,"size":2},"record":{…}}`. The slot of write
 * `seq + 1` follows from the size recorded with write `seq`, so every writer that read the
 * same version aims at the same slot and its compare-and-set decides; the writer records
 * the size the record's usage needs from then on, so a ring grows or shrinks one write
 * later, the same for all.
 */
import type { RecordUsage } from '../contract.js';

/** The most new versions one secret may receive in any 24 hours. */
export const MAX_VERSIONS_PER_DAY = 96;

/** The largest ring this release creates: its slots are read in one `BatchGetSecretValue`. */
export const MAX_SLOTS = 8;

/** The largest ring any release created (earlier ones sized rings up to 20 from the schedule). */
export const MAX_RING_SIZE = 20;

/** A ring of `size` secrets in which `seq` is the latest write. */
export interface RingPosition {
  readonly seq: number;
  readonly size: number;
}

/**
 * The secrets a record written with `usage` needs, so none takes over
 * {@link MAX_VERSIONS_PER_DAY} versions a day; 1 when the usage is unknown.
 * @example slotsFor({ writesPerDay: 466 }) // 5: the state of a 900 s token
 */
export function slotsFor(usage: RecordUsage | undefined): number {
  if (usage === undefined) return 1;
  return Math.min(MAX_SLOTS, Math.max(1, Math.ceil(usage.writesPerDay / MAX_VERSIONS_PER_DAY)));
}

/** The secret that holds slot `slot` of the record whose single-secret name is `name`. */
export function slotName(name: string, slot: number): string {
  return `${name}@${slot}`;
}

/** The record name of a slot's secret name (`…/state/klikoo@3` → `…/state/klikoo`). */
export function unslotted(secretName: string): string {
  return secretName.replace(/@\d+$/, '');
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
