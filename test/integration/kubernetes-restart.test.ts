/**
 * Restart on rotation (`store.restart_on_rotation`, src/stores/kubernetes/restart.ts)
 * against a real kube-apiserver and etcd (test/helpers/kube.ts): the rotator (config,
 * engine, store, in this process) rotates providers of the sandbox, authenticated as a
 * service account bound to the Roles of deploy/kubernetes/rbac/ (the rotator's, and the
 * restart component's), and the Deployments of its namespace are read back as the API
 * server stores them. No controller-manager runs, so no pod rolls: a restart is the pod
 * template's new `kubectl.kubernetes.io/restartedAt` and the spec's new generation, which
 * is what the Deployment controller acts on.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { createRotator, type Rotator } from '../../src/rotator.js';
import { startDemoSandbox } from '../../src/runtimes/demo.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import {
  createKubernetesStore,
  type KubernetesStore,
  RECORD_KEY,
  RESTART_FAILED,
  RESTART_ON_ROTATION_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  secretNameOf,
} from '../../src/stores/kubernetes/index.js';
import { extractCodeBlocks, ROOT } from '../docs/markdown.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { type Kube, rbacManifests, startKube } from '../helpers/kube.js';
import { createDeployments, deploymentOf, restartView, setRestartedAt } from '../helpers/kube-workloads.js';

const PREFIX = 'token-rotator-';
const PROVIDERS: readonly string[] = ['alpha', 'beta'];
/** Every Deployment of a case: annotated for alpha, for both, for beta only, not at all, and a paused one. */
const DEPLOYMENTS = ['alpha-app', 'both-app', 'beta-app', 'plain-app', 'paused-app'] as const;
/** Whole seconds, `Z`: Go's time.RFC3339 in UTC, as kubectl writes it. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

let kube: Kube;
let sandbox: Sandbox;
let secrets: DemoSecrets;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  kube = await startKube();
  ({ sandbox, secrets } = await startDemoSandbox());
}, 90_000);

afterAll(async () => {
  for (const close of closers) await close();
  await sandbox?.close();
  await kube?.stop();
}, 30_000);

interface Setup {
  readonly ns: string;
  readonly rotator: Rotator;
  readonly logs: ReturnType<typeof captureLogs>;
  /** The service account's token, a secret no output may hold. */
  readonly token: string;
  /** The test's own view of the records (admin). */
  readonly admin: KubernetesStore;
}

/**
 * A namespace with the Deployments of {@link DEPLOYMENTS}, the rotator's Role of
 * deploy/kubernetes/rbac/rotator-role.yaml (named for alpha and beta) and, unless
 * `restartRole` is false, the restart component's Role as shipped; and a rotator
 * authenticated as that service account, with restart on rotation on.
 */
async function prepare(options: {
  readonly restartRole: boolean;
  /** Default {@link PROVIDERS}. */
  readonly providers?: readonly string[];
}): Promise<Setup> {
  const providers = options.providers ?? PROVIDERS;
  const ns = `r-${randomUUID().slice(0, 8)}`;
  await kube.createNamespace(ns);
  const rotatorRole = await rbacManifests('rotator-role.yaml');
  const role = rotatorRole.find((object) => object['kind'] === 'Role')!;
  role['rules'][1].resourceNames = [
    secretNameOf(PREFIX, 'runner/heartbeat'),
    ...providers.flatMap((p) => [secretNameOf(PREFIX, `tokens/${p}`), secretNameOf(PREFIX, `state/${p}`)]),
  ];
  await kube.apply(rotatorRole, ns);
  if (options.restartRole) await kube.apply(await rbacManifests('restart/restart-role.yaml'), ns);
  await createDeployments(kube, ns, [
    { name: 'alpha-app', annotations: { [RESTART_ON_ROTATION_ANNOTATION]: 'alpha' } },
    { name: 'both-app', annotations: { [RESTART_ON_ROTATION_ANNOTATION]: 'beta, alpha' } },
    { name: 'beta-app', annotations: { [RESTART_ON_ROTATION_ANNOTATION]: 'beta' } },
    { name: 'plain-app', annotations: { 'example.com/team': 'alpha' } },
    { name: 'paused-app', annotations: { [RESTART_ON_ROTATION_ANNOTATION]: 'alpha' }, paused: true },
  ]);
  const token = await kube.serviceAccountToken(ns, 'token-rotator');
  const provider = (name: string) => `
  ${name}:
    kind: oauth2
    token_url: ${sandbox.tokenUrl('oauth2')}
    grant: client_credentials
    body: json
    client_id: ${secrets.oauth2.clientId}
    client_secret: \${env:OAUTH2_CLIENT_SECRET}`;
  const config = `
store:
  kind: kubernetes
  namespace: ${ns}
  prefix: ${PREFIX}
  kubeconfig: ${await kube.kubeconfig({ token })}
  restart_on_rotation: true
providers:${providers.map(provider).join('')}
`;
  const logs = captureLogs();
  const rotator = await createRotator(
    await parseConfig(config, 'restart.yaml', { OAUTH2_CLIENT_SECRET: secrets.oauth2.clientSecret }),
    { logger: logs.logger },
  );
  const admin = createKubernetesStore({
    kind: 'kubernetes',
    namespace: ns,
    prefix: PREFIX,
    kubeconfig: await kube.kubeconfig({ token: kube.tokens.admin }),
    request_timeout_seconds: 10,
  });
  closers.push(
    () => rotator.close(),
    () => admin.close(),
  );
  return { ns, rotator, logs, token, admin };
}

/** The generation of a provider's public record. */
async function generationOf(admin: KubernetesStore, provider: string): Promise<unknown> {
  return (await admin.read(`tokens/${provider}`))?.value['generation'];
}

/** The log lines of restart on rotation (restarted, skipped, failed). */
function restartLines(logs: Setup['logs']): Record<string, any>[] {
  return logs.lines().filter((line) => String(line['msg']).includes('restart'));
}

/** Every secret that must not appear in the logs: the tokens the sandbox issued, the credentials. */
function expectNoSecretIn(text: string, setup: Setup): void {
  for (const secret of [...sandbox.issuedTokens(), setup.token, kube.tokens.admin, secrets.oauth2.clientSecret]) {
    expect(text.includes(secret), `${secret.slice(0, 6)}… in the logs`).toBe(false);
  }
}

describe('KubernetesStore restart on rotation', () => {
  it("restarts the Deployments annotated for a provider after its token's new generation, with kubectl rollout restart's patch, and no others", async () => {
    const setup = await prepare({ restartRole: true });
    const { ns, rotator, admin } = setup;
    const first = await rotator.pass();
    expect(first.outcomes.map((outcome) => outcome.status)).toEqual(['rotated', 'rotated']);
    // A first token creates the Secret: no pod had a token to replace.
    const created = await restartView(kube, ns, DEPLOYMENTS);
    for (const name of DEPLOYMENTS) expect(created[name], name).toEqual({ generation: 1, templateAnnotations: {} });

    const before = Date.now();
    const second = await rotator.pass({ force: true, providers: ['alpha'] });
    const after = Date.now();

    expect(second.outcomes).toMatchObject([{ provider: 'alpha', status: 'rotated' }]);
    expect(await generationOf(admin, 'alpha')).toBe(2);
    const view = await restartView(kube, ns, DEPLOYMENTS);
    for (const name of ['alpha-app', 'both-app']) {
      const restartedAt = view[name]!.templateAnnotations[RESTARTED_AT_ANNOTATION]!;
      expect(view[name], name).toEqual({
        generation: 2,
        templateAnnotations: { [RESTARTED_AT_ANNOTATION]: restartedAt },
      });
      expect(restartedAt, name).toMatch(RFC3339);
      expect(Date.parse(restartedAt), name).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(Date.parse(restartedAt), name).toBeLessThanOrEqual(after);
    }
    for (const name of ['beta-app', 'plain-app', 'paused-app']) {
      expect(view[name], name).toEqual({ generation: 1, templateAnnotations: {} });
    }
    // The patch changed the template's annotation only, as the service account's field manager.
    const restarted = await deploymentOf(kube, ns, 'alpha-app');
    expect(restarted.spec.template.spec.containers).toMatchObject([
      { name: 'app', image: 'registry.example.com/app:1.0' },
    ]);
    expect(restarted.metadata.managedFields.map((field: any) => field.manager)).toContain('token-rotator');
    expect(restartLines(setup.logs)).toMatchObject([
      {
        level: 30,
        provider: 'alpha',
        generation: 2,
        deployment: 'alpha-app',
        msg: 'restarted Deployment (rollout restart)',
      },
      {
        level: 30,
        provider: 'alpha',
        generation: 2,
        deployment: 'both-app',
        msg: 'restarted Deployment (rollout restart)',
      },
      { level: 40, provider: 'alpha', deployment: 'paused-app', msg: expect.stringContaining('paused') },
    ]);
    expectNoSecretIn(setup.logs.text(), setup);
  });

  it('does not restart a Deployment again within the minimum interval, and does once it has passed', async () => {
    const setup = await prepare({ restartRole: true });
    const { ns, rotator, admin } = setup;
    await rotator.pass();
    await rotator.pass({ force: true, providers: ['alpha'] });
    const restarted = await restartView(kube, ns, ['alpha-app', 'both-app']);

    // Another new token within the default 300 s: skipped, and said so.
    await rotator.pass({ force: true, providers: ['alpha'] });
    expect(await generationOf(admin, 'alpha')).toBe(3);
    expect(await restartView(kube, ns, ['alpha-app', 'both-app'])).toEqual(restarted);
    const skipped = restartLines(setup.logs).filter((line) => line['generation'] === 3 && line['level'] === 30);
    expect(skipped).toMatchObject([
      {
        deployment: 'alpha-app',
        restarted_at: restarted['alpha-app']!.templateAnnotations[RESTARTED_AT_ANNOTATION],
        next_allowed_at: expect.stringMatching(RFC3339),
        min_interval_seconds: 300,
        msg: expect.stringContaining('skipped'),
      },
      { deployment: 'both-app', msg: expect.stringContaining('skipped') },
    ]);

    // The limit is the Deployment's own restartedAt: once it is older than the interval, the next token restarts.
    await setRestartedAt(kube, ns, 'alpha-app', new Date(Date.now() - 301_000).toISOString().replace(/\.\d{3}Z$/, 'Z'));
    const aged = await restartView(kube, ns, ['alpha-app', 'both-app']);
    await rotator.pass({ force: true, providers: ['alpha'] });

    const now = await restartView(kube, ns, ['alpha-app', 'both-app']);
    expect(now['alpha-app']!.generation).toBe(aged['alpha-app']!.generation + 1);
    expect(now['alpha-app']!.templateAnnotations[RESTARTED_AT_ANNOTATION]).not.toBe(
      aged['alpha-app']!.templateAnnotations[RESTARTED_AT_ANNOTATION],
    );
    expect(now['both-app']).toEqual(restarted['both-app']);
  });

  it('restarts a Deployment annotated for two providers once when both get a new token in one pass', async () => {
    const setup = await prepare({ restartRole: true });
    const { ns, rotator } = setup;
    await rotator.pass();

    await rotator.pass({ force: true });

    const view = await restartView(kube, ns, ['alpha-app', 'both-app', 'beta-app']);
    for (const name of ['alpha-app', 'both-app', 'beta-app']) expect(view[name]!.generation, name).toBe(2);
    const both = restartLines(setup.logs).filter((line) => line['deployment'] === 'both-app');
    expect(both.map((line) => String(line['msg']).split(':')[0])).toEqual([
      'restarted Deployment (rollout restart)',
      'restart on rotation skipped',
    ]);
  });

  it('does not restart on a republish of the same generation, nor on a dry run', async () => {
    const setup = await prepare({ restartRole: true });
    const { ns, rotator, admin } = setup;
    await rotator.pass();
    const secretPath = `/api/v1/namespaces/${ns}/secrets/${secretNameOf(PREFIX, 'tokens/alpha')}`;

    // A damaged public record of the same generation: the engine writes it again over it.
    const secret = await kube.ok('GET', secretPath);
    const damaged = JSON.stringify({ provider: 'alpha', generation: 1 });
    secret.data = { [RECORD_KEY]: Buffer.from(damaged).toString('base64') };
    await kube.ok('PUT', secretPath, secret);
    const repaired = await rotator.pass({ providers: ['alpha'] });
    // A deleted public Secret: the engine creates it again.
    await kube.ok('DELETE', secretPath);
    const recreated = await rotator.pass({ providers: ['alpha'] });
    // A dry run decides and writes nothing.
    const dry = await rotator.pass({ force: true, dryRun: true, providers: ['alpha'] });

    expect([repaired, recreated, dry].map((summary) => summary.outcomes[0]?.status)).toEqual([
      'repaired',
      'repaired',
      'would-rotate',
    ]);
    expect((await admin.read('tokens/alpha'))?.value).toMatchObject({
      generation: 1,
      access_token: expect.any(String),
    });
    const view = await restartView(kube, ns, DEPLOYMENTS);
    for (const name of DEPLOYMENTS) expect(view[name], name).toEqual({ generation: 1, templateAnnotations: {} });
    expect(restartLines(setup.logs)).toEqual([]);
  });

  it('writes the token and logs an error when the service account lacks the restart Role', async () => {
    const setup = await prepare({ restartRole: false });
    const { ns, rotator, admin } = setup;
    await rotator.pass();

    const summary = await rotator.pass({ force: true, providers: ['alpha'] });

    expect(summary.ok).toBe(true);
    expect(summary.outcomes).toMatchObject([{ provider: 'alpha', status: 'rotated', ok: true }]);
    const published = await admin.read('tokens/alpha');
    expect(published?.value['generation']).toBe(2);
    expect(sandbox.isValid(published?.value['access_token'] as string)).toBe(true);
    expect(restartLines(setup.logs)).toMatchObject([
      {
        level: 50,
        provider: 'alpha',
        generation: 2,
        err: {
          class: 'restart',
          code: RESTART_FAILED,
          message: expect.stringMatching(
            /HTTP 403 Forbidden to list of deployments.*deploy\/kubernetes\/rbac\/restart/,
          ),
        },
      },
    ]);
    const view = await restartView(kube, ns, DEPLOYMENTS);
    for (const name of DEPLOYMENTS) expect(view[name], name).toEqual({ generation: 1, templateAnnotations: {} });
    expectNoSecretIn(setup.logs.text(), setup);
  });

  it('accepts the Pod and the annotated Deployment of docs/kubernetes.md as written, and restarts that Deployment', async () => {
    const setup = await prepare({ restartRole: true, providers: ['klikoo'] });
    const { ns, rotator } = setup;
    const doc = await readFile(join(ROOT, 'docs/kubernetes.md'), 'utf8');
    const examples = extractCodeBlocks('docs/kubernetes.md', doc)
      .filter((block) => block.lang === 'yaml')
      .flatMap((block) => parseAllDocuments(block.text).map((document) => document.toJS()))
      .filter((object) => object?.kind === 'Pod' || object?.kind === 'Deployment');
    expect(examples.map((object) => [object.kind, object.metadata.name])).toEqual([
      ['Pod', 'klikoo-client'],
      ['Deployment', 'klikoo-client'],
    ]);
    // The documented namespace is the rotator's: here, the test's.
    await kube.apply([{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } }], ns);
    for (const object of examples) {
      object.metadata.namespace = ns;
      const collection =
        object.kind === 'Pod' ? `/api/v1/namespaces/${ns}/pods` : `/apis/apps/v1/namespaces/${ns}/deployments`;
      await kube.ok('POST', `${collection}?fieldValidation=Strict`, object);
    }
    await rotator.pass();
    const before = await restartView(kube, ns, ['klikoo-client']);

    await rotator.pass({ force: true });

    const after = await restartView(kube, ns, ['klikoo-client']);
    expect(before['klikoo-client']).toEqual({ generation: 1, templateAnnotations: {} });
    expect(after['klikoo-client']!.generation).toBe(2);
    expect(after['klikoo-client']!.templateAnnotations[RESTARTED_AT_ANNOTATION]).toMatch(RFC3339);
    const pod = await kube.ok('GET', `/api/v1/namespaces/${ns}/pods/klikoo-client`);
    expect(pod.spec.volumes).toContainEqual(
      expect.objectContaining({
        secret: expect.objectContaining({ secretName: secretNameOf(PREFIX, 'tokens/klikoo') }),
      }),
    );
  });
});
