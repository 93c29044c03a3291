/**
 * `token-rotator revoke PROVIDER [--remove-only]`: decommissions a provider. Under its
 * lease, revokes its current refresh and access tokens at the provider's revocation
 * endpoint (RFC 7009), then removes its records from the store and from its `publish_to`
 * stores. See docs/revocation.md and `engine/revoke-provider.ts`.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { effectivePolicy } from '../../engine/policy.js';
import { decommissionProvider, type RemovableStore } from '../../engine/revoke-provider.js';
import { createProvider } from '../../providers/registry.js';
import { selectProviders } from '../../rotator.js';
import { isRecordRemover, type SecretStore } from '../../stores/contract.js';
import { createStore } from '../../stores/registry.js';
import { EXIT } from '../door.js';
import { type CommandContext, UsageError } from './contract.js';

/**
 * Revokes and removes. Exits 0 once done, 2 for a usage problem (an unknown provider, or
 * one without `revocation_url` and no `--remove-only`; nothing done), 1 when a store cannot
 * remove records, another runner holds the lease, a revocation fails (nothing removed) or
 * a removal fails (the message says what was done and how to finish).
 */
export async function run(ctx: CommandContext): Promise<number> {
  const name = ctx.positionals[0];
  if (name === undefined) throw new UsageError('missing PROVIDER');
  const removeOnly = ctx.values['remove-only'] === true;
  const { loaded, logger, rotator } = await ctx.open();
  const built: SecretStore[] = [];
  try {
    selectProviders(loaded.providerNames, [name]);
    const config = await rotator.check();
    const section = config.providers[name];
    if (section === undefined) throw new UsageError(`no provider named ${name}`);
    const policy = effectivePolicy(config.policy, section.policy);
    const provider = createProvider(section, { timeoutMs: policy.request_timeout_seconds * 1000 });
    if (!removeOnly && provider.revoke === undefined)
      throw new UsageError(
        `provider ${name} (kind ${section.kind}) has no revocation endpoint (revocation_url), so its tokens cannot be revoked; ` +
          'pass --remove-only to remove its records anyway, leaving its tokens valid until they expire',
      );
    const secondaries: RemovableStore[] = [];
    for (const storeName of config.publish_to?.[name] ?? []) {
      const storeConfig = config.stores?.[storeName];
      if (storeConfig === undefined) continue; // config checked every name
      const store = await createStore(storeConfig, { logger });
      built.push(store);
      if (!isRecordRemover(store)) return refuse(ctx, `the ${store.kind} store ${storeName} cannot remove records`);
      secondaries.push({ name: storeName, store });
    }
    const store = rotator.store;
    if (!isRecordRemover(store)) return refuse(ctx, `the ${store.kind} store cannot remove records`);

    const result = await decommissionProvider({
      provider: name,
      store,
      secondaries,
      ...(removeOnly || provider.revoke === undefined ? {} : { revoke: provider.revoke.bind(provider) }),
      holder: `revoke:${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      leaseSeconds: policy.lease_seconds,
      now: Date.now,
      logger: logger.child({ provider: name }),
    });
    const out = ctx.io.stdout;
    for (const token of result.revoked)
      out.write(`revoked the ${token.hint.replace('_', ' ')} of ${name} (fingerprint ${token.fingerprint})\n`);
    if (!removeOnly && result.revoked.length === 0) out.write(`${name} held no token to revoke\n`);
    for (const record of result.removed)
      out.write(`removed ${record.path}${record.store === undefined ? '' : ` from store ${record.store}`}\n`);
    if (result.removed.length === 0) out.write(`${name} had no records to remove\n`);
    out.write(
      `${name} is decommissioned: remove it from the config, or the next pass obtains a new token and publishes it\n`,
    );
    return EXIT.ok;
  } finally {
    await Promise.allSettled(built.map((store) => store.close()));
    await rotator.close();
  }
}

/** Says why nothing was done, on stderr, and exits 1. */
function refuse(ctx: CommandContext, reason: string): number {
  ctx.io.stderr.write(`token-rotator revoke: ${reason}; nothing was revoked or removed\n`);
  return EXIT.failed;
}
