/**
 * Every example in the docs is checked (issue 12): each fenced block of `README.md` and
 * of every `docs/**\/*.md` is extracted and checked by its language, one test per block
 * (per document for multi-document YAML), named by file, line and heading, so a broken
 * example points at itself.
 *
 * - `yaml` and `json` blocks whose document has `providers:` or `store:` at the top are
 *   configs. They go through the project's own loader, `parseConfig` from
 *   `src/config/load.ts`, and must load without a ConfigError; then `resolve()` reads the
 *   `${store:…}` references the loader defers, against a lookup that answers every key,
 *   and the resolved config must validate too. What the test supplies:
 *   - `${env:NAME}`: an env holding every variable the document names, with a value of
 *     the shape its field needs where it has one (`KLIKOO_CLIENT_ID` is a UUID v4).
 *   - `${file:/path}`: the loader reads these files at load, and the docs name paths of a
 *     production host (`/run/secrets/…`). The test creates each file under a temp
 *     directory and rewrites the reference to it: a `.pem` file gets a freshly generated
 *     PKCS#8 RSA key (Klikoo's `private_key` must be one), any other file a plain value.
 *   - `${store:PATH#KEY}`: every key resolves to a 32-character value (Klikoo's
 *     `client_secret` length), since the docs put Klikoo's secret in the store.
 *   - A fragment (a lone `store:` section, as the README shows each store kind) is
 *     completed with one minimal `oauth2` provider, `docs-test`, added by this test, since
 *     a config needs at least one provider.
 * - Other `yaml` blocks (Kubernetes manifests, serverless) must parse as YAML, every
 *   document, without errors or warnings; other `json` blocks must parse as JSON.
 * - `ts` blocks are type-checked against the package's public exports: each is written to
 *   a temp directory whose tsconfig extends the project's (the same strict options) and
 *   maps `token-rotator` to `src/index.ts`; one `tsc --noEmit` run checks them all, and
 *   each block's test fails with the errors at its own lines.
 * - `sh`, `text` and bare fences are not code to check: shell sessions, command output,
 *   HTTP exchanges and file trees. A block in any other language fails here until it gets
 *   a checker or one of these fences, so nothing is left unchecked by accident.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parseDocument, type YAMLError } from 'yaml';
import { REFERENCE_PATTERN } from '../../src/common/reference-syntax.js';
import { parseConfig } from '../../src/config/load.js';
import { blockName, type CodeBlock, documentationBlocks, ROOT } from './markdown.js';

const CONFIG_LANGS = new Set(['yaml', 'yml', 'json']);
const TYPESCRIPT_LANGS = new Set(['ts', 'typescript']);
/** Not code to check: see the header. */
const UNCHECKED_LANGS = new Set(['sh', 'text', '']);

/** Values for variables whose field checks their shape; any other variable gets {@link PLAIN_VALUE}. */
const ENV_VALUES: Readonly<Record<string, string>> = { KLIKOO_CLIENT_ID: randomUUID() };
const PLAIN_VALUE = 'docs-example-value';
/** What every `${store:PATH#KEY}` resolves to: 32 characters, Klikoo's client secret length. */
const STORE_VALUE = '0123456789abcdef0123456789abcdef';

/** The provider this test adds to a lone `store:` section (see the header). */
const DOCS_TEST_PROVIDER = {
  kind: 'oauth2',
  token_url: 'https://auth.example.com/oauth/token',
  client_id: 'docs-test',
  client_secret: '${env:DOCS_TEST_SECRET}',
} as const;

const scratch = mkdtempSync(join(tmpdir(), 'token-rotator-docs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let pem: string | undefined;
/** A PKCS#8 PEM key, made once and only if a document references a `.pem` file. */
function pkcs8Pem(): string {
  pem ??= generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  return pem;
}

/** The document's references with every `${file:/path}` pointed at a file made under the scratch directory. */
function withScratchFiles(text: string): string {
  return text.replace(REFERENCE_PATTERN, (match, kind: string | undefined, target: string | undefined) => {
    if (kind !== 'file' || target === undefined) return match;
    const path = join(scratch, 'files', target);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, target.endsWith('.pem') ? pkcs8Pem() : `${PLAIN_VALUE}\n`);
    return `\${file:${path}}`;
  });
}

/** An env with every variable the text references. */
function envFor(text: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { DOCS_TEST_SECRET: PLAIN_VALUE };
  for (const match of text.matchAll(REFERENCE_PATTERN)) {
    if (match[1] === 'env' && match[2] !== undefined) env[match[2]] = ENV_VALUES[match[2]] ?? PLAIN_VALUE;
  }
  return env;
}

/** One YAML document of a block and the Markdown line it starts on. */
interface YamlDocument {
  readonly line: number;
  readonly text: string;
}

/** Splits a block at its `---` lines, keeping each document's line in the Markdown file. */
function yamlDocuments(block: CodeBlock): YamlDocument[] {
  const documents: YamlDocument[] = [];
  let start = 0;
  let lines: string[] = [];
  const flush = () => {
    if (lines.some((line) => line.trim() !== '' && !line.trimStart().startsWith('#')))
      documents.push({ line: block.line + start, text: `${lines.join('\n')}\n` });
  };
  block.text
    .replace(/\n$/, '')
    .split('\n')
    .forEach((line, index) => {
      if (/^---\s*(#.*)?$/.test(line)) {
        flush();
        start = index + 1;
        lines = [];
      } else lines.push(line);
    });
  flush();
  return documents;
}

/** YAML errors and warnings, each at its line in the Markdown file when `where` is given. */
function yamlProblems(
  problems: readonly YAMLError[],
  where?: { readonly file: string; readonly line: number },
): string[] {
  return problems.map((problem) => {
    const [position] = problem.linePos ?? [];
    const message = problem.message.split('\n')[0] ?? problem.message;
    return where === undefined || position === undefined
      ? message
      : `${where.file}:${where.line + position.line - 1}:${position.col} ${message}`;
  });
}

/**
 * The document's top-level mapping when it is a config (has `providers:` or `store:`),
 * else undefined; throws when it is not valid YAML, naming the Markdown line.
 */
function configOf(
  text: string,
  where?: { readonly file: string; readonly line: number },
): Record<string, unknown> | undefined {
  const document = parseDocument(text);
  if (document.errors.length > 0)
    throw new Error(`not valid YAML:\n${yamlProblems(document.errors, where).join('\n')}`);
  const value: unknown = document.toJS();
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  // A command's JSON output (`status --json`, `validate --json`) has a numeric `schema`, which no config may have.
  if ('schema' in value && typeof value.schema === 'number') return undefined;
  return 'providers' in value || 'store' in value ? (value as Record<string, unknown>) : undefined;
}

/** Loads a config document as token-rotator does, resolving every reference; throws the ConfigError if any. */
async function checkConfig(name: string, text: string, config: Record<string, unknown>): Promise<void> {
  const withFiles = withScratchFiles(text);
  const source =
    'providers' in config
      ? withFiles
      : JSON.stringify({ ...configOf(withFiles), providers: { 'docs-test': DOCS_TEST_PROVIDER } });
  const loaded = await parseConfig(source, name, envFor(text));
  await loaded.resolve(async () => STORE_VALUE);
}

const blocks = documentationBlocks();

describe('the docs examples', () => {
  it('are found in README.md and docs/', () => {
    expect(blocks.filter((block) => block.file === 'README.md').length).toBeGreaterThan(5);
    expect(blocks.some((block) => block.file.startsWith('docs/'))).toBe(true);
  });

  it('are each in a language that is checked, or in an sh, text or bare fence', () => {
    const unknown = blocks
      .filter(
        (block) =>
          !CONFIG_LANGS.has(block.lang) && !TYPESCRIPT_LANGS.has(block.lang) && !UNCHECKED_LANGS.has(block.lang),
      )
      .map((block) => `${blockName(block)}: \`\`\`${block.lang}`);
    expect(unknown).toEqual([]);
  });
});

describe('every YAML and JSON example', () => {
  const documents = blocks
    .filter((block) => CONFIG_LANGS.has(block.lang))
    .flatMap((block) =>
      block.lang === 'json'
        ? [{ block, line: block.line, text: block.text }]
        : yamlDocuments(block).map((document) => ({ block, ...document })),
    );

  it.each(documents.map((document) => [blockName(document.block, document.line), document] as const))(
    '%s parses, and as a config loads and validates',
    async (name, { block, line, text }) => {
      if (block.lang === 'json') JSON.parse(text);
      const where = { file: block.file, line };
      const config = configOf(text, where);
      if (config !== undefined) {
        await checkConfig(name, text, config);
      } else if (block.lang !== 'json') {
        const parsed = parseAllDocuments(text);
        const all = Array.isArray(parsed) ? parsed : [parsed];
        expect(all.flatMap((document) => yamlProblems([...document.errors, ...document.warnings], where))).toEqual([]);
      }
    },
  );
});

/** One `tsc` diagnostic, its line already mapped to the Markdown file. */
interface Diagnostic {
  readonly block: CodeBlock | undefined;
  readonly message: string;
}

describe('every TypeScript example type-checks against the public exports', () => {
  const examples = blocks
    .filter((block) => TYPESCRIPT_LANGS.has(block.lang))
    .map((block) => ({ block, file: `${block.file.replace(/[^A-Za-z0-9]+/g, '-')}-${block.line}.ts` }));
  let diagnostics: Diagnostic[] = [];

  beforeAll(async () => {
    const directory = join(scratch, 'typescript');
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, 'package.json'), JSON.stringify({ type: 'module' }));
    for (const { block, file } of examples) writeFileSync(join(directory, file), block.text);
    writeFileSync(
      join(directory, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          noEmit: true,
          rootDir: '/',
          moduleDetection: 'force',
          typeRoots: [join(ROOT, 'node_modules', '@types')],
          paths: { 'token-rotator': [join(ROOT, 'src', 'index.ts')] },
        },
        include: [],
        files: examples.map(({ file }) => file),
      }),
    );
    let output: string;
    try {
      const result = await promisify(execFile)(join(ROOT, 'node_modules', '.bin', 'tsc'), ['--pretty', 'false'], {
        cwd: directory,
      });
      output = result.stdout;
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string };
      output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
      if (output.trim() === '') throw error;
    }
    diagnostics = parseDiagnostics(output, examples);
  }, 180_000);

  it.each(examples.map(({ block }) => [blockName(block), block] as const))('%s', (_name, block) => {
    expect(diagnostics.filter((diagnostic) => diagnostic.block === block).map((d) => d.message)).toEqual([]);
  });

  it('compile without errors outside the examples (the tsconfig, the public exports)', () => {
    expect(diagnostics.filter((diagnostic) => diagnostic.block === undefined).map((d) => d.message)).toEqual([]);
  });
});

/** `tsc --pretty false` output as diagnostics, each example's lines counted in its Markdown file. */
function parseDiagnostics(output: string, examples: readonly { block: CodeBlock; file: string }[]): Diagnostic[] {
  const diagnostics: { block: CodeBlock | undefined; message: string }[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const located = /^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+): (.*)$/.exec(line);
    if (located === null) {
      const last = diagnostics.at(-1);
      if (last !== undefined && /^\s/.test(line)) last.message += `\n${line}`;
      else diagnostics.push({ block: undefined, message: line });
      continue;
    }
    const [, file, row, column, , code, text] = located;
    const example = examples.find((candidate) => candidate.file === file);
    const where =
      example === undefined
        ? `${file}:${row}:${column}`
        : `${example.block.file}:${example.block.line + Number(row) - 1}:${column}`;
    diagnostics.push({ block: example?.block, message: `${where} ${code} ${text}` });
  }
  return diagnostics;
}
