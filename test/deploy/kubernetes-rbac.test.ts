/**
 * deploy/kubernetes/rbac/: the Roles of the Kubernetes store (docs/kubernetes.md) are valid
 * against the strict schemas (kubeconform), the rotator's renders as a kustomize component
 * under an overlay's namespace, and neither grants more than the store and a consumer use.
 * What they allow and refuse on a real API server is proven in
 * test/integration/kubernetes-store.test.ts.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type K8sObject, KUBERNETES_DIR, runTool, tool, validate } from './manifests.js';

const RBAC_DIR = join(KUBERNETES_DIR, 'rbac');

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

async function objectsOf(file: string): Promise<(K8sObject & { rules?: Rule[] })[]> {
  return parseAllDocuments(await readFile(join(RBAC_DIR, file), 'utf8')).map((document) => {
    if (document.errors.length > 0) throw document.errors[0]!;
    return document.toJS();
  });
}

describe('the Kubernetes store RBAC (deploy/kubernetes/rbac)', () => {
  it.each(['rotator-role.yaml', 'consumer-role.yaml', 'restart/restart-role.yaml', 'revoke/revoke-role.yaml'])(
    '%s is valid against the strict schemas',
    async (file) => {
      const { code, verdicts } = await validate(await readFile(join(RBAC_DIR, file), 'utf8'));

      expect(verdicts.map((verdict) => [verdict.kind, verdict.status, verdict.msg]).sort()).toEqual([
        ['Role', 'statusValid', ''],
        ['RoleBinding', 'statusValid', ''],
      ]);
      expect(code).toBe(0);
    },
  );

  it("renders the rotator's Role and RoleBinding as a component, in the including overlay's namespace", async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'rbac-component-'));
    try {
      await writeFile(
        join(scratch, 'kustomization.yaml'),
        `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: token-rotator\ncomponents:\n  - ${relative(scratch, RBAC_DIR)}\n`,
      );
      const result = await runTool(tool('kustomize'), ['build', '--load-restrictor', 'LoadRestrictionsNone', scratch]);

      expect(result.stderr).toBe('');
      const objects = parseAllDocuments(result.stdout).map((document) => document.toJS() as K8sObject);
      expect(objects.map((object) => [object.kind, object.metadata.name, object.metadata.namespace])).toEqual([
        ['Role', 'token-rotator', 'token-rotator'],
        ['RoleBinding', 'token-rotator', 'token-rotator'],
      ]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it("renders the restart Role and RoleBinding as a component of their own, in the including overlay's namespace", async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'rbac-restart-'));
    try {
      await writeFile(
        join(scratch, 'kustomization.yaml'),
        `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: team-a\ncomponents:\n  - ${relative(scratch, join(RBAC_DIR, 'restart'))}\n`,
      );
      const result = await runTool(tool('kustomize'), ['build', '--load-restrictor', 'LoadRestrictionsNone', scratch]);

      expect(result.stderr).toBe('');
      const objects = parseAllDocuments(result.stdout).map((document) => document.toJS() as K8sObject);
      expect(objects.map((object) => [object.kind, object.metadata.name, object.metadata.namespace])).toEqual([
        ['Role', 'token-rotator-restart', 'team-a'],
        ['RoleBinding', 'token-rotator-restart', 'team-a'],
      ]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it("renders the revoke Role and RoleBinding as a component of their own, in the including overlay's namespace", async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'rbac-revoke-'));
    try {
      await writeFile(
        join(scratch, 'kustomization.yaml'),
        `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: team-a\ncomponents:\n  - ${relative(scratch, join(RBAC_DIR, 'revoke'))}\n`,
      );
      const result = await runTool(tool('kustomize'), ['build', '--load-restrictor', 'LoadRestrictionsNone', scratch]);

      expect(result.stderr).toBe('');
      const objects = parseAllDocuments(result.stdout).map((document) => document.toJS() as K8sObject);
      expect(objects.map((object) => [object.kind, object.metadata.name, object.metadata.namespace])).toEqual([
        ['Role', 'token-rotator-revoke', 'team-a'],
        ['RoleBinding', 'token-rotator-revoke', 'team-a'],
      ]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it("lets `revoke` delete only the named providers' public and state Secrets: no heartbeat, no other verb", async () => {
    const role = (await objectsOf('revoke/revoke-role.yaml')).find((object) => object.kind === 'Role')!;

    expect(role.rules).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['token-rotator-tokens-klikoo', 'token-rotator-state-klikoo'],
        verbs: ['delete'],
      },
    ]);
  });

  it("never lets the rotator's own Role, nor the restart Role, delete anything", async () => {
    for (const file of ['rotator-role.yaml', 'restart/restart-role.yaml']) {
      const role = (await objectsOf(file)).find((object) => object.kind === 'Role')!;

      for (const rule of role.rules!) expect(rule.verbs, file).not.toContain('delete');
    }
  });

  it('lets the rotator create Secrets, get and update only those it names, and nothing else', async () => {
    const role = (await objectsOf('rotator-role.yaml')).find((object) => object.kind === 'Role')!;

    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['token-rotator-runner-heartbeat', 'token-rotator-tokens-klikoo', 'token-rotator-state-klikoo'],
        verbs: ['get', 'update'],
      },
    ]);
  });

  it('lets a consumer get named public Secrets only: no state Secret, no list', async () => {
    const role = (await objectsOf('consumer-role.yaml')).find((object) => object.kind === 'Role')!;

    for (const rule of role.rules!) {
      expect(rule.verbs).toEqual(['get']);
      expect(rule.resources).toEqual(['secrets']);
      expect(rule.resourceNames?.length).toBeGreaterThan(0);
      for (const name of rule.resourceNames!) expect(name).toMatch(/^token-rotator-tokens-[a-z0-9-]+$/);
    }
  });
});
