/**
 * What a Vault failure says: every transport failure (login, lookup, renewal, read, write)
 * names Vault's address and the cause, a system error code (ECONNREFUSED, ENOTFOUND) or a
 * TLS one (UNABLE_TO_VERIFY_LEAF_SIGNATURE, DEPTH_ZERO_SELF_SIGNED_CERT,
 * ERR_TLS_CERT_ALTNAME_INVALID), against real peers on loopback: a closed port, a name
 * that cannot resolve, OpenBao with its own CA, and an HTTPS server whose certificate
 * names another host.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldKit } from '../../src/config/schema.js';
import { StoreError } from '../../src/errors.js';
import { createStore } from '../../src/stores/registry.js';
import { VaultClient, VaultTransportError } from '../../src/stores/vault/client.js';
import { vaultStoreSchema } from '../../src/stores/vault/index.js';
import { selfSignedCertificate } from '../helpers/certificates.js';
import { freePort, type OpenBao, startOpenBao } from '../helpers/openbao.js';

/** A token shape Vault would issue; never valid anywhere. */
const TOKEN = 's.not-a-real-token-0123456789';

const resolvedVaultSchema = vaultStoreSchema(fieldKit('resolved'));
const storeOn = (section: Record<string, unknown>) =>
  createStore(resolvedVaultSchema.parse({ kind: 'vault', request_timeout_seconds: 5, ...section }));

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call should have failed').toBeInstanceOf(Error);
  return error as Error;
}

describe('VaultClient', () => {
  describe('against a closed port', () => {
    let address: string;
    let client: VaultClient;
    beforeAll(async () => {
      address = `http://127.0.0.1:${await freePort()}`;
      client = new VaultClient({ address, timeoutMs: 5000 });
    });

    const calls: [string, string, () => Promise<unknown>][] = [
      ['login', 'login at auth/approle', () => client.login('approle', { role_id: 'r', secret_id: 's' })],
      ['lookup', 'lookup of the own token', () => client.lookupSelf(TOKEN)],
      ['renew', 'renewal of the own token', () => client.renewSelf(TOKEN, 3600)],
      ['read', 'read of secret/data/a', () => client.kvRead('secret', 'a', TOKEN)],
      ['write', 'write of secret/data/a', () => client.kvWrite('secret', 'a', { n: 1 }, 0, TOKEN)],
    ];

    it.each(calls)('names the address and ECONNREFUSED when a %s cannot connect', async (_name, what, call) => {
      const error = await failure(call());

      expect(error).toBeInstanceOf(VaultTransportError);
      expect(error.message).toBe(
        `could not reach Vault for ${what} (ECONNREFUSED); Vault at ${address}: nothing listens at that address`,
      );
      expect(error.message).not.toContain(TOKEN);
      expect((error as VaultTransportError).systemCode).toBe('ECONNREFUSED');
    });
  });

  it('names the address and ENOTFOUND when the host name does not resolve', async () => {
    // `.invalid` never resolves (RFC 6761 §6.4).
    const client = new VaultClient({ address: 'http://vault.token-rotator.invalid:8200', timeoutMs: 5000 });

    const error = await failure(client.lookupSelf(TOKEN));

    expect(error.message).toMatch(
      /^could not reach Vault for lookup of the own token \((ENOTFOUND|EAI_AGAIN)\); Vault at http:\/\/vault\.token-rotator\.invalid:8200: the host name does not resolve$/,
    );
  });
});

describe('VaultStore', () => {
  describe('an unreachable Vault', () => {
    it('names the address and the cause when the token auth cannot look up its own token', async () => {
      const address = `http://127.0.0.1:${await freePort()}`;
      const store = await storeOn({ address, auth: { method: 'token', token: TOKEN } });

      const error = await failure(store.read('tokens/a'));
      await store.close();

      expect(error).toBeInstanceOf(StoreError);
      expect(error.message).toBe(
        `could not read record tokens/a: could not reach Vault for lookup of the own token (ECONNREFUSED); Vault at ${address}: nothing listens at that address`,
      );
    });

    it('names the address and the cause when an AppRole login cannot connect before a write', async () => {
      const address = `http://127.0.0.1:${await freePort()}`;
      const store = await storeOn({
        address,
        auth: { method: 'approle', role_id: 'role', secret_id: 'not-a-secret-id' },
      });

      const error = await failure(store.write('tokens/a', { n: 1 }, null));
      await store.close();

      expect(error.message).toBe(
        `could not write record tokens/a: could not reach Vault for login at auth/approle (ECONNREFUSED); Vault at ${address}: nothing listens at that address`,
      );
      expect(error.message).not.toContain('not-a-secret-id');
    });
  });

  describe('TLS', () => {
    let bao: OpenBao;
    beforeAll(async () => {
      bao = await startOpenBao({ tls: true });
    });
    afterAll(async () => {
      await bao?.stop();
    });

    it('names UNABLE_TO_VERIFY_LEAF_SIGNATURE and store.ca_file when OpenBao’s CA is not trusted', async () => {
      const store = await storeOn({ address: bao.address, auth: { method: 'token', token: bao.rootToken } });

      const error = await failure(store.read('tokens/a'));
      await store.close();

      expect(error.message).toBe(
        `could not read record tokens/a: could not reach Vault for lookup of the own token (UNABLE_TO_VERIFY_LEAF_SIGNATURE); Vault at ${bao.address}: its certificate does not chain to a trusted CA; set store.ca_file to the CA's PEM file`,
      );
      expect(error.message).not.toContain(bao.rootToken);
    });
  });

  describe('TLS with a certificate for another host', () => {
    let dir: string;
    let server: Server;
    let address: string;
    let certFile: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tr-vault-tls-'));
      // A self-signed certificate that names only vault.elsewhere.example, not 127.0.0.1.
      const files = selfSignedCertificate(dir, 'server', '/CN=vault.elsewhere.example', [
        'subjectAltName=DNS:vault.elsewhere.example',
      ]);
      certFile = files.certFile;
      const keyFile = files.keyFile;
      server = createHttpsServer({ key: await readFile(keyFile), cert: await readFile(certFile) }, (_req, res) =>
        res.end('{}'),
      );
      const port = await freePort();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      address = `https://127.0.0.1:${port}`;
    });
    afterAll(async () => {
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('names DEPTH_ZERO_SELF_SIGNED_CERT when the certificate is self-signed and no ca_file is set', async () => {
      const store = await storeOn({ address, auth: { method: 'token', token: TOKEN } });

      const error = await failure(store.read('tokens/a'));
      await store.close();

      expect(error.message).toBe(
        `could not read record tokens/a: could not reach Vault for lookup of the own token (DEPTH_ZERO_SELF_SIGNED_CERT); Vault at ${address}: its certificate does not chain to a trusted CA; set store.ca_file to the CA's PEM file`,
      );
    });

    it('names ERR_TLS_CERT_ALTNAME_INVALID when the trusted certificate names another host', async () => {
      const store = await storeOn({ address, ca_file: certFile, auth: { method: 'token', token: TOKEN } });

      const error = await failure(store.read('tokens/a'));
      await store.close();

      expect(error.message).toBe(
        `could not read record tokens/a: could not reach Vault for lookup of the own token (ERR_TLS_CERT_ALTNAME_INVALID); Vault at ${address}: its certificate does not name the host of store.address; use a name the certificate holds`,
      );
    });
  });
});
