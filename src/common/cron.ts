/**
 * The cron expressions node-cron 4 schedules, parsed and walked without node-cron: the
 * facts about a schedule (its longest gap, its runs a day) come from here, and so do the
 * daemon's passes (`runOnSchedule` in `runtimes/daemon.ts`: the next run and one timer,
 * where node-cron's scheduler kept waking the process). node-cron itself is only a test
 * dependency now, the reference this port is checked against.
 *
 * This is a port of node-cron 4.6's expression conversion, validation and next-match walk
 * (`convertExpression`, `validateDetailed`, `TimeMatcher`, `MatcherWalker`; ISC licence,
 * https://github.com/node-cron/node-cron), kept to the same semantics on purpose: five or
 * six fields (seconds first, optional), month and weekday names, `*`, `?`, lists, ranges
 * (wrapping ones too), steps, the `@daily`-style nicknames, `L`, `L-n`, `nW`, `LW`, `nL`
 * and `n#k`; day of month and day of week must both match; times are wall-clock times in
 * the IANA `timezone` (default: the process's), a time a DST change skips is not run.
 * `test/unit/cron.test.ts` checks it against node-cron run by run.
 */

type Token = number | string;
type Fields = [Token[], Token[], Token[], Token[], Token[], Token[]];

const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};
const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const SHORT_MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const SHORT_WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const BOUNDS = [
  { min: 0, max: 59, label: 'second' },
  { min: 0, max: 59, label: 'minute' },
  { min: 0, max: 23, label: 'hour' },
  { min: 1, max: 31, label: 'day of month' },
  { min: 1, max: 12, label: 'month' },
  { min: 0, max: 6, label: 'week day' },
] as const;
const ASTERISK_RANGES = ['0-59', '0-59', '0-23', '1-31', '1-12', '0-6'];
const ALLOWED_CHARS = /^[a-zA-Z0-9-*/,#? ]+$/;
const PLAIN = /^(?:\d+|\*|\*\/\d+)$/;
const RANGE = /^(\d+)-(\d+)(?:\/(\d+))?$/;
const DAY_W = /^(\d{1,2}|L)W$/;
const DAY_W_ANY_CASE = /^(\d{1,2}|L)W$/i;
const LAST_OFFSET = /^L-(\d{1,2})$/;
const LAST_OFFSET_ANY_CASE = /^L-(\d{1,2})$/i;
const LAST_WEEKDAY = /^([0-7])L$/i;
const NTH_WEEKDAY = /^([0-7])#([1-5])$/;
const MAX_DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** How far ahead a next run is looked for before giving up, in days. */
const MAX_DAYS = 366 * 100;

const resolveNickname = (expression: string) => NICKNAMES[expression.trim().toLowerCase()] ?? expression;
const splitFields = (text: string) =>
  text
    .replace(/\s{2,}/g, ' ')
    .trim()
    .split(' ');

function replaceNames(field: string, names: readonly string[], first: number): string {
  let out = field;
  names.forEach((name, i) => {
    out = out.replace(new RegExp(name, 'gi'), String(i + first));
  });
  return out;
}

function expandRange(first: number, last: number, step: number, bounds: { min: number; max: number }): string {
  const numbers: number[] = [];
  if (first <= last) {
    for (let i = first; i <= last; i += step) numbers.push(i);
    return numbers.join();
  }
  const size = bounds.max - bounds.min + 1;
  const span = (((last - first) % size) + size) % size;
  for (let offset = 0; offset <= span; offset += step) {
    const value = first + offset;
    numbers.push(value > bounds.max ? value - size : value);
  }
  return numbers.join();
}

function normalize(field: string): Token[] {
  return field.split(',').map((raw): Token => {
    const token = raw.trim();
    if (/^l$/i.test(token)) return 'L';
    if (/^l-\d{1,2}$/i.test(token) || /^[0-7]l$/i.test(token) || /w/i.test(token)) return token.toUpperCase();
    if (token.includes('#')) return token;
    if (/^\d+$/.test(token)) return Number.parseInt(token, 10);
    return token;
  });
}

/** node-cron's `convertExpression`: six lists of numbers and special tokens. */
function convert(expression: string): Fields {
  let fields = splitFields(resolveNickname(expression));
  if (fields.length === 5) fields = ['0', ...fields];
  if (fields[3] === '?') fields[3] = '*';
  if (fields[5] === '?') fields[5] = '*';
  fields[4] = replaceNames(replaceNames(fields[4] ?? '', MONTHS, 1), SHORT_MONTHS, 1);
  fields[5] = replaceNames(replaceNames(fields[5] ?? '', WEEKDAYS, 0), SHORT_WEEKDAYS, 0);
  const lists = fields.map((field, i) => {
    const bounds = BOUNDS[i] ?? BOUNDS[0];
    const withRanges = field
      .split(',')
      .map((token) => (token.includes('*') ? token.replace('*', ASTERISK_RANGES[i] ?? '') : token))
      .join(',')
      .split(',')
      .map((token) => {
        const match = RANGE.exec(token.trim());
        if (!match) return token;
        const step = Number.parseInt(match[3] ?? '1', 10);
        if (!(step >= 1)) return `${match[1]}-${match[2]}/${match[3]}`;
        return expandRange(Number.parseInt(match[1] ?? '', 10), Number.parseInt(match[2] ?? '', 10), step, bounds);
      })
      .join();
    return normalize(withRanges);
  });
  const weekdays = (lists[5] ?? []).map((day): Token => {
    if (day === 7) return 0;
    if (typeof day === 'string' && day.startsWith('7')) return `0${day.slice(1)}`;
    return day;
  });
  lists[5] = [...new Set(weekdays)];
  return lists as Fields;
}

function inRange(tokens: readonly Token[], min: number, max: number): boolean {
  return tokens.every((token) => {
    const value = Number.parseInt(String(token), 10);
    return !((!Number.isNaN(value) && (value < min || value > max)) || !PLAIN.test(String(token)));
  });
}

function invalid(field: number, tokens: readonly Token[], raw: string): boolean {
  if (field === 3) {
    if (/w/i.test(raw) && raw.split(',').some((t) => /w/i.test(t.trim()) && !DAY_W_ANY_CASE.test(t.trim())))
      return true;
    const days = tokens.filter((value) => {
      if (value === 'L') return false;
      const weekday = DAY_W_ANY_CASE.exec(String(value));
      if (weekday) return weekday[1] === 'L' ? false : Number(weekday[1]) < 1 || Number(weekday[1]) > 31;
      const offset = LAST_OFFSET_ANY_CASE.exec(String(value));
      if (offset) return Number(offset[1]) < 1 || Number(offset[1]) > 30;
      return true;
    });
    return !inRange(days, 1, 31);
  }
  if (field === 5) {
    const days = tokens.filter((value) => !NTH_WEEKDAY.test(String(value)) && !/^[0-7]L$/.test(String(value)));
    return !inRange(days, 0, 7);
  }
  const bounds = BOUNDS[field] ?? BOUNDS[0];
  return !inRange(tokens, bounds.min, bounds.max);
}

/**
 * A parsed cron expression: {@link CronSchedule.nextRun} walks its runs.
 * @example new CronSchedule('0 9-17 * * mon-fri', 'Europe/Rome').nextRun(new Date())
 */
export class CronSchedule {
  readonly #fields: Fields;
  readonly #seconds: readonly number[];
  readonly #minutes: readonly number[];
  readonly #hours: readonly number[];
  readonly #clock: WallClock;

  /**
   * @throws {Error} with node-cron's message when `expression` is not valid.
   * @throws {RangeError} when `timezone` is not an IANA time zone.
   */
  constructor(expression: string, timezone?: string) {
    const resolved = resolveNickname(expression);
    if (!ALLOWED_CHARS.test(resolved)) throw new Error('pattern includes illegal characters');
    const raw = splitFields(resolved);
    if (raw.length !== 5 && raw.length !== 6) throw new Error(`expected 5 or 6 fields but got ${raw.length}`);
    const patterns = raw.length === 5 ? ['0', ...raw] : raw;
    const fields = convert(expression);
    fields.forEach((tokens, i) => {
      const bounds = BOUNDS[i] ?? BOUNDS[0];
      if (invalid(i, tokens, patterns[i] ?? ''))
        throw new Error(`${patterns[i]} is a invalid expression for ${bounds.label}`);
    });
    const [, , , days, months] = fields;
    if (
      days.every((day) => typeof day === 'number') &&
      !months.some((month) => days.some((day) => (day as number) <= (MAX_DAYS_IN_MONTH[month as number] ?? 0)))
    )
      throw new Error(`${patterns[3]} ${patterns[4]} is an impossible day of month for the given month`);
    this.#fields = fields;
    const sorted = (tokens: readonly Token[]) => (tokens as number[]).slice().sort((a, b) => a - b);
    this.#seconds = sorted(fields[0]);
    this.#minutes = sorted(fields[1]);
    this.#hours = sorted(fields[2]);
    this.#clock = new WallClock(timezone);
  }

  /** Whether the schedule runs at `date`'s second. */
  matches(date: Date): boolean {
    const p = this.#clock.parts(date.getTime());
    const [seconds, minutes, hours, days, months] = this.#fields;
    return (
      seconds.includes(p.second) &&
      minutes.includes(p.minute) &&
      hours.includes(p.hour) &&
      matchesDayOfMonth(days, p.year, p.month, p.day) &&
      months.includes(p.month) &&
      this.#matchesWeekday(p.year, p.month, p.day)
    );
  }

  /**
   * The first run strictly after `after`'s whole second.
   * @throws {Error} when none comes within a hundred years.
   */
  nextRun(after: Date): Date {
    const baseMs = Math.floor(after.getTime() / 1000) * 1000;
    const base = this.#clock.parts(baseMs);
    let { year, month, day } = base;
    const [, , , days, months] = this.#fields;
    for (let i = 0; i < MAX_DAYS; i++) {
      if (
        months.includes(month) &&
        matchesDayOfMonth(days, year, month, day) &&
        this.#matchesWeekday(year, month, day)
      ) {
        const found = this.#firstTimeOnDay(year, month, day, i === 0 ? base : undefined, baseMs);
        if (found !== undefined) return new Date(found);
      }
      const next = new Date(Date.UTC(year, month - 1, day + 1));
      ({ year, month, day } = { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() });
    }
    throw new Error('Could not find next matching date within reasonable time range');
  }

  /** The next `count` runs after `after`, each after the one before. */
  nextRuns(count: number, after: Date): Date[] {
    const runs: Date[] = [];
    let from = after;
    for (let i = 0; i < count; i++) {
      from = this.nextRun(from);
      runs.push(from);
    }
    return runs;
  }

  #firstTimeOnDay(year: number, month: number, day: number, lower: Parts | undefined, baseMs: number) {
    // Times up to `lower` (the hour, then the minute, then the second) are skipped.
    for (const hour of this.#hours) {
      if (lower && hour < lower.hour) continue;
      const inLowerHour = lower !== undefined && hour === lower.hour;
      for (const minute of this.#minutes) {
        if (inLowerHour && minute < lower.minute) continue;
        const inLowerMinute = inLowerHour && minute === lower.minute;
        for (const second of this.#seconds) {
          if (inLowerMinute && second <= lower.second) continue;
          const ts = this.#clock.timestamp({ year, month, day, hour, minute, second });
          if (ts > baseMs && this.matches(new Date(ts))) return ts;
        }
      }
    }
    return undefined;
  }

  #matchesWeekday(year: number, month: number, day: number): boolean {
    const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
    for (const value of this.#fields[5]) {
      if (value === weekday) return true;
      if (typeof value !== 'string') continue;
      const nth = NTH_WEEKDAY.exec(value);
      if (nth) {
        if (weekday === Number(nth[1]) % 7 && Math.floor((day - 1) / 7) + 1 === Number(nth[2])) return true;
        continue;
      }
      const last = LAST_WEEKDAY.exec(value);
      if (
        last &&
        Number(last[1]) % 7 === weekday &&
        new Date(Date.UTC(year, month - 1, day + 7)).getUTCMonth() + 1 !== month
      )
        return true;
    }
    return false;
  }
}

const lastDayOfMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

function nearestWeekday(year: number, month: number, target: number): number {
  const last = lastDayOfMonth(year, month);
  if (target < 1 || target > last) return -1;
  const weekday = new Date(Date.UTC(year, month - 1, target)).getUTCDay();
  if (weekday === 6) return target === 1 ? target + 2 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

function matchesDayOfMonth(field: readonly Token[], year: number, month: number, day: number): boolean {
  for (const value of field) {
    if (value === day) return true;
    if (value === 'L' && day === lastDayOfMonth(year, month)) return true;
    if (typeof value !== 'string') continue;
    const weekday = DAY_W.exec(value);
    if (weekday) {
      const target = weekday[1] === 'L' ? lastDayOfMonth(year, month) : Number.parseInt(weekday[1] ?? '', 10);
      if (nearestWeekday(year, month, target) === day) return true;
    }
    const offset = LAST_OFFSET.exec(value);
    if (offset) {
      const target = lastDayOfMonth(year, month) - Number.parseInt(offset[1] ?? '', 10);
      if (target >= 1 && target === day) return true;
    }
  }
  return false;
}

interface Parts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

/**
 * Wall-clock time in one time zone, through Intl (node-cron's `LocalizedTime`), or in the
 * process's own zone when none is named, through `Date`'s local methods, which answer the
 * same from the same zone data without building an Intl format (the first costs about
 * 15 ms, a tenth of a `validate`). Intl is slow (a few microseconds a call, and a walk of
 * a thousand runs makes several per run), so the zone's offset is asked once per UTC day
 * and kept: on a day whose offset is the same at its first and last millisecond,
 * wall-clock parts are plain arithmetic; on a day the offset changes (a DST switch), every
 * call goes to Intl (or `Date`) as node-cron's would.
 */
class WallClock {
  /** The named zone's formats; `undefined` for the process's zone. */
  readonly #intl: { readonly parts: Intl.DateTimeFormat; readonly offset: Intl.DateTimeFormat } | undefined;
  /** Per UTC day (epoch day number): the offset in minutes, or `null` when it changes that day. */
  readonly #days = new Map<number, number | null>();

  constructor(timezone: string | undefined) {
    if (timezone === undefined) return;
    const zone = { timeZone: timezone };
    this.#intl = {
      parts: new Intl.DateTimeFormat('en-US', {
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hour12: false,
        ...zone,
      }),
      offset: new Intl.DateTimeFormat('en-US', { timeZoneName: 'shortOffset', ...zone }),
    };
  }

  /** The wall-clock date and time at `ms`. */
  parts(ms: number): Parts {
    const offset = this.#steadyOffset(ms);
    if (offset !== null) {
      const local = new Date(ms + offset * 60_000);
      return {
        year: local.getUTCFullYear(),
        month: local.getUTCMonth() + 1,
        day: local.getUTCDate(),
        hour: local.getUTCHours(),
        minute: local.getUTCMinutes(),
        second: local.getUTCSeconds(),
      };
    }
    if (this.#intl === undefined) {
      const local = new Date(ms);
      return {
        year: local.getFullYear(),
        month: local.getMonth() + 1,
        day: local.getDate(),
        hour: local.getHours(),
        minute: local.getMinutes(),
        second: local.getSeconds(),
      };
    }
    const p: Record<string, string> = {};
    for (const part of this.#intl.parts.formatToParts(new Date(ms)))
      if (part.type !== 'literal') p[part.type] = part.value;
    const num = (key: string) => Number.parseInt(p[key] ?? '', 10);
    return {
      year: num('year'),
      month: num('month'),
      day: num('day'),
      hour: p['hour'] === '24' ? 0 : num('hour'),
      minute: num('minute'),
      second: num('second'),
    };
  }

  /** The zone's offset from UTC at `ms`, in minutes. */
  offsetMinutes(ms: number): number {
    return this.#steadyOffset(ms) ?? this.#intlOffset(ms);
  }

  /** The offset of `ms`'s UTC day when it holds all day, else `null`. */
  #steadyOffset(ms: number): number | null {
    const day = Math.floor(ms / 86_400_000);
    let offset = this.#days.get(day);
    if (offset === undefined) {
      const first = this.#intlOffset(day * 86_400_000);
      offset = first === this.#intlOffset(day * 86_400_000 + 86_399_999) ? first : null;
      this.#days.set(day, offset);
    }
    return offset;
  }

  #intlOffset(ms: number): number {
    // `getTimezoneOffset` is the other way round: minutes to add to local time to get UTC.
    if (this.#intl === undefined) return -new Date(ms).getTimezoneOffset() || 0;
    const name = this.#intl.offset.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
    const match = /^GMT([+-])(\d{1,2})(?::(\d{2}))?$/.exec(name);
    if (!match) return 0;
    return (
      (match[1] === '+' ? 1 : -1) * (Number.parseInt(match[2] ?? '0', 10) * 60 + Number.parseInt(match[3] ?? '0', 10))
    );
  }

  /** The instant the wall-clock time `parts` names (the later one when a DST gap or overlap makes it ambiguous). */
  timestamp(parts: Parts): number {
    const guess = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second, 0);
    const firstOffset = this.offsetMinutes(guess);
    const candidate1 = guess - firstOffset * 60_000;
    const secondOffset = this.offsetMinutes(candidate1);
    if (secondOffset === firstOffset) return candidate1;
    const candidate2 = guess - secondOffset * 60_000;
    if (this.#readsBack(candidate1, parts)) return candidate1;
    if (this.#readsBack(candidate2, parts)) return candidate2;
    return Math.max(candidate1, candidate2);
  }

  #readsBack(ms: number, parts: Parts): boolean {
    const p = this.parts(ms);
    return (
      p.year === parts.year &&
      p.month === parts.month &&
      p.day === parts.day &&
      p.hour === parts.hour &&
      p.minute === parts.minute &&
      p.second === parts.second
    );
  }
}
