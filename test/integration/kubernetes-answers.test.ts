/**
 * The Kubernetes client against an HTTPS server that answers what the real API server
 * never would: a body that is not JSON, JSON that is not the object asked for. The real
 * kube-apiserver (kubernetes-store.test.ts) cannot be made to answer so, and the client
 * must refuse such an answer without quoting it (it may hold a Secret's data).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesClient, KubernetesResponseError } from '../../src/stores/kubernetes/client.js';
import { selfSignedCertificate } from '../helpers/certificates.js';
import { listenOnLoopback } from '../helpers/ports.js';

/** A value that must never appear in an error: base64 of a token, as a Secret's data holds it. */
const SECRET_DATA = Buffer.from('tok-never-in-an-error').toString('base64');

let dir: string;
let server: Server;
let client: KubernetesClient;
/** What the server answers next (status 200, content type JSON). */
let nextBody = '';
const requests: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tr-kube-answers-'));
  const { certFile, keyFile } = selfSignedCertificate(dir, 'server', '/CN=127.0.0.1', ['subjectAltName=IP:127.0.0.1']);
  const cert = await readFile(certFile, 'utf8');
  server = createServer({ key: await readFile(keyFile), cert }, (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(nextBody);
  });
  const port = await listenOnLoopback(server);
  client = new KubernetesClient({
    connection: { server: `https://127.0.0.1:${port}`, ca: cert, token: () => 'test-bearer', source: 'test' },
    timeoutMs: 5_000,
  });
});

afterAll(async () => {
  client?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The error `call` rejects with, given the server answers `body`. */
async function refusal(body: string, call: () => Promise<unknown>): Promise<unknown> {
  nextBody = body;
  const before = requests.length;
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(requests.length, 'the request reached the server').toBe(before + 1);
  return error;
}

describe('KubernetesClient', () => {
  describe('an answer that is not the object asked for', () => {
    it('reads a Secret that has what the store needs, dropping the fields it does not know', async () => {
      nextBody = JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'token-rotator-tokens-a', resourceVersion: '42', uid: 'u-1' },
        data: { record: SECRET_DATA },
      });

      const secret = await client.getSecret('ns', 'token-rotator-tokens-a');

      expect(secret).toEqual({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'token-rotator-tokens-a', resourceVersion: '42' },
        data: { record: SECRET_DATA },
      });
    });

    it('refuses a body that is not JSON with a KubernetesResponseError caused by the parse error', async () => {
      const error = await refusal('<html>a proxy page</html>', () => client.getSecret('ns', 'token-rotator-tokens-a'));

      expect(error).toBeInstanceOf(KubernetesResponseError);
      expect((error as Error).message).toBe(
        'unexpected answer from the Kubernetes API to get of secret ns/token-rotator-tokens-a',
      );
      expect((error as Error).cause).toBeInstanceOf(SyntaxError);
    });

    it('refuses JSON that is not a Secret with a KubernetesResponseError that quotes nothing of it', async () => {
      // No resourceVersion: the store could not compare-and-set on it.
      const body = JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'token-rotator-tokens-a' },
        data: { record: SECRET_DATA },
      });

      const error = await refusal(body, () => client.getSecret('ns', 'token-rotator-tokens-a'));

      expect(error).toBeInstanceOf(KubernetesResponseError);
      expect((error as Error).message).toBe(
        'unexpected answer from the Kubernetes API to get of secret ns/token-rotator-tokens-a',
      );
      expect((error as Error).cause).toBeUndefined();
      expect(inspect(error, { depth: 10 })).not.toContain(SECRET_DATA);
      expect(inspect(error, { depth: 10 })).not.toContain('resourceVersion');
    });

    it('refuses a Deployment list whose items are not Deployments, without a cause', async () => {
      const error = await refusal(JSON.stringify({ items: [{ metadata: { name: '' } }] }), () =>
        client.listDeployments('ns'),
      );

      expect(error).toBeInstanceOf(KubernetesResponseError);
      expect((error as Error).message).toBe(
        'unexpected answer from the Kubernetes API to list of deployments in namespace ns',
      );
      expect((error as Error).cause).toBeUndefined();
    });
  });
});
