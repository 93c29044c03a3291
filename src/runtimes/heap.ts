/**
 * V8 heap settings for the long-running daemon, which is idle between passes.
 *
 * V8 doubles its young generation each time many objects survive a scavenge, up to 32 MB
 * (two 16 MB semi-spaces), and never gives the space back while the process is busy. The
 * daemon's start (the config of every provider, the first full pass) is such a burst, after
 * which every pass allocates little: the grown space then only holds memory, and a larger
 * young generation also lets more of that start-up garbage reach the old generation. Kept at
 * its initial size, the daemon at 1,000 providers stays near 90 MB of RSS instead of 113, and
 * at 10,000 near 105 MB instead of 313 (docs/performance.md). `run` and the Lambda, whose
 * one pass is all burst, keep V8's default: there the larger space saves CPU.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flag that stops the young generation growing; read by V8 each time it would grow. */
export const NO_YOUNG_GROWTH_FLAG = '--semi-space-growth-factor=1';

/** Flags by which an operator already sized the young generation; theirs is kept. */
const YOUNG_GENERATION_FLAGS = /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/;

/**
 * Whether the daemon should keep the young generation at its initial size: yes, unless the
 * operator sized it on the command line or in `NODE_OPTIONS`.
 */
export function shouldKeepYoungGenerationSmall(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return ![...execArgv, nodeOptions ?? ''].some((flag) => YOUNG_GENERATION_FLAGS.test(flag));
}

/**
 * Keeps V8's young generation at its initial size for the rest of the process (see the
 * module doc), unless the operator sized it.
 * @returns whether the flag was set.
 */
export function keepYoungGenerationSmall(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env['NODE_OPTIONS'],
): boolean {
  if (!shouldKeepYoungGenerationSmall(execArgv, nodeOptions)) return false;
  setFlagsFromString(NO_YOUNG_GROWTH_FLAG);
  return true;
}
