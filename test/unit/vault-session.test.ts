import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { VaultLogin } from '../../src/stores/vault/client.js';
import { reloginDelayMs, renewDelayMs, VaultSession } from '../../src/stores/vault/session.js';
import { captureLogs } from '../helpers/captured-logger.js';

/** A scripted Vault: each login hands out a new random token; renewals answer as told. */
function fakeVault(options: { ttlSeconds: number; renewable?: boolean; fixed?: boolean }) {
  const tokens: string[] = [];
  const renewals: { token: string; increment: number }[] = [];
  const loginFailures: Error[] = [];
  let renewAnswer: (increment: number) => Promise<Omit<VaultLogin, 'token'>> = async (increment) => ({
    ttlSeconds: increment,
    renewable: true,
  });
  const login = vi.fn(async (): Promise<VaultLogin> => {
    const failure = loginFailures.shift();
    if (failure) throw failure;
    const token = `hvs.${randomBytes(12).toString('hex')}`;
    tokens.push(token);
    return {
      token,
      ttlSeconds: options.ttlSeconds,
      renewable: options.renewable ?? true,
      accessor: `accessor-${tokens.length}`,
      ...(options.fixed ? { fixed: true } : {}),
    };
  });
  const renew = vi.fn(async (token: string, increment: number): Promise<VaultLogin> => {
    renewals.push({ token, increment });
    return { token, ...(await renewAnswer(increment)) };
  });
  return {
    login,
    renew,
    tokens,
    renewals,
    answerRenewalsWith(answer: typeof renewAnswer) {
      renewAnswer = answer;
    },
    failNextLogin(error: Error) {
      loginFailures.push(error);
    },
  };
}

/** Jitter pinned to its middle: renewals at exactly two thirds. */
const noJitter = () => 0.5;

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('renewDelayMs and reloginDelayMs', () => {
  it('renews at two thirds of the TTL, spread by at most 10 % either way', () => {
    expect(renewDelayMs(3600, () => 0.5)).toBe(2_400_000);
    expect(renewDelayMs(3600, () => 0)).toBe(2_160_000);
    expect(renewDelayMs(3600, () => 1)).toBe(2_640_000);
  });

  it('logs in again at two thirds of what is left, but no later than 5 s before expiry', () => {
    expect(reloginDelayMs(60)).toBe(40_000);
    expect(reloginDelayMs(12)).toBe(7_000);
  });

  it('waits at least a third of what is left when that is too short for the 5 s margin', () => {
    expect(reloginDelayMs(7.5)).toBe(2_500);
    expect(reloginDelayMs(3)).toBe(1_000);
    expect(reloginDelayMs(0)).toBe(0);
  });

  it('caps delays at what setTimeout can wait', () => {
    expect(renewDelayMs(100 * 86_400, noJitter)).toBe(2_147_483_647);
  });
});

describe('VaultSession', () => {
  it('logs in once on first use and shares the login between concurrent callers', async () => {
    const vault = fakeVault({ ttlSeconds: 3600 });
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter });
    const [a, b] = await Promise.all([session.current(), session.current()]);
    expect(a.token).toBe(vault.tokens[0]);
    expect(b.token).toBe(vault.tokens[0]);
    expect(vault.login).toHaveBeenCalledTimes(1);
    session.close();
  });

  it('renews the token at two thirds of its TTL, then again from the TTL the renewal gave', async () => {
    const vault = fakeVault({ ttlSeconds: 30 });
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter });
    await session.current();

    await vi.advanceTimersByTimeAsync(19_999);
    expect(vault.renewals).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(vault.renewals).toEqual([{ token: vault.tokens[0], increment: 30 }]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(vault.renewals).toHaveLength(2);
    expect(vault.login).toHaveBeenCalledTimes(1);
    expect((await session.current()).token).toBe(vault.tokens[0]);
    session.close();
  });

  it('logs in again ahead of expiry once a renewal grants less than asked (the max TTL is near)', async () => {
    const vault = fakeVault({ ttlSeconds: 30 });
    const logs = captureLogs();
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter, logger: logs.logger });
    await session.current();
    vault.answerRenewalsWith(async () => ({ ttlSeconds: 12, renewable: true }));

    await vi.advanceTimersByTimeAsync(20_000); // the renewal: 12 s left, not 30
    expect(vault.login).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(6_999); // two thirds of 12 s would be 8 s; 5 s before expiry is 7 s
    expect(vault.login).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(vault.login).toHaveBeenCalledTimes(2);
    expect((await session.current()).token).toBe(vault.tokens[1]);
    expect(
      logs
        .lines()
        .filter((line) => line.msg === 'logged in to Vault')
        .map((line) => line.reason),
    ).toEqual(['first use', 'ahead of expiry']);
    session.close();
  });

  it('logs in again ahead of expiry when a renewal fails, and keeps using the token that still works meanwhile', async () => {
    const vault = fakeVault({ ttlSeconds: 30 });
    const logs = captureLogs();
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter, logger: logs.logger });
    await session.current();
    vault.answerRenewalsWith(async () => {
      throw new Error('Vault answered HTTP 503 to renewal of the own token');
    });

    await vi.advanceTimersByTimeAsync(20_000); // 10 s left: a new login at 5 s before expiry
    expect(logs.lines().find((line) => line.level === 40)).toMatchObject({
      msg: 'could not renew the Vault token',
      accessor: 'accessor-1',
    });
    expect((await session.current()).token).toBe(vault.tokens[0]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(vault.login).toHaveBeenCalledTimes(2);
    expect((await session.current()).token).toBe(vault.tokens[1]);
    session.close();
  });

  it('keeps the current token and tries again while it lives when the login ahead of expiry fails', async () => {
    const vault = fakeVault({ ttlSeconds: 60, renewable: false });
    const logs = captureLogs();
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter, logger: logs.logger });
    await session.current();
    vault.failNextLogin(new Error('Vault answered HTTP 500 to login at auth/approle'));

    await vi.advanceTimersByTimeAsync(40_000); // not renewable: a new login at two thirds, which fails
    expect(vault.login).toHaveBeenCalledTimes(2);
    expect((await session.current()).token).toBe(vault.tokens[0]);
    expect(logs.lines().at(-1)).toMatchObject({
      msg: 'could not log in to Vault again ahead of expiry',
      expires_in_seconds: 20,
    });
    await vi.advanceTimersByTimeAsync(13_000); // 20 s left: the retry comes at two thirds of them, 13.3 s on
    expect(vault.login).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(400);
    expect(vault.login).toHaveBeenCalledTimes(3);
    expect((await session.current()).token).toBe(vault.tokens[1]);
    session.close();
  });

  it('renews a token given in the config but never logs in again for it: it warns when the token will expire', async () => {
    const vault = fakeVault({ ttlSeconds: 30, fixed: true });
    const logs = captureLogs();
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter, logger: logs.logger });
    await session.current();
    vault.answerRenewalsWith(async () => ({ ttlSeconds: 9, renewable: true }));

    await vi.advanceTimersByTimeAsync(20_000);
    const warning = logs.lines().find((line) => line.level === 40);
    expect(warning).toMatchObject({ accessor: 'accessor-1', expires_at: new Date(Date.now() + 9_000).toISOString() });
    expect(warning?.msg).toMatch(/cannot be renewed further and the rotator cannot replace it/);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(vault.login).toHaveBeenCalledTimes(1);
    expect(vault.renewals).toHaveLength(1);
    session.close();
  });

  it('warns at once about a token given in the config that is not renewable', async () => {
    const vault = fakeVault({ ttlSeconds: 600, renewable: false, fixed: true });
    const logs = captureLogs();
    const session = new VaultSession({ login: vault.login, renew: vault.renew, logger: logs.logger });
    await session.current();
    expect(logs.lines().filter((line) => line.level === 40)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(vault.renew).not.toHaveBeenCalled();
    expect(vault.login).toHaveBeenCalledTimes(1);
    session.close();
  });

  it('does not keep alive a token living under 2 s, nor a token that never expires', async () => {
    for (const ttlSeconds of [1, 0]) {
      const vault = fakeVault({ ttlSeconds });
      const session = new VaultSession({ login: vault.login, renew: vault.renew });
      await session.current();
      await vi.advanceTimersByTimeAsync(600_000);
      expect(vault.renew).not.toHaveBeenCalled();
      expect(vault.login).toHaveBeenCalledTimes(1);
      session.close();
    }
  });

  it('replaces a token Vault refused once, however many callers saw the refusal', async () => {
    const vault = fakeVault({ ttlSeconds: 3600 });
    const logs = captureLogs();
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter, logger: logs.logger });
    const stale = await session.current();
    const [a, b] = await Promise.all([session.replace(stale), session.replace(stale)]);
    expect(a.token).toBe(vault.tokens[1]);
    expect(b.token).toBe(vault.tokens[1]);
    expect(vault.login).toHaveBeenCalledTimes(2);
    expect(logs.lines().at(-1)).toMatchObject({
      msg: 'logged in to Vault',
      reason: 'refused by Vault',
      accessor: 'accessor-2',
    });

    // The old token's renewal timer is gone: only the new one's fires.
    await vi.advanceTimersByTimeAsync(2_400_000);
    expect(vault.renewals.map((renewal) => renewal.token)).toEqual([vault.tokens[1]]);
    session.close();
  });

  it('stops every timer on close()', async () => {
    const vault = fakeVault({ ttlSeconds: 30 });
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter });
    await session.current();
    session.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(vault.renew).not.toHaveBeenCalled();
    expect(vault.login).toHaveBeenCalledTimes(1);
  });

  it('logs tokens by accessor and fingerprint, never by value', async () => {
    const vault = fakeVault({ ttlSeconds: 30 });
    const logs = captureLogs();
    const session = new VaultSession({ login: vault.login, renew: vault.renew, random: noJitter, logger: logs.logger });
    await session.current();
    vault.answerRenewalsWith(async () => ({ ttlSeconds: 6, renewable: true }));
    await vi.advanceTimersByTimeAsync(25_000);
    expect(vault.tokens).toHaveLength(2);
    expect(logs.lines().length).toBeGreaterThanOrEqual(4);
    for (const token of vault.tokens) expect(logs.text()).not.toContain(token);
    expect(logs.lines()[0]).toMatchObject({
      accessor: 'accessor-1',
      token_fingerprint: expect.stringMatching(/^sha256:[0-9a-f]{12}$/),
    });
    session.close();
  });
});
