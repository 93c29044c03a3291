/**
 * An end-to-end scenario on a real OpenBao: `bao server -dev` on a free loopback port
 * with the policies of deploy/vault/, the built CLI logging in with least privilege
 * (a token with the rotator policy, or AppRole), and the test reading the records with
 * the root token. Everything else is {@link startScenario}: the sandbox as the vendors,
 * the workspace, and the canary (which also watches the Vault credentials).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fieldKit } from '../../src/config/schema.js';
import type { WorkspaceOptions } from '../../src/runtimes/demo.js';
import { createStore } from '../../src/stores/registry.js';
import { vaultStoreSchema } from '../../src/stores/vault/index.js';
import { type OpenBao, startOpenBao } from './openbao.js';
import { type Scenario, startScenario } from './scenario.js';

const POLICIES = resolve(import.meta.dirname, '../../deploy/vault');

/** A scenario whose store is OpenBao; `close()` also stops the server. */
export interface VaultScenario extends Scenario {
  readonly bao: OpenBao;
}

/** Options of {@link startVaultScenario}. */
export interface VaultScenarioOptions {
  /**
   * How the CLI logs in: `token`, a token with the rotator policy as `${env:VAULT_TOKEN}`;
   * `approle`, a role with that policy, its secret id as `${env:VAULT_SECRET_ID}`.
   */
  readonly auth: 'token' | 'approle';
  /** More settings of the `store:` section, e.g. `request_timeout_seconds`. */
  readonly vault?: Record<string, unknown>;
  readonly workspace?: WorkspaceOptions;
}

/** The auth section and the environment that carries its secret, for the rotator policy. */
async function rotatorAuth(
  bao: OpenBao,
  method: VaultScenarioOptions['auth'],
): Promise<{ auth: Record<string, unknown>; env: Record<string, string> }> {
  if (method === 'token') {
    const token = (await bao.ok('POST', 'auth/token/create', { policies: ['token-rotator'], ttl: '1h' })).auth
      .client_token as string;
    return { auth: { method: 'token', token: '${env:VAULT_TOKEN}' }, env: { VAULT_TOKEN: token } };
  }
  await bao.ok('POST', 'sys/auth/approle', { type: 'approle' });
  await bao.ok('POST', 'auth/approle/role/rotator', { token_policies: ['token-rotator'], token_ttl: '1h' });
  const roleId = (await bao.ok('GET', 'auth/approle/role/rotator/role-id')).data.role_id as string;
  const secretId = (await bao.ok('POST', 'auth/approle/role/rotator/secret-id', {})).data.secret_id as string;
  return {
    auth: { method: 'approle', role_id: roleId, secret_id: '${env:VAULT_SECRET_ID}' },
    env: { VAULT_SECRET_ID: secretId },
  };
}

/**
 * Starts OpenBao and a scenario whose config has `store: { kind: vault }`.
 * @example
 * const scenario = await startVaultScenario({ auth: 'approle' });
 * const result = await scenario.cli(['run', '--json']);
 * await scenario.close();
 */
export async function startVaultScenario(options: VaultScenarioOptions): Promise<VaultScenario> {
  const bao = await startOpenBao();
  try {
    await bao.ok('POST', 'sys/policies/acl/token-rotator', {
      policy: await readFile(resolve(POLICIES, 'rotator-policy.hcl'), 'utf8'),
    });
    await bao.ok('POST', 'sys/policies/acl/token-rotator-consumer', {
      policy: await readFile(resolve(POLICIES, 'consumer-policy.hcl'), 'utf8'),
    });
    const { auth, env } = await rotatorAuth(bao, options.auth);
    const records = await createStore(
      vaultStoreSchema(fieldKit('resolved')).parse({
        kind: 'vault',
        address: bao.address,
        auth: { method: 'token', token: bao.rootToken },
      }),
    );
    const scenario = await startScenario({
      ...(options.workspace === undefined ? {} : { workspace: options.workspace }),
      store: { section: { kind: 'vault', address: bao.address, ...options.vault, auth }, records, env },
    });
    scenario.canary.addSecret(bao.rootToken);
    return {
      ...scenario,
      bao,
      async close() {
        await scenario.close();
        await records.close();
        bao.process.kill('SIGCONT'); // A test that failed while it was paused must not block stop().
        await bao.stop();
      },
    };
  } catch (error) {
    await bao.stop();
    throw error;
  }
}

/** The one-letter state of a Linux process (`T` stopped, `S` sleeping, …), from /proc. */
async function processState(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name in parentheses may contain spaces; the state follows the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/**
 * Freezes the server with SIGSTOP, so it accepts connections (the kernel does) but never
 * answers, and waits until the kernel reports it stopped. Returns `resume`: SIGCONT, then
 * wait until the server answers again; call it in a `finally`.
 */
export async function pauseOpenBao(bao: OpenBao): Promise<() => Promise<void>> {
  const pid = bao.process.pid;
  if (pid === undefined) throw new Error('OpenBao has no process id');
  bao.process.kill('SIGSTOP');
  const until = Date.now() + 2000;
  while ((await processState(pid)) !== 'T') {
    if (Date.now() > until) throw new Error('OpenBao did not stop on SIGSTOP');
    await new Promise((r) => setTimeout(r, 5));
  }
  let resumed = false;
  return async () => {
    if (resumed) return;
    resumed = true;
    bao.process.kill('SIGCONT');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const health = await bao.api('GET', 'sys/health').catch(() => undefined);
      if (health?.status === 200) return;
      if (Date.now() > deadline) throw new Error('OpenBao did not answer within 10 s of SIGCONT');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
}
