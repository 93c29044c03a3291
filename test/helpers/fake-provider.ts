import { ProviderError } from '../../src/errors.js';
import type { TokenProvider, TokenSet } from '../../src/providers/contract.js';

type Step = 'ok' | ProviderError | (() => Promise<never>);

/**
 * A token provider with single-use refresh tokens and reuse detection, for engine unit
 * tests. Failures are queued per method.
 */
export class FakeProvider implements TokenProvider {
  readonly kind = 'fake';
  obtained = 0;
  refreshed = 0;
  reuses = 0;
  calls: Array<'obtain' | 'refresh'> = [];
  readonly spent = new Set<string>();
  readonly live = new Set<string>();
  readonly queue: { obtain: Step[]; refresh: Step[] } = { obtain: [], refresh: [] };
  private serial = 0;

  /** Present only when the provider is refreshable, as the contract says. */
  readonly refresh?: (refreshToken: string) => Promise<TokenSet>;

  constructor(readonly options: { lifetime: number; refreshable: boolean; delayMs?: number }) {
    if (options.refreshable) this.refresh = (refreshToken) => this.doRefresh(refreshToken);
  }

  private issue(): TokenSet {
    this.serial++;
    const refreshToken = this.options.refreshable ? `rt-${this.serial}-${Math.random()}` : undefined;
    if (refreshToken) this.live.add(refreshToken);
    return {
      accessToken: `at-${this.serial}-${Math.random()}`,
      tokenType: 'Bearer',
      expiresIn: this.options.lifetime,
      ...(refreshToken ? { refreshToken, refreshExpiresIn: 864_000 } : {}),
    };
  }

  private async step(method: 'obtain' | 'refresh'): Promise<void> {
    this.calls.push(method);
    if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
    const next = this.queue[method].shift();
    if (next === undefined || next === 'ok') return;
    if (typeof next === 'function') await next();
    throw next;
  }

  async obtain(): Promise<TokenSet> {
    await this.step('obtain');
    this.obtained++;
    return this.issue();
  }

  private async doRefresh(refreshToken: string): Promise<TokenSet> {
    await this.step('refresh');
    if (this.spent.has(refreshToken)) {
      this.reuses++;
      throw new ProviderError('reauthenticate', 'refresh token reused', { status: 400, reason: 'invalid_grant' });
    }
    if (!this.live.has(refreshToken))
      throw new ProviderError('reauthenticate', 'unknown refresh token', { reason: 'invalid_grant' });
    this.live.delete(refreshToken);
    this.spent.add(refreshToken);
    this.refreshed++;
    return this.issue();
  }
}
