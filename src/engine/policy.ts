/**
 * When to rotate: pure arithmetic over the stored state, the policy and the schedule.
 *
 * A token is due when its remaining lifetime falls under a threshold:
 *
 *   threshold = min(L, max(fraction × L, margin + gap) + jitter × L)
 *
 * where L is the token's real lifetime (from `expires_in`), `gap` the longest time
 * between two scheduled passes, `margin` the minimum margin and `jitter` a fixed
 * per-provider fraction so providers with equal lifetimes do not all fire together.
 * Renewing at `margin + gap` before expiry means the token is renewed at the last pass
 * that still leaves `margin` to spare, however the passes fall.
 */
import { hash } from 'node:crypto';
import type { PolicyConfig, ProviderPolicyConfig } from '../config/schema.js';
import type { Method, StateRecord } from './records.js';

/** The policy settings that apply to one provider: the defaults with its overrides. */
export type EffectivePolicy = Omit<PolicyConfig, 'schedule' | 'timezone' | 'concurrency'>;

/** Merges a provider's overrides onto the global policy. */
export function effectivePolicy(global: PolicyConfig, overrides: ProviderPolicyConfig | undefined): EffectivePolicy {
  const { schedule: _s, timezone: _t, concurrency: _c, ...base } = global;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides ?? {})) if (value !== undefined) merged[key] = value;
  return merged as EffectivePolicy;
}

export { passesPerDay, scheduleGapSeconds } from '../common/schedule.js';

/** {@link jitterUnit} by provider name: a hash a few times per provider and pass was 1.5 % of an idle `run`. */
const jitterUnits = new Map<string, number>();
/** Names kept in {@link jitterUnits}, far above any config, so a process renaming providers forever stays bounded. */
const MAX_JITTER_UNITS = 100_000;

/** A deterministic number in [0, 1) for a provider name. */
export function jitterUnit(provider: string): number {
  let unit = jitterUnits.get(provider);
  if (unit === undefined) {
    unit = hash('sha256', provider, 'buffer').readUInt32BE(0) / 2 ** 32;
    if (jitterUnits.size >= MAX_JITTER_UNITS) jitterUnits.clear();
    jitterUnits.set(provider, unit);
  }
  return unit;
}

/** Seconds before expiry at which a token of `lifetime` seconds becomes due. */
export function renewThreshold(lifetime: number, policy: EffectivePolicy, gap: number, provider: string): number {
  const base = Math.max(policy.renew_before_fraction * lifetime, policy.min_margin_seconds + gap);
  return Math.min(lifetime, base + jitterUnit(provider) * policy.jitter_fraction * lifetime);
}

/**
 * The most rotations a day of a token living `lifetime` seconds: it is renewed at the
 * earliest once `lifetime - threshold` seconds have passed since it was issued. Budgets
 * and the AWS store's layout are sized from it.
 * @example rotationsPerDay(900, defaults, 300, 'klikoo') // about 170: renewed 495 to 540 s after issue
 */
export function rotationsPerDay(lifetime: number, policy: EffectivePolicy, gap: number, provider: string): number {
  const interval = Math.max(1, lifetime - renewThreshold(lifetime, policy, gap, provider));
  return 86_400 / interval;
}

/**
 * Whether a schedule can keep tokens of `lifetime` seconds valid: a token renewed at one
 * pass must still have the minimum margin left at the next.
 */
export function feasibility(
  lifetime: number,
  policy: EffectivePolicy,
  gap: number,
): { ok: true } | { ok: false; reason: string } {
  if (policy.min_margin_seconds + gap >= lifetime) {
    return {
      ok: false,
      reason:
        `passes up to ${gap} s apart plus a ${policy.min_margin_seconds} s margin cannot keep a ` +
        `${lifetime} s token fresh; schedule passes at least every ${Math.max(1, lifetime - policy.min_margin_seconds - 1)} s`,
    };
  }
  return { ok: true };
}

/** What a pass should do about one provider. */
export type Decision =
  | { readonly action: 'missing' }
  | {
      readonly action: 'due' | 'fresh';
      readonly remaining: number;
      readonly threshold: number;
      readonly lifetime: number;
    };

/** Decides from the state whether the provider's token is missing, due or fresh. */
export function decide(now: number, state: StateRecord, policy: EffectivePolicy, gap: number): Decision {
  const token = state.token;
  if (token === undefined) return { action: 'missing' };
  const expiresAt = Date.parse(token.expires_at);
  const lifetime = Math.max(1, (expiresAt - Date.parse(token.issued_at)) / 1000);
  const remaining = (expiresAt - now) / 1000;
  const threshold = renewThreshold(lifetime, policy, gap, state.provider);
  return { action: remaining <= threshold ? 'due' : 'fresh', remaining, threshold, lifetime };
}

/**
 * The first moment (epoch ms) at which {@link decide} calls `state` due, by its token
 * alone; `undefined` when it holds no token (it is due now). Before that moment, and while
 * nothing else happens to the record, a pass would find the provider fresh: the daemon
 * reads only providers whose moment has come (issue 13).
 * @example renewalDueAt(state, policy, 300) // expires_at − threshold, e.g. 540 s after a 900 s token was issued
 */
export function renewalDueAt(
  state: {
    readonly provider: string;
    readonly token?: { readonly issued_at: string; readonly expires_at: string } | undefined;
  },
  policy: EffectivePolicy,
  gap: number,
): number | undefined {
  const token = state.token;
  if (token === undefined) return undefined;
  const expiresAt = Date.parse(token.expires_at);
  const lifetime = Math.max(1, (expiresAt - Date.parse(token.issued_at)) / 1000);
  return expiresAt - renewThreshold(lifetime, policy, gap, state.provider) * 1000;
}

/**
 * Refresh only while the refresh token has comfortably more life than the next gap
 * between passes; otherwise (none, near expiry, or possibly spent) re-authenticate. A
 * provider that cannot re-authenticate (`canObtain: false`, a refresh-only profile)
 * refreshes whenever it holds a refresh token: near its expiry, refreshing is its only hope.
 */
export function chooseMethod(
  now: number,
  state: StateRecord,
  options: {
    canRefresh: boolean;
    /** Absent: true. */
    canObtain?: boolean | undefined;
    prefer: 'refresh' | 'reauthenticate';
    policy: EffectivePolicy;
    gap: number;
  },
): Method {
  if (!options.canRefresh || options.prefer === 'reauthenticate' || state.refresh_token === undefined) return 'obtain';
  if (options.canObtain === false) return 'refresh';
  if (state.refresh_expires_at !== undefined) {
    const left = (Date.parse(state.refresh_expires_at) - now) / 1000;
    if (left <= options.policy.min_margin_seconds + options.gap) return 'obtain';
  }
  return 'refresh';
}

/** Seconds to wait after the n-th consecutive permanent failure (n ≥ 1). */
export function backoffSeconds(
  consecutive: number,
  policy: Pick<EffectivePolicy, 'backoff_base_seconds' | 'backoff_max_seconds'>,
): number {
  const exponent = Math.min(Math.max(consecutive - 1, 0), 30);
  return Math.min(policy.backoff_max_seconds, policy.backoff_base_seconds * 2 ** exponent);
}
