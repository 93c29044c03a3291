/**
 * A strict reader of the Prometheus text exposition format 0.0.4, written from the
 * specification and independent of the renderer under test: it throws on the first line
 * that breaks the format (naming the line), and returns the families it read.
 *
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details
 */

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  type?: string;
  help?: string;
  readonly samples: ParsedSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseValue(text: string, where: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!FLOAT.test(text)) throw new Error(`${where}: "${text}" is not a float`);
  return Number(text);
}

/** Reads `{a="x",b="y"}` from `text` at `start` (the `{`); returns the labels and the index after `}`. */
function parseLabels(text: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (text[i] === '}') return { labels, end: i + 1 };
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without =`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label ${name} repeated`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value of ${name} is not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${next ?? ''} in label value`);
        j += 2;
        continue;
      }
      value += c;
      j += 1;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
    else if (text[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`);
  }
}

/** The family a sample belongs to: histogram and summary samples carry suffixes. */
function familyOf(name: string, families: Map<string, ParsedFamily>): ParsedFamily | undefined {
  for (const suffix of ['_bucket', '_sum', '_count', '']) {
    if (!name.endsWith(suffix)) continue;
    const family = families.get(name.slice(0, name.length - suffix.length));
    if (family !== undefined && (suffix === '' || family.type === 'histogram' || family.type === 'summary'))
      return family;
  }
  return undefined;
}

/** Checks each series of a histogram (its samples that share every label but `le`). */
function checkHistogram(family: ParsedFamily): void {
  const series = new Map<string, ParsedSample[]>();
  for (const sample of family.samples) {
    const { le: _le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const [key, samples] of series) checkHistogramSeries(`${family.name}${key}`, family.name, samples);
}

function checkHistogramSeries(where: string, name: string, samples: readonly ParsedSample[]): void {
  const buckets = samples.filter((s) => s.name === `${name}_bucket`);
  const count = samples.find((s) => s.name === `${name}_count`);
  const sum = samples.find((s) => s.name === `${name}_sum`);
  if (count === undefined || sum === undefined) throw new Error(`${where}: histogram without _count or _sum`);
  const bounds = buckets.map((b) => parseValue(b.labels['le'] ?? 'missing', `${where} le`));
  if (bounds.at(-1) !== Infinity) throw new Error(`${where}: histogram without an le="+Inf" bucket`);
  for (let i = 1; i < buckets.length; i++) {
    if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`${where}: le not increasing`);
    if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`${where}: bucket counts not cumulative`);
  }
  if (buckets.at(-1)!.value !== count.value) throw new Error(`${where}: +Inf bucket differs from _count`);
}

/** Parses exposition text, throwing on anything the format does not allow. */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith('\n')) throw new Error('the last line must end with a line feed');
  const families = new Map<string, ParsedFamily>();
  const finished = new Set<string>();
  const seen = new Set<string>();
  let current: ParsedFamily | undefined;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, index) => {
    const where = `line ${index + 1} "${line}"`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (match === null) return; // a plain comment
      const [, keyword, name, rest] = match as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (finished.has(name)) throw new Error(`${where}: metadata after the family's samples ended`);
      const family = families.get(name) ?? { name, samples: [] };
      if (family.samples.length > 0) throw new Error(`${where}: metadata after samples of ${name}`);
      if (keyword === 'TYPE') {
        if (family.type !== undefined) throw new Error(`${where}: second TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
        family.type = rest;
      } else {
        if (family.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        if (/\\(?![\\n])/.test(rest)) throw new Error(`${where}: bad escape in HELP`);
        family.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      families.set(name, family);
      if (current !== undefined && current !== family) finished.add(current.name);
      current = family;
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (nameMatch === null) throw new Error(`${where}: no metric name`);
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const parsed = parseLabels(line, name.length, where);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    }
    const tokens = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || tokens.length < 1 || tokens.length > 2)
      throw new Error(`${where}: expected a value and an optional timestamp`);
    const value = parseValue(tokens[0]!, where);
    if (tokens[1] !== undefined && !/^-?\d+$/.test(tokens[1])) throw new Error(`${where}: bad timestamp`);
    let family = familyOf(name, families);
    if (family === undefined) {
      family = { name, samples: [] };
      families.set(name, family);
    }
    if (finished.has(family.name)) throw new Error(`${where}: samples of ${family.name} are not grouped together`);
    if (current !== undefined && current !== family) finished.add(current.name);
    current = family;
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: duplicate series`);
    seen.add(key);
    family.samples.push({ name, labels, value });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`, or undefined. */
export function sampleValue(
  families: Map<string, ParsedFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const samples = [...families.values()].flatMap((f) => f.samples).filter((s) => s.name === name);
  const matching = samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matching.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${matching.length} samples`);
  return matching[0]?.value;
}

/** The sum of every sample of `name` whose labels include `labels` (0 when none). */
export function sumOf(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  return [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}
