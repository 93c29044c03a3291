/**
 * The pure parts of restart on rotation (src/stores/kubernetes/restart.ts): the annotation,
 * the patch, the rate limit, and how the restarter orders restarts and reports failures,
 * above a stand-in for the API (what the API server does with it is proven in
 * test/integration/kubernetes-restart.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { DeploymentSummary } from '../../src/stores/kubernetes/client.js';
import { KubernetesHttpError } from '../../src/stores/kubernetes/client.js';
import {
  decideRestart,
  isNewGeneration,
  providersOf,
  RESTART_FAILED,
  RESTART_ON_ROTATION_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  type RestartClient,
  RolloutRestarter,
  restartPatch,
  rfc3339,
} from '../../src/stores/kubernetes/restart.js';
import { captureLogs } from '../helpers/captured-logger.js';

const NOW = Date.parse('2026-11-21T10:00:00.500Z');

function deployment(name: string, providers: string | undefined, extra: Partial<DeploymentSummary> = {}) {
  return {
    name,
    annotations: providers === undefined ? {} : { [RESTART_ON_ROTATION_ANNOTATION]: providers },
    templateAnnotations: {},
    paused: false,
    ...extra,
  } satisfies DeploymentSummary;
}

/** A stand-in API that keeps Deployments in memory and applies the restart patch as the API server would. */
function memoryApi(deployments: DeploymentSummary[], fail: { list?: Error; patch?: Error } = {}) {
  const patches: { name: string; patch: unknown; fieldManager: string }[] = [];
  const client: RestartClient = {
    async listDeployments() {
      if (fail.list) throw fail.list;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return deployments.map((d) => ({ ...d }));
    },
    async patchDeployment(_namespace, name, patch, fieldManager) {
      if (fail.patch) throw fail.patch;
      patches.push({ name, patch, fieldManager });
      const index = deployments.findIndex((d) => d.name === name);
      const annotations = (patch as ReturnType<typeof restartPatch>).spec.template.metadata.annotations;
      const current = deployments[index]!;
      deployments[index] = { ...current, templateAnnotations: { ...current.templateAnnotations, ...annotations } };
      return deployments[index]!;
    },
  };
  return { client, patches };
}

describe('restart on rotation', () => {
  describe('providersOf', () => {
    it('reads a comma-separated list of providers, ignoring blanks', () => {
      expect(providersOf('klikoo')).toEqual(['klikoo']);
      expect(providersOf(' klikoo, billing ,,')).toEqual(['klikoo', 'billing']);
      expect(providersOf('')).toEqual([]);
      expect(providersOf(undefined)).toEqual([]);
    });
  });

  describe('restartPatch', () => {
    it("is kubectl rollout restart's strategic merge patch: the pod template's restartedAt in RFC 3339, whole seconds", () => {
      expect(rfc3339(NOW)).toBe('2026-11-21T10:00:00Z');
      expect(JSON.stringify(restartPatch(NOW))).toBe(
        '{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-21T10:00:00Z"}}}}}',
      );
    });
  });

  describe('decideRestart', () => {
    const interval = 300_000;

    it('restarts a Deployment never restarted, or restarted longer ago than the interval', () => {
      expect(decideRestart(deployment('a', 'p'), NOW, interval)).toEqual({ action: 'restart' });
      const old = { templateAnnotations: { [RESTARTED_AT_ANNOTATION]: '2026-11-21T09:55:00Z' } };
      expect(decideRestart(deployment('a', 'p', old), NOW, interval)).toEqual({ action: 'restart' });
    });

    it('skips a Deployment restarted within the interval, before or a little after now, and says when it may be next', () => {
      const recent = { templateAnnotations: { [RESTARTED_AT_ANNOTATION]: '2026-11-21T09:56:00Z' } };
      const ahead = { templateAnnotations: { [RESTARTED_AT_ANNOTATION]: '2026-11-21T10:00:02Z' } };

      expect(decideRestart(deployment('a', 'p', recent), NOW, interval)).toEqual({
        action: 'skip',
        reason: 'interval',
        restartedAt: '2026-11-21T09:56:00Z',
        nextAllowedAt: '2026-11-21T10:01:00Z',
      });
      expect(decideRestart(deployment('a', 'p', ahead), NOW, interval)).toMatchObject({ reason: 'interval' });
    });

    it('does not let a restartedAt that is no time, or far in the future, block restarts', () => {
      for (const value of ['yesterday', '2027-01-01T00:00:00Z']) {
        const odd = { templateAnnotations: { [RESTARTED_AT_ANNOTATION]: value } };
        expect(decideRestart(deployment('a', 'p', odd), NOW, interval), value).toEqual({ action: 'restart' });
      }
    });

    it('skips a paused Deployment, as kubectl refuses to restart one', () => {
      expect(decideRestart(deployment('a', 'p', { paused: true }), NOW, interval)).toEqual({
        action: 'skip',
        reason: 'paused',
      });
    });
  });

  describe('isNewGeneration', () => {
    it('is true only for a higher generation than a known one', () => {
      expect(isNewGeneration(1, 2)).toBe(true);
      expect(isNewGeneration(2, 2)).toBe(false);
      expect(isNewGeneration(3, 2)).toBe(false);
      expect(isNewGeneration(undefined, 1)).toBe(false);
      expect(isNewGeneration(1, undefined)).toBe(false);
    });
  });

  describe('RolloutRestarter', () => {
    it("patches the provider's Deployments only, as field manager token-rotator", async () => {
      const { client, patches } = memoryApi([
        deployment('a', 'klikoo'),
        deployment('b', 'billing,klikoo'),
        deployment('c', 'billing'),
        deployment('d', undefined),
        deployment('e', 'klikoo-2'),
      ]);
      const { logger } = captureLogs();
      const restarter = new RolloutRestarter({
        client,
        namespace: 'ns',
        minIntervalSeconds: 300,
        logger,
        now: () => NOW,
      });

      const report = await restarter.restartFor('klikoo', 4);

      expect(report).toEqual({ restarted: ['a', 'b'], skipped: [], failed: [] });
      expect(patches).toEqual([
        { name: 'a', patch: restartPatch(NOW), fieldManager: 'token-rotator' },
        { name: 'b', patch: restartPatch(NOW), fieldManager: 'token-rotator' },
      ]);
    });

    it('runs restarts one after another, so two providers rotated together restart a shared Deployment once', async () => {
      const { client, patches } = memoryApi([deployment('shared', 'klikoo, billing')]);
      const { logger } = captureLogs();
      const restarter = new RolloutRestarter({
        client,
        namespace: 'ns',
        minIntervalSeconds: 300,
        logger,
        now: () => NOW,
      });

      const reports = await Promise.all([restarter.restartFor('klikoo', 2), restarter.restartFor('billing', 7)]);

      expect(patches.map((patch) => patch.name)).toEqual(['shared']);
      expect(reports).toEqual([
        { restarted: ['shared'], skipped: [], failed: [] },
        { restarted: [], skipped: [{ name: 'shared', reason: 'interval' }], failed: [] },
      ]);
    });

    it('never throws: a refused list or patch is logged as KUBERNETES_RESTART_FAILED, naming the Role to apply', async () => {
      const forbidden = new KubernetesHttpError(
        403,
        'list of deployments in namespace ns',
        JSON.stringify({ kind: 'Status', reason: 'Forbidden', message: 'user "x" cannot list' }),
      );
      const listLogs = captureLogs();
      const patchLogs = captureLogs();
      const listing = new RolloutRestarter({
        client: memoryApi([deployment('a', 'klikoo')], { list: forbidden }).client,
        namespace: 'ns',
        minIntervalSeconds: 300,
        logger: listLogs.logger,
        source: 'in-cluster',
      });
      const patching = new RolloutRestarter({
        client: memoryApi([deployment('a', 'klikoo'), deployment('b', 'klikoo')], {
          patch: new Error('socket hang up'),
        }).client,
        namespace: 'ns',
        minIntervalSeconds: 300,
        logger: patchLogs.logger,
      });

      expect(await listing.restartFor('klikoo', 2)).toEqual({ restarted: [], skipped: [], failed: ['*'] });
      expect(await patching.restartFor('klikoo', 2)).toEqual({ restarted: [], skipped: [], failed: ['a', 'b'] });
      expect(listLogs.lines()).toMatchObject([
        {
          level: 50,
          provider: 'klikoo',
          generation: 2,
          namespace: 'ns',
          err: {
            class: 'restart',
            code: RESTART_FAILED,
            message:
              'the Kubernetes API answered HTTP 403 Forbidden to list of deployments in namespace ns (forbidden: the credentials of in-cluster may not list deployments; apply the Role of deploy/kubernetes/rbac/restart)',
          },
        },
      ]);
      expect(listLogs.text()).not.toContain('cannot list');
      expect(patchLogs.lines()).toMatchObject([
        { level: 50, deployment: 'a', err: { code: RESTART_FAILED, message: 'socket hang up' } },
        { level: 50, deployment: 'b', err: { code: RESTART_FAILED, message: 'socket hang up' } },
      ]);
    });

    it('never throws even on what it does not expect: the failure is logged and the next restart still runs', async () => {
      const { logger, lines } = captureLogs();
      let calls = 0;
      const client: RestartClient = {
        async listDeployments() {
          calls += 1;
          // A first answer the code does not expect (no annotations at all), then a sane one.
          return calls === 1 ? [{ name: 'odd' } as unknown as DeploymentSummary] : [deployment('a', 'klikoo')];
        },
        async patchDeployment(_namespace, name) {
          return deployment(name, 'klikoo');
        },
      };
      const restarter = new RolloutRestarter({
        client,
        namespace: 'ns',
        minIntervalSeconds: 300,
        logger,
        now: () => NOW,
      });

      const reports = await Promise.all([restarter.restartFor('klikoo', 2), restarter.restartFor('klikoo', 3)]);

      expect(reports).toEqual([
        { restarted: [], skipped: [], failed: ['*'] },
        { restarted: ['a'], skipped: [], failed: [] },
      ]);
      expect(lines()[0]).toMatchObject({
        level: 50,
        provider: 'klikoo',
        err: { class: 'restart', code: RESTART_FAILED },
      });
    });
  });
});
