// Architecture rules for src/ (issue 9, "one room per concept"), checked in `npm test` by test/lint/lint.test.ts.
// The layout they describe is in ARCHITECTURE.md: data flows one way, from the runtimes at the top down to
// src/common/ at the bottom; each backend (a provider kind, a store kind) is a folder that no other backend reads.
// Paths are relative to the directory depcruise runs in, so the same rules also run over
// test/fixtures/architecture/, where each one is broken on purpose.

/** The top of the graph: entry points that may import anything below them, and that nothing below imports. */
const TOP = '^src/(runtimes/|sandbox/|rotator[.]ts$|index[.]ts$|reader[.]ts$)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Data flows one way: a cycle means two modules are one concept, or one of them is in the wrong room.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      severity: 'error',
      comment: 'A module nothing imports is dead code, or an entry point that belongs in the list below.',
      from: {
        orphan: true,
        pathNot: ['[.]d[.]ts$', '^src/runtimes/bin[.]ts$', '^src/index[.]ts$', '^src/runtimes/lambda[.]ts$'],
      },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve (a missing file, a wrong .js suffix) breaks the build or the bundle.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
    {
      name: 'not-to-dev-dep',
      severity: 'error',
      comment:
        'Production code ships without devDependencies: move the package to dependencies or keep it out of src/. ' +
        'Type-only imports (erased at build time, e.g. aws-lambda types) are fine.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'common-is-a-leaf',
      severity: 'error',
      comment:
        'src/common/ holds leaf helpers (field builders, URL checks, schedule math): it imports only itself and errors.ts.',
      from: { path: '^src/common/' },
      to: { path: '^src/', pathNot: '^src/(common/|errors[.]ts$)' },
    },
    {
      name: 'nothing-imports-the-top',
      severity: 'error',
      comment:
        'runtimes/, sandbox/, rotator.ts, index.ts and reader.ts assemble the rest; nothing below may depend on them.',
      from: { path: '^src/', pathNot: TOP },
      to: { path: TOP },
    },
    {
      name: 'config-not-to-engine-or-runtimes',
      severity: 'error',
      comment: 'config/ parses and composes the schema; it knows nothing of the engine nor of the doors that run it.',
      from: { path: '^src/config/' },
      to: { path: ['^src/engine/', TOP] },
    },
    {
      name: 'config-not-to-backends',
      severity: 'error',
      comment:
        'config/ composes the registries (stores/registry.ts, providers/registry.ts and the contracts); ' +
        'it imports no backend folder (stores/<kind>/, providers/<kind>/, providers/shared/).',
      from: { path: '^src/config/' },
      to: { path: '^src/(stores|providers)/[^/]+/' },
    },
    {
      name: 'providers-not-to-config-stores-engine',
      severity: 'error',
      comment:
        'Providers know nothing of stores, of the engine, nor of config internals: each kind owns its own schema.',
      from: { path: '^src/providers/' },
      to: { path: '^src/(config|stores|engine)/' },
    },
    {
      name: 'provider-kinds-independent',
      severity: 'error',
      comment: 'A provider kind folder imports no other kind folder: what two kinds share lives in providers/shared/.',
      from: { path: '^src/providers/([^/]+)/' },
      to: { path: '^src/providers/[^/]+/', pathNot: '^src/providers/($1|shared)/' },
    },
    {
      name: 'stores-not-to-config-engine-providers',
      severity: 'error',
      comment: 'Stores know nothing of tokens, of the engine nor of config internals: each kind owns its own schema.',
      from: { path: '^src/stores/' },
      to: { path: '^src/(config|engine|providers)/' },
    },
    {
      name: 'store-kinds-independent',
      severity: 'error',
      comment: 'A store kind folder imports no other kind folder (stores/shared/ is the place for what they share).',
      from: { path: '^src/stores/([^/]+)/' },
      to: { path: '^src/stores/[^/]+/', pathNot: '^src/stores/($1|shared)/' },
    },
    {
      name: 'engine-only-contracts',
      severity: 'error',
      comment: 'The engine talks to providers and stores through their contracts only, never a backend nor a registry.',
      from: { path: '^src/engine/' },
      to: { path: '^src/(stores|providers)/', pathNot: '^src/(stores|providers)/contract[.]ts$' },
    },
    {
      name: 'engine-config-types-only',
      severity: 'error',
      comment: 'The engine is handed a parsed config: it may name config types, never run config code.',
      from: { path: '^src/engine/' },
      to: { path: '^src/config/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'observability-not-to-stores',
      severity: 'error',
      comment: 'Logging and metrics are used by everyone and so may not depend on a store (nor on a runtime).',
      from: { path: '^src/observability/' },
      to: { path: '^src/(stores|runtimes)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies too (cycles, layering); rules that allow them say so.
    tsPreCompilationDeps: true,
    // NodeNext: sources import './x.js' for './x.ts'; the tsconfig makes the resolver follow that.
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: { text: { highlightFocused: true } },
  },
};
