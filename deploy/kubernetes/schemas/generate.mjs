#!/usr/bin/env node
/**
 * Writes the strict JSON schemas kubeconform validates our manifests against, one file
 * per kind we deploy, into `v<K8S_VERSION>-standalone-strict/` beside this script (the
 * layout kubeconform expects under `-schema-location`).
 *
 * Source: `api/openapi-spec/swagger.json` of the Go module `k8s.io/kubernetes` at a pinned
 * version, fetched with `go mod download` from the Go module proxy (a registry, not a
 * GitHub download). The output is committed, so the tests need neither Go for this nor
 * the network; run this again only to move to another Kubernetes version or add a kind.
 *
 * What "strict" means here (the same rules as kubeconform's own openapi2jsonschema):
 * every object that lists its `properties` gets `additionalProperties: false`, so a
 * misspelt or misplaced field fails; `IntOrString` is a string or an integer and
 * `Quantity` a string or a number, as the API server accepts them; `apiVersion` and
 * `kind` are pinned. Descriptions are dropped to keep the files small.
 *
 * @example
 *   node deploy/kubernetes/schemas/generate.mjs          # then commit the changed files
 * @see https://github.com/yannh/kubeconform#overriding-schemas-location
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The oldest Kubernetes the manifests support: CronJob `timeZone` is GA since 1.27. */
export const K8S_VERSION = '1.30.14';

/** The kinds the overlays render (and rbac/ holds); a kind missing here fails validation (no schema). */
const KINDS = [
  'io.k8s.api.core.v1.Namespace',
  'io.k8s.api.core.v1.ServiceAccount',
  'io.k8s.api.core.v1.ConfigMap',
  'io.k8s.api.core.v1.Service',
  'io.k8s.api.batch.v1.CronJob',
  'io.k8s.api.apps.v1.Deployment',
  'io.k8s.api.policy.v1.PodDisruptionBudget',
  'io.k8s.api.networking.v1.NetworkPolicy',
  'io.k8s.api.rbac.v1.Role',
  'io.k8s.api.rbac.v1.RoleBinding',
];

const SPECIAL = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { oneOf: [{ type: 'string' }, { type: 'integer' }] },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
};

const here = dirname(fileURLToPath(import.meta.url));

/** Finds `swagger.json` in the module cache, downloading the module if needed. */
function swaggerPath() {
  const go = process.env.GO ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go');
  const out = execFileSync(go, ['mod', 'download', '-json', `k8s.io/kubernetes@v${K8S_VERSION}`], {
    encoding: 'utf8',
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' },
  });
  const { Dir, Error: error } = JSON.parse(out);
  if (error) throw new Error(error);
  return join(Dir, 'api/openapi-spec/swagger.json');
}

const refName = (ref) => ref.replace('#/definitions/', '');

/** A copy of `node` made strict, without descriptions, with references collected. */
function convert(node, refs) {
  if (Array.isArray(node)) return node.map((item) => convert(item, refs));
  if (node === null || typeof node !== 'object') return node;
  if (typeof node.$ref === 'string') {
    const name = refName(node.$ref);
    if (SPECIAL[name]) return structuredClone(SPECIAL[name]);
    refs.add(name);
    return { $ref: node.$ref };
  }
  if (node['x-kubernetes-int-or-string'] === true) return structuredClone(SPECIAL['io.k8s.apimachinery.pkg.util.intstr.IntOrString']);
  const out = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' || key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, convert(schema, refs)]));
    } else {
      out[key] = convert(value, refs);
    }
  }
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** One standalone schema: the kind at the root, everything it reaches in `definitions`. */
function standalone(definitions, name) {
  const refs = new Set();
  const root = convert(definitions[name], refs);
  const reached = {};
  const queue = [...refs];
  while (queue.length > 0) {
    const next = queue.shift();
    if (reached[next] !== undefined) continue;
    const found = new Set();
    reached[next] = convert(definitions[next], found);
    queue.push(...[...found].filter((ref) => reached[ref] === undefined));
  }
  const [gvk] = definitions[name]['x-kubernetes-group-version-kind'];
  const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
  root.properties.apiVersion = { type: 'string', enum: [apiVersion] };
  root.properties.kind = { type: 'string', enum: [gvk.kind] };
  root.required = [...new Set(['apiVersion', 'kind', ...(root.required ?? [])])];
  const file = `${gvk.kind.toLowerCase()}-${gvk.group === '' ? '' : `${gvk.group.split('.')[0]}-`}${gvk.version}.json`;
  const schema = {
    $comment: `Generated by generate.mjs from k8s.io/kubernetes@v${K8S_VERSION} api/openapi-spec/swagger.json (${name}); do not edit.`,
    ...root,
    definitions: Object.fromEntries(Object.keys(reached).sort().map((key) => [key, reached[key]])),
  };
  return { file, schema };
}

function main() {
  const { definitions } = JSON.parse(readFileSync(swaggerPath(), 'utf8'));
  const target = join(here, `v${K8S_VERSION}-standalone-strict`);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  for (const name of KINDS) {
    if (definitions[name] === undefined) throw new Error(`${name} is not in the Kubernetes ${K8S_VERSION} OpenAPI spec`);
    const { file, schema } = standalone(definitions, name);
    writeFileSync(join(target, file), `${JSON.stringify(schema, null, 1)}\n`);
    process.stdout.write(`${file}\n`);
  }
}

main();
