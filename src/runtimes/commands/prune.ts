/** `token-rotator prune`: removes the records an earlier release of the store left behind. */
import type { RecordPruner, SecretStore } from '../../stores/contract.js';
import { EXIT } from '../door.js';
import type { CommandContext } from './contract.js';

/** Lists what it removed (or would remove) and what it kept, and why. */
export async function run(ctx: CommandContext): Promise<number> {
  const { rotator } = await ctx.open();
  try {
    const store = rotator.store;
    if (!isPruner(store)) {
      ctx.io.stdout.write(`the ${store.kind} store keeps nothing an earlier release left behind\n`);
      return EXIT.ok;
    }
    const dryRun = ctx.values['dry-run'] === true;
    const report = await store.prune({ dryRun });
    const verb = dryRun ? 'would remove' : 'removed';
    for (const name of report.removed) ctx.io.stdout.write(`${verb} ${name}\n`);
    for (const { name, reason } of report.kept) ctx.io.stdout.write(`kept ${name}: ${reason}\n`);
    ctx.io.stdout.write(`${report.removed.length} ${verb}, ${report.kept.length} kept\n`);
    return EXIT.ok;
  } finally {
    await rotator.close();
  }
}

/** True when the store can remove an earlier release's leftovers. */
function isPruner(store: SecretStore): store is SecretStore & RecordPruner {
  return typeof (store as Partial<RecordPruner>).prune === 'function';
}
