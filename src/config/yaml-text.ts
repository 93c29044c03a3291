/**
 * Config text outside the plain subset `plain-yaml.ts` reads: parsed by the `yaml` package,
 * imported only for such a text (flow collections, anchors, block scalars, JSON…).
 */
import { isMap, isPair, isScalar, isSeq, parseDocument, YAMLParseError } from 'yaml';
import { ConfigError } from '../errors.js';

/**
 * Parses config text (YAML or JSON) that came from `path`.
 * @throws {ConfigError} naming the line and column of the first error, never quoting the text.
 */
export function parseYamlText(text: string, path: string): unknown {
  try {
    return parseWithYaml(text);
  } catch (error) {
    throw new ConfigError([{ path: '', message: `${path}: not valid YAML or JSON${whereAndWhy(error, text)}` }], {
      cause: error,
    });
  }
}

/**
 * Where a YAML parse error sits and the parser's short reason: ` at line 4, column 12:
 * Unexpected flow-map-start at node end`. The line's text is never quoted, since it may
 * hold a secret; nor is anything the parser quotes after a colon (an alias or tag name).
 */
function whereAndWhy(error: unknown, text: string): string {
  if (!(error instanceof YAMLParseError)) return '';
  const offset = Math.min(Math.max(0, error.pos[0]), text.length);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  const reason = error.message.split(/:\s/)[0]?.trim();
  return ` at line ${line}, column ${column}${reason ? `: ${reason}` : ''}`;
}

/**
 * The first key that repeats an earlier key of the same mapping, in the order the parser
 * meets keys, as the error `yaml`'s own check raises (`DUPLICATE_KEY`, at the key).
 *
 * `yaml` finds duplicates by comparing each key with every earlier key of its mapping,
 * which is quadratic: at 20,000 providers it was about 40 % of the config's parse time (issue
 * 13). A Set per mapping finds the same keys in linear time. Keys are equal as `yaml`
 * compares them: two scalars whose resolved values are `===` (so `1` and `"1"` differ,
 * `~` and `null` do not, and NaN never repeats); an alias or a collection as a key is
 * never a duplicate.
 */
function firstDuplicateKey(node: unknown): YAMLParseError | undefined {
  if (isMap(node)) {
    const seen = new Set<unknown>();
    for (const pair of node.items) {
      const inKey = firstDuplicateKey(pair.key);
      if (inKey !== undefined) return inKey;
      const key = pair.key;
      if (isScalar(key) && !Number.isNaN(key.value)) {
        if (seen.has(key.value)) {
          const offset = key.range?.[0] ?? 0;
          return new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', 'Map keys must be unique');
        }
        seen.add(key.value);
      }
      const inValue = firstDuplicateKey(pair.value);
      if (inValue !== undefined) return inValue;
    }
  } else if (isSeq(node)) {
    for (const item of node.items) {
      const inItem = firstDuplicateKey(item);
      if (inItem !== undefined) return inItem;
    }
  } else if (isPair(node)) {
    return firstDuplicateKey(node.key) ?? firstDuplicateKey(node.value);
  }
  return undefined;
}

/**
 * Parses YAML (or JSON) as `yaml`'s `parse` does, warnings and first error included, but
 * with duplicate keys found by {@link firstDuplicateKey} rather than `yaml`'s quadratic check.
 * @throws {YAMLParseError} the error that comes first in the text.
 */
function parseWithYaml(text: string): unknown {
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: false });
  for (const warning of document.warnings) process.emitWarning(warning);
  const duplicate = firstDuplicateKey(document.contents);
  const [error] = document.errors;
  if (duplicate !== undefined && (error === undefined || duplicate.pos[0] <= error.pos[0])) throw duplicate;
  if (error !== undefined) throw error;
  return document.toJS();
}
