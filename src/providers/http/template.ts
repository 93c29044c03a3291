/**
 * The template language of the `http` provider kind: literal text with built-ins in
 * double braces, `{{name}}` or `{{name:argument}}`, computed for each call. The braces do
 * not collide with config references (`${env:NAME}`), which the config loader has already
 * replaced by their values when a template is read.
 *
 * | built-in | value |
 * |---|---|
 * | `{{now}}`, `{{now:PATTERN}}`, `{{now:PATTERN@OFFSET}}` | the call's instant, formatted (see {@link formatInstant}) |
 * | `{{uuid}}` | a random UUID v4 |
 * | `{{secret:NAME}}` | the `secrets.NAME` credential of the section |
 * | `{{signature}}` | the section's `signature`, computed over its `over` template |
 * | `{{refresh_token}}` | the refresh token being exchanged (in the `refresh` request only) |
 *
 * Every built-in is computed once per call: two `{{now:…}}` of one call format the same
 * instant and two `{{uuid}}` are the same UUID, so a timestamp in a header is byte for byte
 * the one signed.
 *
 * Errors name what is wrong in the template, never the template's text: a reference may
 * have put a credential into it.
 */

/** One piece of a parsed template. */
export type Segment =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'now'; readonly format: TimeFormat }
  | { readonly type: 'uuid' }
  | { readonly type: 'secret'; readonly name: string }
  | { readonly type: 'signature' }
  | { readonly type: 'refresh_token' };

/** A template, parsed. */
export type Template = readonly Segment[];

/** The names of the built-ins, as written between the braces. */
export const BUILT_INS = ['now', 'uuid', 'secret', 'signature', 'refresh_token'] as const;

/** One of {@link BUILT_INS}. */
export type BuiltIn = (typeof BUILT_INS)[number];

/** A template that cannot be read; the message never quotes the template. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** A parsed `now` pattern: the output pieces and the UTC offset in minutes. */
export interface TimeFormat {
  readonly pieces: readonly TimePiece[];
  readonly offsetMinutes: number;
}

type TimePiece =
  | { readonly type: 'literal'; readonly text: string }
  | { readonly type: 'field'; readonly field: TimeField };

/** The pattern letters, longest first so `yyyy` is not read as something shorter. */
const TIME_FIELDS = ['unix_ms', 'unix', 'yyyy', 'SSS', 'XXX', 'xxx', 'MM', 'dd', 'HH', 'mm', 'ss'] as const;
type TimeField = (typeof TIME_FIELDS)[number];

/** `{{now}}` with no pattern: ISO 8601 to the second, in UTC (`2026-03-21T03:11:40Z`). */
const DEFAULT_PATTERN = 'yyyy-MM-ddTHH:mm:ssXXX';
const OFFSET = /^(Z|[+-](\d{2}):(\d{2}))$/;

/**
 * Reads a `now` argument: `PATTERN` or `PATTERN@OFFSET`. Pattern letters are `yyyy`, `MM`,
 * `dd`, `HH`, `mm`, `ss`, `SSS` (milliseconds), `XXX` (the offset, `Z` when zero) and
 * `xxx` (the offset, `+00:00` when zero); `unix` and `unix_ms` are whole patterns of their
 * own. Any other letter but `T` is refused, so a typo (`YYYY`, `hh`) is an error, not
 * literal text. The offset is `Z` (the default) or `±HH:MM`.
 * @throws {TemplateError}
 */
export function parseTimeFormat(argument: string | undefined): TimeFormat {
  const at = argument?.lastIndexOf('@') ?? -1;
  const pattern = argument === undefined ? DEFAULT_PATTERN : at === -1 ? argument : argument.slice(0, at);
  const offsetText = argument === undefined || at === -1 ? 'Z' : argument.slice(at + 1);
  const offset = OFFSET.exec(offsetText);
  if (offset === null) throw new TemplateError('a {{now}} offset must be Z or ±HH:MM (as in @+07:00)');
  const hours = Number(offset[2] ?? 0);
  const minutes = Number(offset[3] ?? 0);
  if (hours > 14 || minutes > 59) throw new TemplateError('a {{now}} offset must be between -14:00 and +14:00');
  const offsetMinutes = (offsetText.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
  if (pattern === '') throw new TemplateError('a {{now}} pattern must not be empty');

  const pieces: TimePiece[] = [];
  let rest = pattern;
  while (rest !== '') {
    const field = TIME_FIELDS.find((candidate) => rest.startsWith(candidate));
    if (field !== undefined) {
      if ((field === 'unix' || field === 'unix_ms') && pattern !== field)
        throw new TemplateError(`{{now:${field}}} is a whole pattern: it cannot be combined with other letters`);
      pieces.push({ type: 'field', field });
      rest = rest.slice(field.length);
      continue;
    }
    const char = rest[0] ?? '';
    if (/[A-Za-z]/.test(char) && char !== 'T')
      throw new TemplateError(
        'a {{now}} pattern uses only yyyy MM dd HH mm ss SSS XXX xxx (or unix, unix_ms), T and punctuation',
      );
    pieces.push({ type: 'literal', text: char });
    rest = rest.slice(1);
  }
  return { pieces, offsetMinutes };
}

const pad = (value: number, width: number): string => String(value).padStart(width, '0');

function offsetText(minutes: number, zeroAsZ: boolean): string {
  if (minutes === 0 && zeroAsZ) return 'Z';
  const sign = minutes < 0 ? '-' : '+';
  const absolute = Math.abs(minutes);
  return `${sign}${pad(Math.floor(absolute / 60), 2)}:${pad(absolute % 60, 2)}`;
}

/**
 * Formats an instant as the wall time at the format's UTC offset. Milliseconds are
 * truncated, never rounded, so a second-precision timestamp never runs ahead of the clock.
 * @example formatInstant(new Date('2022-03-21T03:11:40Z'), parseTimeFormat('yyyy-MM-ddTHH:mm:ssXXX@+07:00'))
 * // '2022-03-21T10:11:40+07:00'
 */
export function formatInstant(instant: Date, format: TimeFormat): string {
  const epoch = instant.getTime();
  const local = new Date(epoch + format.offsetMinutes * 60_000);
  let out = '';
  for (const piece of format.pieces) {
    if (piece.type === 'literal') {
      out += piece.text;
      continue;
    }
    switch (piece.field) {
      case 'unix':
        out += String(Math.floor(epoch / 1000));
        break;
      case 'unix_ms':
        out += String(epoch);
        break;
      case 'yyyy':
        out += pad(local.getUTCFullYear(), 4);
        break;
      case 'MM':
        out += pad(local.getUTCMonth() + 1, 2);
        break;
      case 'dd':
        out += pad(local.getUTCDate(), 2);
        break;
      case 'HH':
        out += pad(local.getUTCHours(), 2);
        break;
      case 'mm':
        out += pad(local.getUTCMinutes(), 2);
        break;
      case 'ss':
        out += pad(local.getUTCSeconds(), 2);
        break;
      case 'SSS':
        out += pad(local.getUTCMilliseconds(), 3);
        break;
      case 'XXX':
        out += offsetText(format.offsetMinutes, true);
        break;
      case 'xxx':
        out += offsetText(format.offsetMinutes, false);
        break;
    }
  }
  return out;
}

const BUILT_IN = /\{\{([a-z_]+)(?::([^{}]*))?\}\}/g;

/** How {@link parseTemplate} words its errors. */
export interface ParseOptions {
  /**
   * Whether a message may repeat a name written between braces (`{{nonce}}`,
   * `{{secret:NAME}}`). True only for the text as written in the file: once references are
   * resolved, braces may come from a referenced value, and none of it is ever repeated.
   */
  readonly quoteNames?: boolean;
}

/**
 * Parses a template. `{{` always opens a built-in: an unknown name, a missing `}}` or an
 * argument where none is taken is an error.
 * @throws {TemplateError}
 */
export function parseTemplate(text: string, options: ParseOptions = {}): Template {
  const segments: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(BUILT_IN)) {
    const index = match.index;
    pushText(segments, text.slice(last, index));
    segments.push(builtIn(match[1] ?? '', match[2], options.quoteNames ?? false));
    last = index + match[0].length;
  }
  pushText(segments, text.slice(last));
  return segments;
}

function pushText(segments: Segment[], text: string): void {
  if (text === '') return;
  if (text.includes('{{')) throw new TemplateError('a {{ opens no built-in: write {{name}} or {{name:argument}}');
  segments.push({ type: 'text', text });
}

function builtIn(name: string, argument: string | undefined, quoteNames: boolean): Segment {
  switch (name) {
    case 'now':
      return { type: 'now', format: parseTimeFormat(argument) };
    case 'secret':
      if (argument === undefined || !/^[A-Za-z0-9_-]+$/.test(argument))
        throw new TemplateError('{{secret:NAME}} needs the name of an entry of secrets');
      return { type: 'secret', name: argument };
    case 'uuid':
    case 'signature':
    case 'refresh_token':
      if (argument !== undefined) throw new TemplateError(`{{${name}}} takes no argument`);
      return { type: name };
    default:
      throw new TemplateError(
        `unknown built-in${quoteNames ? ` {{${name.slice(0, 20)}}}` : ''}: use one of ${BUILT_INS.join(', ')}`,
      );
  }
}

/** The built-ins a template uses. */
export function builtInsOf(template: Template): ReadonlySet<BuiltIn> {
  return new Set(template.flatMap((segment) => (segment.type === 'text' ? [] : [segment.type])));
}

/** The `secrets` entries a template names. */
export function secretsOf(template: Template): string[] {
  return template.flatMap((segment) => (segment.type === 'secret' ? [segment.name] : []));
}

/** What one call's built-ins evaluate to; each is computed once per call. */
export interface CallValues {
  readonly now: Date;
  readonly uuid: string;
  readonly secrets: Readonly<Record<string, string>>;
  readonly signature?: string;
  readonly refreshToken?: string;
}

/**
 * Renders a template with one call's values.
 * @throws {TemplateError} when a value the template needs is absent (the checks at build
 *   time make that a bug, not a config problem).
 */
export function render(template: Template, values: CallValues): string {
  let out = '';
  for (const segment of template) {
    switch (segment.type) {
      case 'text':
        out += segment.text;
        break;
      case 'now':
        out += formatInstant(values.now, segment.format);
        break;
      case 'uuid':
        out += values.uuid;
        break;
      case 'secret': {
        const value = values.secrets[segment.name];
        if (value === undefined) throw new TemplateError(`{{secret:${segment.name}}} names no entry of secrets`);
        out += value;
        break;
      }
      case 'signature':
        if (values.signature === undefined) throw new TemplateError('{{signature}} is used but no signature is set');
        out += values.signature;
        break;
      case 'refresh_token':
        if (values.refreshToken === undefined)
          throw new TemplateError('{{refresh_token}} is usable in the refresh request only');
        out += values.refreshToken;
        break;
    }
  }
  return out;
}
