/**
 * V8 heap settings for the long-running daemon, which is idle between passes.
 *
 * The daemon's start (the config of every provider, the first full pass) is a burst of
 * allocation, after which every pass allocates little. V8 sizes its heap for the burst and
 * keeps the size while the process is busy:
 * - It doubles the young generation each time many objects survive a scavenge, up to 32 MB
 *   (two 16 MB semi-spaces); a larger young generation also lets more start-up garbage
 *   reach the old generation. Kept at its initial size, the daemon at 1,000 providers stays
 *   near 90 MB of RSS instead of 113, and at 10,000 near 105 MB instead of 313.
 * - It lets the old generation grow up to four times what survived the last full
 *   collection before collecting again, so start-up garbage piles up: at 10,000 providers
 *   the daemon's peak was 172 MB. Growing it by a fifth at a time instead collects that
 *   garbage as it goes: a peak of 110 MB, for slightly less CPU (fewer pages touched).
 * `run` and the Lambda, whose one pass is all burst, keep V8's defaults: there the larger
 * heap saves CPU. Figures: docs/performance.md.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flag that stops the young generation growing; read by V8 each time it would grow. */
export const NO_YOUNG_GROWTH_FLAG = '--semi-space-growth-factor=1';

/** The V8 flag that grows the old generation by a fifth of what survived, read after each full collection. */
export const SLOW_OLD_GROWTH_FLAG = '--heap-growing-percent=20';

/** Flags by which an operator already sized the young generation; theirs is kept. */
const YOUNG_GENERATION_FLAGS = /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/;

/** The flag by which an operator already set the old generation's growth; theirs is kept. */
const OLD_GROWTH_FLAGS = /--heap[-_]growing[-_]percent/;

/**
 * The flags the daemon sets (see the module doc): each unless the operator set its own on
 * the command line or in `NODE_OPTIONS`.
 */
export function daemonHeapFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, nodeOptions ?? ''];
  const operatorSet = (pattern: RegExp) => given.some((flag) => pattern.test(flag));
  return [
    ...(operatorSet(YOUNG_GENERATION_FLAGS) ? [] : [NO_YOUNG_GROWTH_FLAG]),
    ...(operatorSet(OLD_GROWTH_FLAGS) ? [] : [SLOW_OLD_GROWTH_FLAG]),
  ];
}

/**
 * Sets the daemon's heap flags for the rest of the process (see the module doc), except
 * those the operator set.
 * @returns the flags set.
 */
export function tuneHeapForDaemon(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env['NODE_OPTIONS'],
): string[] {
  const flags = daemonHeapFlags(execArgv, nodeOptions);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
