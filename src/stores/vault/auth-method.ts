/**
 * The shape of a Vault auth method, apart from the list of methods (`auth.ts`), so each
 * method's file depends on the shape and not on the list that imports it.
 */
import type { VaultClient, VaultLogin } from './client.js';

/** Obtains a Vault token. Called lazily, ahead of expiry, and when Vault stops accepting the token. */
export type VaultAuth = (client: VaultClient) => Promise<VaultLogin>;
