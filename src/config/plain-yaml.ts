/**
 * A fast path for the YAML most configs are written in: nested block mappings of simple
 * keys and one-line scalars. `yaml`'s parser builds a concrete syntax tree and a document
 * of nodes for the whole file before anything is converted: at 10,000 providers that was
 * about 80 MB held at once, the largest share of the daemon's peak memory, and most of
 * the parse's CPU (issue 13). Text within the subset below is read line by line into the
 * very value `yaml`'s `parse` returns; anything else (sequences, flow collections, anchors,
 * tags, block scalars, escapes, multi-line scalars, tabs, a duplicate key, an error) is
 * not recognised, and the caller parses it with `yaml`, which gives its own value,
 * warnings and errors.
 *
 * The subset, under YAML 1.2's core schema (`yaml`'s default):
 * - lines indented by spaces; blank lines; comments on their own line, or after `key:`
 * - `key:` followed by a more indented block mapping, or by nothing (null)
 * - `key: value`, the key of letters, digits, `_`, `.` and `-`, starting with a letter or `_`
 * - a value: `'single'` (no `'` inside) or `"double"` quoted (no `"` or `\` inside); a
 *   decimal integer of up to 15 digits; `null`, `~`, `true`, `false` (and their capitalised
 *   forms); or a plain string starting with a letter, `_`, `/` or `$`, without ` #`, `: `
 *   or a trailing `:`.
 */

/** Plain scalars the core schema resolves to something other than a string. */
const SPECIAL: ReadonlyMap<string, null | boolean> = new Map<string, null | boolean>([
  ['~', null],
  ['null', null],
  ['Null', null],
  ['NULL', null],
  ['true', true],
  ['True', true],
  ['TRUE', true],
  ['false', false],
  ['False', false],
  ['FALSE', false],
]);

/** `key:` and the rest of the line, if the line is a mapping entry of the subset. */
const ENTRY = /^([A-Za-z_][A-Za-z0-9_.-]*):(?: +(.*))?$/;
const INTEGER = /^(?:0|[1-9][0-9]{0,14})$/;
const PLAIN_START = /^[A-Za-z_/$]/;
const SINGLE_QUOTED = /^'([^']*)'$/;
const DOUBLE_QUOTED = /^"([^"\\]*)"$/;
/** Characters that would need more than this module knows: tabs, carriage returns, other controls. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: they are what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Not in the subset: parse with `yaml`. */
const OUTSIDE = Symbol('outside the subset');

/** The value of a one-line scalar of the subset, or {@link OUTSIDE}. */
function scalar(text: string): unknown {
  const single = SINGLE_QUOTED.exec(text);
  if (single !== null) return single[1];
  const double = DOUBLE_QUOTED.exec(text);
  if (double !== null) return double[1];
  if (INTEGER.test(text)) return Number(text);
  const special = SPECIAL.get(text);
  if (special !== undefined) return special;
  if (!PLAIN_START.test(text) || text.includes(' #') || text.includes(': ') || text.endsWith(':')) return OUTSIDE;
  return text;
}

/** An open mapping: its indentation and the object its entries go into. */
interface Level {
  readonly indent: number;
  readonly into: Record<string, unknown>;
}

/**
 * The value `yaml`'s `parse(text)` returns, when `text` is within the subset (see the
 * module doc); otherwise `undefined`, and the caller parses it with `yaml`.
 */
export function parsePlainYaml(text: string): Record<string, unknown> | undefined {
  const root: Record<string, unknown> = {};
  const levels: Level[] = [{ indent: 0, into: root }];
  /** A `key:` with nothing after it, waiting to see whether a nested mapping follows. */
  let pending: { readonly key: string; readonly into: Record<string, unknown>; readonly indent: number } | undefined;
  let entries = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (CONTROL.test(line)) return undefined;
    let indent = 0;
    while (line.charCodeAt(indent) === 32) indent++;
    if (indent === line.length || line.charCodeAt(indent) === 35 /* # */) continue;

    if (pending !== undefined) {
      if (indent > pending.indent) {
        const nested: Record<string, unknown> = {};
        pending.into[pending.key] = nested;
        levels.push({ indent, into: nested });
      } else {
        pending.into[pending.key] = null;
      }
      pending = undefined;
    }
    let level = levels[levels.length - 1] as Level;
    while (indent < level.indent) {
      levels.pop();
      level = levels[levels.length - 1] as Level;
    }
    if (indent !== level.indent) return undefined;

    const entry = ENTRY.exec(line.slice(indent));
    if (entry === null) return undefined;
    const key = entry[1] as string;
    if (key === '__proto__' || SPECIAL.has(key) || Object.hasOwn(level.into, key)) return undefined;
    const rest = (entry[2] ?? '').trimEnd();
    entries++;
    if (rest === '' || rest.startsWith('#')) {
      pending = { key, into: level.into, indent };
      continue;
    }
    const value = scalar(rest);
    if (value === OUTSIDE) return undefined;
    level.into[key] = value;
  }
  if (pending !== undefined) pending.into[pending.key] = null;
  return entries > 0 ? root : undefined;
}
