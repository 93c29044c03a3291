/**
 * A real Kubernetes control plane for integration tests: etcd and kube-apiserver (built
 * by scripts/install-kube-peers.sh into .tools/bin) on free loopback ports, in a
 * temporary directory, with
 * - TLS from a CA made here (openssl), which also signs client certificates;
 * - a static token file: `admin` (group `system:masters`, above RBAC) and two users
 *   with no rights until a test binds them (`reader`, `writer`);
 * - `--authorization-mode=RBAC`, so Roles from deploy/kubernetes/ are really enforced;
 * - service-account signing keys, so the TokenRequest API mints real service-account
 *   tokens ({@link Kube.serviceAccountToken});
 * - kubectl of the same version ({@link Kube.kubectl}), e.g. for `apply --dry-run=server`.
 * It starts in about two seconds; stop it after.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { RecordLister, SecretStore } from '../../src/stores/contract.js';
import { createKubernetesStore, MANAGED_BY_LABEL, RECORD_PATH_ANNOTATION } from '../../src/stores/kubernetes/index.js';
import { certificateAuthority, issueCertificate, openssl } from './certificates.js';
import { freePort } from './ports.js';

/** The RBAC manifests the project ships (deploy/kubernetes/rbac). */
export const RBAC_DIR = resolve(import.meta.dirname, '../../deploy/kubernetes/rbac');

/** The objects of a YAML file of {@link RBAC_DIR}. */
export async function rbacManifests(file: string): Promise<Record<string, any>[]> {
  return parseAllDocuments(await readFile(join(RBAC_DIR, file), 'utf8')).map((document) => document.toJS());
}

/** Where scripts/install-kube-peers.sh links the binaries. */
export const KUBE_APISERVER_BINARY = resolve(import.meta.dirname, '../../.tools/bin/kube-apiserver');
export const ETCD_BINARY = resolve(import.meta.dirname, '../../.tools/bin/etcd');
/** kubectl v1.30.14, built by the same script from kube-apiserver's wrapper module. */
export const KUBECTL_BINARY = resolve(import.meta.dirname, '../../.tools/bin/kubectl');
/**
 * The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs (monitoring.coreos.com),
 * which the same script generates from the operator's Go API module (v0.93.0).
 */
export const MONITORING_CRDS_DIR = resolve(import.meta.dirname, '../../.tools/crds/monitoring.coreos.com');

/** How a kubectl command ended. */
export interface KubectlResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A user of a kubeconfig the helper writes. */
export type KubeUser =
  | { readonly token: string }
  | { readonly tokenFile: string }
  | { readonly certFile: string; readonly keyFile: string };

/** A running control plane. */
export interface Kube {
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  readonly port: number;
  /** PEM file of the CA the server's certificate chains to. */
  readonly caFile: string;
  /** A directory for the test's own files, removed by {@link stop}. */
  readonly directory: string;
  /** Static bearer tokens: `admin` is in `system:masters`; `reader` and `writer` have no rights until bound. */
  readonly tokens: { readonly admin: string; readonly reader: string; readonly writer: string };
  /** The kube-apiserver process, e.g. to pause it with SIGSTOP. */
  readonly apiServer: ChildProcess;
  /** Calls the API as `token` (the admin's by default); returns the status and the parsed body. */
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }>;
  /** Like {@link api}, throwing unless the status is 2xx. */
  ok(method: string, path: string, body?: unknown, token?: string): Promise<any>;
  /** Creates a namespace (as admin). */
  createNamespace(name: string): Promise<void>;
  /**
   * Creates each object (Namespace, ServiceAccount, Role, RoleBinding, Secret) as admin, in
   * `namespace` when namespaced, with strict field validation (an unknown field fails).
   */
  apply(objects: readonly Record<string, any>[], namespace?: string): Promise<void>;
  /**
   * A real service-account token from the TokenRequest API (the account is created if
   * missing), for `audiences` (default: the API server's own, as a pod's API token).
   */
  serviceAccountToken(
    namespace: string,
    name: string,
    expirationSeconds?: number,
    audiences?: readonly string[],
  ): Promise<string>;
  /** A client certificate signed by the cluster CA: user `commonName`, groups `organizations`. */
  clientCertificate(commonName: string, organizations?: readonly string[]): { certFile: string; keyFile: string };
  /**
   * Runs {@link KUBECTL_BINARY} against this server as `user` (the admin by default), with
   * `input` on stdin and a home of its own in {@link directory}; resolves with the exit code
   * and output (a non-zero exit is not an error here), killing it after `timeoutMs`.
   * @example
   * ```ts
   * const { code, stderr } = await kube.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yaml });
   * ```
   */
  kubectl(
    args: readonly string[],
    options?: { readonly input?: string; readonly user?: KubeUser; readonly timeoutMs?: number },
  ): Promise<KubectlResult>;
  /** Writes a kubeconfig with one context (`test`, current) for `user`, and returns its path. */
  kubeconfig(user: KubeUser, options?: { readonly namespace?: string; readonly server?: string }): Promise<string>;
  /** Stops both processes (resuming a paused one first) and removes the directory; idempotent. */
  stop(): Promise<void>;
}

interface Started {
  readonly process: ChildProcess;
  output(): string;
  readonly exited: Promise<void>;
  hasExited(): boolean;
}

function launch(binary: string, args: readonly string[], cwd: string): Started {
  const child = spawn(binary, args, {
    cwd,
    env: { PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-6000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const done = new Promise<void>((resolveExit) =>
    child.once('exit', () => {
      exited = true;
      resolveExit();
    }),
  );
  return { process: child, output: () => output, exited: done, hasExited: () => exited };
}

async function terminate(started: Started | undefined): Promise<void> {
  if (started === undefined || started.hasExited()) return;
  started.process.kill('SIGCONT');
  started.process.kill('SIGTERM');
  const gone = await Promise.race([
    started.exited.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
  ]);
  if (!gone) {
    started.process.kill('SIGKILL');
    await started.exited;
  }
}

function runKubectl(
  args: readonly string[],
  kubeconfig: string,
  home: string,
  input: string,
  timeoutMs: number,
): Promise<KubectlResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(KUBECTL_BINARY, ['--kubeconfig', kubeconfig, ...args], {
      cwd: home,
      // Its discovery cache goes under HOME: the test's directory, not the user's.
      env: { PATH: process.env['PATH'] ?? '', HOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** A one-request HTTPS call trusting `ca`. */
function call(
  url: string,
  method: string,
  ca: string,
  token: string | undefined,
  body: unknown,
): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolveCall, reject) => {
    const outgoing = httpsRequest(
      url,
      {
        method,
        ca,
        signal: AbortSignal.timeout(10_000),
        headers: {
          accept: 'application/json',
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (incoming) => {
        let text = '';
        incoming.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        incoming.on('end', () => resolveCall({ status: incoming.statusCode ?? 0, text }));
        incoming.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** The REST collection of a kind, in `namespace` when it is namespaced. */
function collectionOf(kind: string, namespace: string | undefined): string {
  const ns = namespace === undefined ? '' : `/namespaces/${namespace}`;
  switch (kind) {
    case 'Namespace':
      return '/api/v1/namespaces';
    case 'ServiceAccount':
      return `/api/v1${ns}/serviceaccounts`;
    case 'Secret':
      return `/api/v1${ns}/secrets`;
    case 'ConfigMap':
      return `/api/v1${ns}/configmaps`;
    case 'Role':
      return `/apis/rbac.authorization.k8s.io/v1${ns}/roles`;
    case 'RoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1${ns}/rolebindings`;
    default:
      throw new Error(`the kube helper cannot create a ${kind}`);
  }
}

/** Starts etcd, then kube-apiserver on it, and waits until `/readyz` answers 200. */
export async function startKube(): Promise<Kube> {
  for (const binary of [ETCD_BINARY, KUBE_APISERVER_BINARY]) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run scripts/install-kube-peers.sh`);
  }
  const directory = await mkdtemp(join(tmpdir(), 'tr-kube-'));
  let etcd: Started | undefined;
  let apiServer: Started | undefined;
  const stop = async () => {
    await terminate(apiServer);
    await terminate(etcd);
    await rm(directory, { recursive: true, force: true });
  };
  try {
    // A CA for the serving certificate and client certificates.
    certificateAuthority(directory, 'ca');
    issueCertificate(
      directory,
      'ca',
      'server',
      '/CN=kube-apiserver',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    );
    openssl(['genrsa', '-out', 'sa.key', '2048'], directory);
    openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], directory);
    const tokens = {
      admin: `admin-${randomBytes(16).toString('hex')}`,
      reader: `reader-${randomBytes(16).toString('hex')}`,
      writer: `writer-${randomBytes(16).toString('hex')}`,
    };
    await writeFile(
      join(directory, 'tokens.csv'),
      `${tokens.admin},admin,uid-admin,"system:masters"\n${tokens.reader},reader,uid-reader\n${tokens.writer},writer,uid-writer\n`,
    );

    const [etcdPort, peerPort, port] = [await freePort(), await freePort(), await freePort()];
    etcd = launch(
      ETCD_BINARY,
      [
        '--name=test',
        `--data-dir=${join(directory, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=test=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      directory,
    );
    apiServer = launch(
      KUBE_APISERVER_BINARY,
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        '--advertise-address=127.0.0.1',
        '--tls-cert-file=server.crt',
        '--tls-private-key-file=server.key',
        '--client-ca-file=ca.crt',
        '--token-auth-file=tokens.csv',
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-account-key-file=sa.pub',
        '--service-account-signing-key-file=sa.key',
        '--service-cluster-ip-range=10.0.0.0/24',
        '--endpoint-reconciler-type=none',
        `--cert-dir=${join(directory, 'certs')}`,
        '--enable-priority-and-fairness=false',
        '--profiling=false',
      ],
      directory,
    );

    const server = `https://127.0.0.1:${port}`;
    const caFile = join(directory, 'ca.crt');
    const ca = await readFile(caFile, 'utf8');
    const api: Kube['api'] = async (method, path, body, token = tokens.admin) => {
      const answer = await call(server + path, method, ca, token, body);
      let parsed: unknown;
      try {
        parsed = answer.text === '' ? undefined : JSON.parse(answer.text);
      } catch {
        parsed = answer.text;
      }
      return { status: answer.status, body: parsed };
    };
    const ok: Kube['ok'] = async (method, path, body, token) => {
      const answer = await api(method, path, body, token);
      if (answer.status < 200 || answer.status >= 300)
        throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body;
    };

    const deadline = Date.now() + 60_000;
    for (;;) {
      if (etcd.hasExited()) throw new Error(`etcd exited before the API server was ready:\n${etcd.output()}`);
      if (apiServer.hasExited()) throw new Error(`kube-apiserver exited before it was ready:\n${apiServer.output()}`);
      const ready = await api('GET', '/readyz').catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`kube-apiserver was not ready within 60 s:\n${apiServer.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const apply: Kube['apply'] = async (objects, namespace) => {
      for (const object of objects) {
        const namespaced = object['kind'] !== 'Namespace';
        const ns = namespaced ? (object['metadata']?.['namespace'] ?? namespace) : undefined;
        if (namespaced && ns === undefined) throw new Error(`${object['kind']} needs a namespace`);
        // Strict: a misspelt or misplaced field fails here instead of being dropped.
        await ok('POST', `${collectionOf(object['kind'], ns)}?fieldValidation=Strict`, object);
      }
    };
    let serial = 0;
    let adminKubeconfig: Promise<string> | undefined;
    const kube: Kube = {
      server,
      port,
      caFile,
      directory,
      tokens,
      apiServer: apiServer.process,
      api,
      ok,
      async createNamespace(name) {
        await ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      },
      apply,
      async serviceAccountToken(namespace, name, expirationSeconds = 3600, audiences) {
        const account = await api('GET', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`);
        if (account.status === 404) {
          await ok('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
            apiVersion: 'v1',
            kind: 'ServiceAccount',
            metadata: { name },
          });
        }
        const request = await ok('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds, ...(audiences === undefined ? {} : { audiences }) },
        });
        return request.status.token as string;
      },
      clientCertificate(commonName, organizations = []) {
        serial += 1;
        const base = `client-${serial}`;
        const subject = `/CN=${commonName}${organizations.map((o) => `/O=${o}`).join('')}`;
        return issueCertificate(directory, 'ca', base, subject);
      },
      async kubeconfig(user, options = {}) {
        serial += 1;
        const file = join(directory, `kubeconfig-${serial}.yaml`);
        const userEntry =
          'token' in user
            ? { token: user.token }
            : 'tokenFile' in user
              ? { tokenFile: user.tokenFile }
              : { 'client-certificate': user.certFile, 'client-key': user.keyFile };
        await writeFile(
          file,
          stringify({
            apiVersion: 'v1',
            kind: 'Config',
            clusters: [
              { name: 'test', cluster: { server: options.server ?? server, 'certificate-authority': caFile } },
            ],
            users: [{ name: 'test', user: userEntry }],
            contexts: [
              {
                name: 'test',
                context: {
                  cluster: 'test',
                  user: 'test',
                  ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
                },
              },
            ],
            'current-context': 'test',
          }),
        );
        return file;
      },
      async kubectl(args, options = {}) {
        if (!existsSync(KUBECTL_BINARY))
          throw new Error(`${KUBECTL_BINARY} is missing: run scripts/install-kube-peers.sh`);
        if (options.user === undefined && adminKubeconfig === undefined)
          adminKubeconfig = kube.kubeconfig({ token: tokens.admin });
        const kubeconfig = await (options.user === undefined ? adminKubeconfig! : kube.kubeconfig(options.user));
        return runKubectl(args, kubeconfig, directory, options.input ?? '', options.timeoutMs ?? 60_000);
      },
      stop,
    };
    return kube;
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The test's own view of a Kubernetes store's records: read and written as the admin, and
 * listed by the managed-by label (the store itself never lists).
 */
export async function adminRecords(kube: Kube, namespace: string, prefix: string): Promise<SecretStore & RecordLister> {
  const admin = createKubernetesStore({
    kind: 'kubernetes',
    namespace,
    prefix,
    kubeconfig: await kube.kubeconfig({ token: kube.tokens.admin }),
    request_timeout_seconds: 10,
  });
  return {
    kind: admin.kind,
    capabilities: admin.capabilities,
    read: (path) => admin.read(path),
    write: (path, value, version, options) => admin.write(path, value, version, options),
    close: () => admin.close(),
    async list(listPrefix) {
      const selector = encodeURIComponent(`${MANAGED_BY_LABEL}=token-rotator`);
      const { items } = await kube.ok('GET', `/api/v1/namespaces/${namespace}/secrets?labelSelector=${selector}`);
      const base = listPrefix.replace(/\/$/, '');
      return (items as any[])
        .map((item) => item.metadata.annotations[RECORD_PATH_ANNOTATION] as string)
        .filter((path) => base === '' || path.startsWith(`${base}/`))
        .sort();
    },
  };
}
