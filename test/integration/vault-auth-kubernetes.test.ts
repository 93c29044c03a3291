/**
 * Vault's Kubernetes auth end to end against a real API server: OpenBao's `kubernetes`
 * auth method is configured with the address and CA of the kube-apiserver of
 * test/helpers/kube.ts and a reviewer token of a service account bound to
 * `system:auth-delegator`, as deploy/kubernetes/README.md ("Before you apply", "Choices")
 * tells an operator to; the store logs in with service-account tokens minted by the
 * TokenRequest API with the audience `vault`, as the kubelet projects them into the pod.
 * Each refusal below is one the API server's TokenReview decides (a token of a deleted
 * account, a token for another audience, a reviewer without the right), except the first,
 * which OpenBao decides from the claims. vault-auth.test.ts covers the same method against
 * a test TokenReview server that records what OpenBao asked.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldKit } from '../../src/config/schema.js';
import { StoreError } from '../../src/errors.js';
import { createVaultStore, vaultStoreSchema } from '../../src/stores/vault/index.js';
import { type Kube, startKube } from '../helpers/kube.js';
import { type OpenBao, startOpenBao } from '../helpers/openbao.js';

/** The pod's identity the Vault role binds (deploy/kubernetes/README.md: role token-rotator). */
const NAMESPACE = 'token-rotator';
const ACCOUNT = 'token-rotator';
/** Where OpenBao's reviewer account lives, as when Vault runs outside the cluster. */
const REVIEWER_NAMESPACE = 'vault';
const REVIEWER = 'openbao-token-reviewer';
const REVIEWER_BINDING = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRoleBinding',
  metadata: { name: 'openbao-token-reviewer' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
  subjects: [{ kind: 'ServiceAccount', name: REVIEWER, namespace: REVIEWER_NAMESPACE }],
};
const CLUSTER_ROLE_BINDINGS = '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings';

let kube: Kube;
let bao: OpenBao;
let workdir: string;

beforeAll(async () => {
  workdir = await mkdtemp(join(tmpdir(), 'tr-vault-k8s-'));
  [kube, bao] = await Promise.all([startKube(), startOpenBao()]);
  await kube.createNamespace(NAMESPACE);
  await kube.createNamespace(REVIEWER_NAMESPACE);
  const reviewerToken = await kube.serviceAccountToken(REVIEWER_NAMESPACE, REVIEWER, 3600);
  await kube.ok('POST', CLUSTER_ROLE_BINDINGS, REVIEWER_BINDING);

  await bao.ok('POST', 'sys/policies/acl/token-rotator', {
    policy: await readFile('deploy/vault/rotator-policy.hcl', 'utf8'),
  });
  await bao.ok('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
  await bao.ok('POST', 'auth/kubernetes/config', {
    kubernetes_host: kube.server,
    kubernetes_ca_cert: await readFile(kube.caFile, 'utf8'),
    token_reviewer_jwt: reviewerToken,
    disable_local_ca_jwt: true,
  });
  // The role of deploy/kubernetes/README.md, "Before you apply", step 4.
  await bao.ok('POST', 'auth/kubernetes/role/token-rotator', {
    bound_service_account_names: [ACCOUNT],
    bound_service_account_namespaces: [NAMESPACE],
    audience: 'vault',
    token_policies: ['token-rotator'],
    token_ttl: '15m',
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([kube?.stop(), bao?.stop()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
}, 30_000);

const resolvedVaultSchema = vaultStoreSchema(fieldKit('resolved'));

/** A store logging in with the token in a file, as the pod's projected `vault` token. */
async function storeWithToken(jwt: string) {
  const jwtFile = join(workdir, `${randomBytes(4).toString('hex')}-token`);
  await writeFile(jwtFile, jwt, { mode: 0o600 });
  return createVaultStore(
    resolvedVaultSchema.parse({
      kind: 'vault',
      address: bao.address,
      auth: { method: 'kubernetes', role: 'token-rotator', jwt_file: jwtFile },
    }),
  );
}

/** What the store's first call fails with: a StoreError naming the login, and never the token. */
async function refusedLogin(jwt: string): Promise<StoreError> {
  const store = await storeWithToken(jwt);
  try {
    const error = await store.read('tokens/k8s').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toMatch(/to login at auth\/kubernetes/);
    expect((error as StoreError).message).not.toContain(jwt);
    expect(JSON.stringify(error)).not.toContain(jwt);
    return error as StoreError;
  } finally {
    await store.close();
  }
}

/** Writes and reads back a record of its own with a store that logs in with `jwt`. */
async function roundTrip(jwt: string): Promise<void> {
  const store = await storeWithToken(jwt);
  try {
    const record = `tests/k8s-${randomBytes(4).toString('hex')}`;
    const version = await store.write(record, { n: 1 }, null);
    expect(await store.read(record)).toEqual({ value: { n: 1 }, version });
  } finally {
    await store.close();
  }
}

/**
 * Waits until the API server's authorizer says `allowed` of the reviewer creating
 * TokenReviews: RBAC changes reach it through a watch, a moment after the write.
 */
async function reviewerMayReview(allowed: boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const review = await kube.ok('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${REVIEWER_NAMESPACE}:${REVIEWER}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${REVIEWER_NAMESPACE}`, 'system:authenticated'],
        resourceAttributes: { group: 'authentication.k8s.io', resource: 'tokenreviews', verb: 'create' },
      },
    });
    if ((review.status?.allowed ?? false) === allowed) return;
    if (Date.now() > deadline) throw new Error(`the reviewer's right to review tokens is not ${allowed} after 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const vaultToken = (namespace: string, name: string) => kube.serviceAccountToken(namespace, name, 600, ['vault']);

describe("Vault's Kubernetes auth (real OpenBao, real kube-apiserver TokenReview)", () => {
  it('logs in with a token of the bound service account from the TokenRequest API (audience vault), and the store reads and writes', async () => {
    const jwt = await vaultToken(NAMESPACE, ACCOUNT);

    await roundTrip(jwt);
  });

  it('refuses a token of another service account, of the same namespace or of the same name in another', async () => {
    const intruder = await vaultToken(NAMESPACE, 'intruder');
    await kube.createNamespace('elsewhere');
    const namesake = await vaultToken('elsewhere', ACCOUNT);

    expect((await refusedLogin(intruder)).message).toMatch(/HTTP 403 .*permission denied/);
    expect((await refusedLogin(namesake)).message).toMatch(/HTTP 403 .*permission denied/);
  });

  it("refuses a token of the bound account for the API server's audience, not the role's", async () => {
    const apiToken = await kube.serviceAccountToken(NAMESPACE, ACCOUNT, 600);

    expect((await refusedLogin(apiToken)).message).toMatch(/HTTP 403/);
  });

  it('refuses a token whose account was deleted and created again (same name, another uid), and takes a token of the new one', async () => {
    const old = await vaultToken(NAMESPACE, ACCOUNT);
    await kube.ok('DELETE', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${ACCOUNT}`);
    const fresh = await vaultToken(NAMESPACE, ACCOUNT); // creates the account anew

    // Its claims still name the bound account: only the API server knows the uid is gone.
    expect((await refusedLogin(old)).message).toMatch(/HTTP 403/);
    await roundTrip(fresh);
  });

  it('fails every login while the reviewer account lacks system:auth-delegator, and works again once it has it', async () => {
    const jwt = await vaultToken(NAMESPACE, ACCOUNT);
    await kube.ok('DELETE', `${CLUSTER_ROLE_BINDINGS}/${REVIEWER_BINDING.metadata.name}`);
    try {
      await reviewerMayReview(false);
      await refusedLogin(jwt);
    } finally {
      await kube.ok('POST', CLUSTER_ROLE_BINDINGS, REVIEWER_BINDING);
    }
    await reviewerMayReview(true);

    await roundTrip(jwt);
  });
});
