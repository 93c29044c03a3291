/**
 * Generated workloads: N `oauth2` client-credentials providers pointing at the benchmark's
 * token server, each with its own credential file referenced as `${file:…}`, a file store,
 * and the same providers as the floor client's job.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One generated provider. */
export interface BenchProvider {
  readonly name: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * How the generated configs hold credentials: `file`, a `${file:…}` reference to one file per
 * provider (the default, as in production); `env`, a `${env:…}` reference to one variable
 * per provider (before issue 13's first fix, file references at 20,000 providers hit the
 * open-files limit; note that 20,000 variables make every `process.env` read slow).
 */
export type CredentialSource = 'file' | 'env';

/** A workload written to disk: credentials and one config file per store directory asked for. */
export interface Workload {
  readonly providers: readonly BenchProvider[];
  readonly credentialsDir: string;
  /** The environment every child reading the configs needs (the variables of `env` credentials). */
  readonly env: NodeJS.ProcessEnv;
  /** Writes a config whose file store is `storeDir`, rotating `concurrency` providers at once, and returns its path. */
  configFor(storeDir: string, name: string, concurrency?: number): Promise<string>;
}

/** The schedule every generated config carries: every 2 s, so the daemon's passes come back to back. */
export const BENCH_SCHEDULE = '*/2 * * * * *';

/** `p00042`: names sort in creation order and are the same length at every size. */
export function providerName(index: number): string {
  return `p${String(index).padStart(5, '0')}`;
}

/**
 * Writes the credential files of `count` providers under `root` and returns the workload.
 * The credentials are generated placeholders, never real ones.
 */
export async function writeWorkload(
  root: string,
  count: number,
  tokenUrl: string,
  credentials: CredentialSource = 'file',
): Promise<Workload> {
  const credentialsDir = join(root, 'credentials');
  await mkdir(credentialsDir, { recursive: true, mode: 0o700 });
  const providers: BenchProvider[] = [];
  for (let i = 1; i <= count; i++) {
    const name = providerName(i);
    providers.push({ name, clientId: `bench-client-${name}`, clientSecret: `bench-placeholder-${name}` });
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  const variable = (name: string) => `BENCH_SECRET_${name.toUpperCase()}`;
  // Sequential on purpose: 20,000 parallel writes would exhaust file descriptors.
  for (const provider of providers) {
    if (credentials === 'env') env[variable(provider.name)] = provider.clientSecret;
    else await writeFile(join(credentialsDir, provider.name), `${provider.clientSecret}\n`, { mode: 0o600 });
  }
  const reference = (name: string) =>
    credentials === 'env' ? `\${env:${variable(name)}}` : `\${file:${join(credentialsDir, name)}}`;
  const sections = providers
    .map(
      (p) =>
        `  ${p.name}:\n    kind: oauth2\n    token_url: ${tokenUrl}\n    client_id: ${p.clientId}\n` +
        `    client_secret: ${reference(p.name)}\n`,
    )
    .join('');
  return {
    providers,
    credentialsDir,
    env,
    async configFor(storeDir: string, name: string, concurrency = 4): Promise<string> {
      const path = join(root, `${name}.yaml`);
      const head =
        `store:\n  kind: file\n  directory: ${storeDir}\n` +
        `policy:\n  schedule: "${BENCH_SCHEDULE}"\n  concurrency: ${concurrency}\n` +
        'log_level: info\nproviders:\n';
      await writeFile(path, head + sections);
      return path;
    },
  };
}
