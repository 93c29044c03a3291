/**
 * Where the Kubernetes API is and who the store is to it: in-cluster (the pod's service
 * account) or a kubeconfig user, resolved once when the store is built. Bearer tokens
 * that live in files (the projected service-account token the kubelet rotates, a
 * kubeconfig `tokenFile`) are read again at every request, so a rotated token is used
 * as soon as it is on disk.
 *
 * Supported kubeconfig users: `token`, `tokenFile`, and client certificates
 * (`client-certificate(-data)` + `client-key(-data)`). `exec` and `auth-provider` plugins
 * (cloud CLIs) and basic auth are refused by name: they would run programs or send
 * passwords the store cannot vouch for; give such clusters a service-account token.
 *
 * @see https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
 * @see https://kubernetes.io/docs/tasks/run-application/access-api-from-pod/
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, StoreError } from '../../errors.js';

/** Where Kubernetes mounts a pod's service-account credentials. */
export const SERVICE_ACCOUNT_DIRECTORY = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How the store reaches and authenticates to one API server. */
export interface KubernetesConnection {
  /** `https://host:port`, without a trailing slash. */
  readonly server: string;
  /** PEM of the CA(s) the server's certificate must chain to; absent: the system's. */
  readonly ca?: string;
  /** The client certificate and its key (PEM), for a certificate user. */
  readonly cert?: string;
  readonly key?: string;
  /** The name to verify the server's certificate against, when not the host of `server`. */
  readonly serverName?: string;
  /** The bearer token for the next request (read again each time when it lives in a file). */
  readonly token?: () => string;
  /** The namespace the credentials come with: the pod's own, or the context's. */
  readonly namespace?: string;
  /** Where the credentials come from, for messages: `in-cluster`, `kubeconfig <file> (context <name>)`. */
  readonly source: string;
}

/** Options of {@link inClusterConnection}; the defaults are what a pod has. */
export interface InClusterOptions {
  /** `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT` are read from it. */
  readonly env?: NodeJS.ProcessEnv;
  /** The service-account token, read at every request. */
  readonly tokenFile?: string;
  /** The cluster CA. */
  readonly caFile?: string;
  /** The pod's namespace. */
  readonly namespaceFile?: string;
}

/**
 * The pod's own service account: the API server at `KUBERNETES_SERVICE_HOST:PORT`, the CA
 * and the token the kubelet mounts. The token file is read at each request: a projected
 * token is replaced by the kubelet well before it expires.
 * @throws {ConfigError} when the variables are unset or the CA cannot be read.
 */
export function inClusterConnection(options: InClusterOptions = {}): KubernetesConnection {
  const env = options.env ?? process.env;
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port) {
    throw new ConfigError([
      {
        path: 'store.kubeconfig',
        message:
          'not in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset) and no kubeconfig was given',
      },
    ]);
  }
  const tokenFile = options.tokenFile ?? join(SERVICE_ACCOUNT_DIRECTORY, 'token');
  const caFile = options.caFile ?? join(SERVICE_ACCOUNT_DIRECTORY, 'ca.crt');
  const namespaceFile = options.namespaceFile ?? join(SERVICE_ACCOUNT_DIRECTORY, 'namespace');
  const namespace = tryRead(namespaceFile)?.trim();
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readConfigFile(caFile, 'store.kubeconfig', 'the in-cluster CA'),
    token: () => readTokenFile(tokenFile),
    ...(namespace ? { namespace } : {}),
    source: 'in-cluster',
  };
}

/** Options of {@link kubeconfigConnection}. */
export interface KubeconfigOptions {
  /** The files, merged as kubectl does (the first to set a name or `current-context` wins). */
  readonly files: readonly string[];
  /** The context; default: `current-context`. */
  readonly context?: string;
}

/**
 * A kubeconfig's context: its cluster (server, CA, TLS server name) and user (bearer
 * token, token file or client certificate). Relative file paths are relative to the
 * kubeconfig file that names them. TLS is always verified: `insecure-skip-tls-verify` is
 * refused.
 * @throws {ConfigError} naming the file and the entry at fault.
 */
export function kubeconfigConnection(options: KubeconfigOptions): KubernetesConnection {
  const clusters = new Map<string, { value: Record<string, unknown>; base: string }>();
  const users = new Map<string, { value: Record<string, unknown>; base: string }>();
  const contexts = new Map<string, Record<string, unknown>>();
  let current: string | undefined;
  for (const file of options.files) {
    const text = readConfigFile(file, 'store.kubeconfig', 'the kubeconfig');
    let document: unknown;
    try {
      document = parse(text);
    } catch {
      // Not chained: the parser's error quotes the file around the fault, which may be a token.
      throw invalid(file, 'is not YAML');
    }
    if (document === null || document === undefined) continue;
    if (!isObject(document)) throw invalid(file, 'is not a kubeconfig (not a mapping)');
    const base = dirname(resolve(file));
    for (const [list, into, field] of [
      ['clusters', clusters, 'cluster'],
      ['users', users, 'user'],
    ] as const) {
      for (const entry of namedEntries(document[list], file, list)) {
        const value = entry[field];
        if (!into.has(entry.name)) into.set(entry.name, { value: isObject(value) ? value : {}, base });
      }
    }
    for (const entry of namedEntries(document['contexts'], file, 'contexts')) {
      if (!contexts.has(entry.name)) contexts.set(entry.name, isObject(entry['context']) ? entry['context'] : {});
    }
    const named = document['current-context'];
    if (current === undefined && typeof named === 'string' && named !== '') current = named;
  }
  const where = options.files.join(delimiter);
  const contextName = options.context ?? current;
  if (contextName === undefined) throw invalid(where, 'has no current-context; set store.context');
  const context = contexts.get(contextName);
  if (context === undefined) throw invalid(where, `has no context "${contextName}"`);
  const clusterName = stringField(context, 'cluster');
  const userName = stringField(context, 'user');
  const cluster = clusterName === undefined ? undefined : clusters.get(clusterName);
  if (cluster === undefined) throw invalid(where, `has no cluster "${clusterName ?? ''}" (context "${contextName}")`);
  const user = userName === undefined ? { value: {}, base: cluster.base } : users.get(userName);
  if (user === undefined) throw invalid(where, `has no user "${userName}" (context "${contextName}")`);

  const server = stringField(cluster.value, 'server')?.replace(/\/+$/, '');
  if (server === undefined || !server.startsWith('https://')) {
    throw invalid(where, `cluster "${clusterName}": server must be an https:// URL`);
  }
  if (cluster.value['insecure-skip-tls-verify'] === true) {
    throw invalid(where, `cluster "${clusterName}": insecure-skip-tls-verify is refused; give certificate-authority`);
  }
  const ca = pem(cluster.value, 'certificate-authority', cluster.base, where);
  const serverName = stringField(cluster.value, 'tls-server-name');

  for (const unsupported of ['exec', 'auth-provider', 'username', 'password']) {
    if (user.value[unsupported] !== undefined) {
      throw invalid(
        where,
        `user "${userName}": ${unsupported} is not supported; use a bearer token (token, tokenFile) or a client certificate`,
      );
    }
  }
  const cert = pem(user.value, 'client-certificate', user.base, where);
  const key = pem(user.value, 'client-key', user.base, where);
  if ((cert === undefined) !== (key === undefined)) {
    throw invalid(where, `user "${userName}": client-certificate and client-key go together`);
  }
  const inline = stringField(user.value, 'token');
  const tokenFile = stringField(user.value, 'tokenFile');
  const token =
    inline !== undefined
      ? () => inline
      : tokenFile !== undefined
        ? (() => {
            const path = isAbsolute(tokenFile) ? tokenFile : join(user.base, tokenFile);
            return () => readTokenFile(path);
          })()
        : undefined;
  if (token === undefined && cert === undefined) {
    throw invalid(
      where,
      `user "${userName ?? ''}" has no credentials the store supports (token, tokenFile, client certificate)`,
    );
  }
  const namespace = stringField(context, 'namespace');
  return {
    server,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined || key === undefined ? {} : { cert, key }),
    ...(serverName === undefined ? {} : { serverName }),
    ...(token === undefined ? {} : { token }),
    ...(namespace === undefined ? {} : { namespace }),
    source: `kubeconfig ${where} (context ${contextName})`,
  };
}

/**
 * The connection a config section asks for: its `kubeconfig` file, else `$KUBECONFIG`'s
 * files, else in-cluster when `KUBERNETES_SERVICE_HOST` is set, else `~/.kube/config`.
 * An explicit kubeconfig (the setting or the variable) wins over the pod's identity; the
 * ambient `~/.kube/config` does not.
 * @throws {ConfigError} when none is usable.
 */
export function resolveConnection(
  config: { readonly kubeconfig?: string | undefined; readonly context?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): KubernetesConnection {
  const context = config.context === undefined ? {} : { context: config.context };
  if (config.kubeconfig !== undefined) return kubeconfigConnection({ files: [config.kubeconfig], ...context });
  const fromEnv = (env['KUBECONFIG'] ?? '').split(delimiter).filter((file) => file !== '');
  if (fromEnv.length > 0) return kubeconfigConnection({ files: fromEnv, ...context });
  if (env['KUBERNETES_SERVICE_HOST']) {
    if (config.context !== undefined) {
      throw new ConfigError([
        { path: 'store.context', message: 'applies to a kubeconfig; none is given (in-cluster)' },
      ]);
    }
    return inClusterConnection({ env });
  }
  return kubeconfigConnection({ files: [join(homedir(), '.kube', 'config')], ...context });
}

function namedEntries(list: unknown, file: string, field: string): (Record<string, unknown> & { name: string })[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw invalid(file, `${field} is not a list`);
  return list.filter(
    (entry): entry is Record<string, unknown> & { name: string } =>
      isObject(entry) && typeof entry['name'] === 'string',
  );
}

/** A PEM given inline (`<field>-data`, base64) or as a file (`<field>`, relative to `base`). */
function pem(entry: Record<string, unknown>, field: string, base: string, where: string): string | undefined {
  const data = stringField(entry, `${field}-data`);
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  const file = stringField(entry, field);
  if (file === undefined) return undefined;
  return readConfigFile(isAbsolute(file) ? file : join(base, file), 'store.kubeconfig', `${field} of ${where}`);
}

function stringField(entry: Record<string, unknown>, field: string): string | undefined {
  const value = entry[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(where: string, message: string): ConfigError {
  return new ConfigError([{ path: 'store.kubeconfig', message: `${where} ${message}` }]);
}

function readConfigFile(file: string, path: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ path, message: `cannot read ${what} at ${file} (${code})` }], { cause: error });
  }
}

function tryRead(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Reads a bearer token file as it is now. A missing or empty file is retryable: the
 * kubelet writes a projected token by swapping a symlink, and may not have written it yet.
 * @throws {StoreError} naming the file, never its content.
 */
function readTokenFile(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new StoreError(`cannot read the Kubernetes token file ${file} (${code})`, { cause: error });
  }
  if (token === '') throw new StoreError(`the Kubernetes token file ${file} is empty`);
  return token;
}
