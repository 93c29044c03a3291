/**
 * Demo credentials: one random client per target, so the CLI's demo and the tests can
 * run the rotator against the sandbox without any real account.
 */
import { generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type { SandboxClient } from './types.js';

const generateRsaKeyPair = promisify(generateKeyPair);

/** Keliweb or OAuth 2.0 password-grant credentials. */
export interface DemoPasswordCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly username: string;
  readonly password: string;
}

/** Klikoo credentials: a UUID v4 client id, a 32-character secret and the signing key. */
export interface DemoKlikooCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), RSA 2048. */
  readonly privateKeyPem: string;
}

/** What a rotator configuration needs, per target, to talk to the sandbox. */
export interface DemoSecrets {
  readonly 'keliweb-api-v2': DemoPasswordCredentials;
  readonly 'keliweb-fatture': DemoPasswordCredentials;
  readonly klikoo: DemoKlikooCredentials;
  readonly oauth2: DemoPasswordCredentials;
}

/** Letters and digits, like the 40-character secrets Laravel Passport generates. */
function randomAlphanumeric(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      // 62 * 4 = 248: dropping bytes from 248 up keeps every character equally likely.
      if (byte < 248 && out.length < length) out += alphabet[byte % 62];
    }
  }
  return out;
}

function passwordCredentials(label: string): DemoPasswordCredentials {
  return {
    clientId: randomUUID(),
    clientSecret: randomAlphanumeric(40),
    username: `demo-${label}-${randomBytes(3).toString('hex')}@example.com`,
    password: randomAlphanumeric(24),
  };
}

/**
 * Generates random credentials for all four targets, including an RSA 2048 key pair
 * for Klikoo: the sandbox gets the clients (with the SPKI public key), the rotator's
 * configuration gets the secrets (with the PKCS#8 private key).
 *
 * @example
 * const { clients, secrets } = await createDemoClients();
 * const sandbox = await startSandbox({ clients });
 * // configure the klikoo provider with secrets.klikoo.privateKeyPem, sandbox.baseUrl('klikoo')
 */
export async function createDemoClients(): Promise<{ clients: SandboxClient[]; secrets: DemoSecrets }> {
  const { publicKey, privateKey } = await generateRsaKeyPair('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const secrets: DemoSecrets = {
    'keliweb-api-v2': passwordCredentials('api-v2'),
    'keliweb-fatture': passwordCredentials('fatture'),
    klikoo: { clientId: randomUUID(), clientSecret: randomBytes(16).toString('hex'), privateKeyPem: privateKey },
    oauth2: passwordCredentials('oauth2'),
  };
  const clients: SandboxClient[] = [
    { target: 'keliweb-api-v2', ...secrets['keliweb-api-v2'] },
    { target: 'keliweb-fatture', ...secrets['keliweb-fatture'] },
    {
      target: 'klikoo',
      clientId: secrets.klikoo.clientId,
      clientSecret: secrets.klikoo.clientSecret,
      publicKeyPem: publicKey,
    },
    { target: 'oauth2', ...secrets.oauth2 },
  ];
  return { clients, secrets };
}
