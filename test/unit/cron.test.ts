import { createTask } from 'node-cron';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CronSchedule } from '../../src/common/cron.js';
import { passesPerDay, scheduleGapSeconds } from '../../src/common/schedule.js';

/** node-cron's own next runs from `from` (it always starts from the clock). */
function nodeCronRuns(expression: string, timezone: string | undefined, count: number, from: Date): number[] {
  vi.useFakeTimers({ toFake: ['Date'], now: from });
  const task = createTask(expression, () => undefined, timezone === undefined ? {} : { timezone });
  try {
    return task.getNextRuns(count).map((d) => d.getTime());
  } finally {
    void task.destroy();
    vi.useRealTimers();
  }
}

function nodeCronError(expression: string): string | undefined {
  try {
    void createTask(expression, () => undefined).destroy();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const EXPRESSIONS = [
  '*/5 * * * *',
  '0 9-17 * * *',
  '*/10 * * * * *',
  '30 2 * * *',
  '0 0 1 * *',
  '0 12 * * mon-fri',
  '0 8 * jan,jul sun',
  '15,45 */3 * * *',
  '0 22-2 * * *',
  '0 0 L * *',
  '0 0 L-2 * *',
  '0 0 15W * *',
  '0 0 LW * *',
  '0 0 * * 5L',
  '0 0 * * 1#2',
  '0 0 29 2 *',
  '0 0 * * 7',
  '@hourly',
  '@weekly',
  '0 0 ? * 3',
  '0 0 1-10/3 * *',
];
const ZONES = [undefined, 'UTC', 'Europe/Rome', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];
// Around the 2026 DST changes of Europe and the US, a leap day and a year's end.
const FROMS = [
  '2026-03-07T23:59:30Z',
  '2026-03-29T00:30:00Z',
  '2026-10-25T00:59:59.500Z',
  '2028-02-27T12:00:00Z',
  '2026-12-31T22:00:00Z',
];

describe('CronSchedule', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const expression of EXPRESSIONS) {
    it(`finds the same next runs as node-cron for '${expression}' in every time zone, across DST changes`, () => {
      for (const zone of ZONES) {
        for (const from of FROMS) {
          const start = new Date(from);
          const count = expression.includes('*/10 * * * * *') ? 60 : 25;
          const ours = new CronSchedule(expression, zone).nextRuns(count, start).map((d) => d.getTime());
          expect({ expression, zone, from, runs: ours }).toEqual({
            expression,
            zone,
            from,
            runs: nodeCronRuns(expression, zone, count, start),
          });
        }
      }
    });
  }

  // With no zone named, the process's own zone (TZ) is read through Date, not Intl: the
  // same runs as naming that zone (compared with node-cron above). node-cron itself, left
  // to the process's zone, runs twice in the hour a DST change repeats, unlike with the
  // zone named; the rotator keeps one behaviour for both.
  describe.each(['Europe/Rome', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata'])(
    "in the process's zone, TZ=%s",
    (zone) => {
      const saved = process.env['TZ'];
      beforeAll(() => {
        process.env['TZ'] = zone;
      });
      afterAll(() => {
        if (saved === undefined) delete process.env['TZ'];
        else process.env['TZ'] = saved;
      });

      it('finds the runs of the named zone, across DST changes', () => {
        expect(new Date('2026-07-01T00:00:00Z').getTimezoneOffset()).not.toBe(0);
        for (const expression of EXPRESSIONS) {
          for (const from of FROMS) {
            const start = new Date(from);
            const ours = new CronSchedule(expression).nextRuns(25, start).map((d) => d.getTime());
            const named = new CronSchedule(expression, zone).nextRuns(25, start).map((d) => d.getTime());
            expect({ expression, from, runs: ours }).toEqual({ expression, from, runs: named });
          }
        }
      });
    },
  );

  it.each([
    '61 * * * *',
    '* 24 * * *',
    '* * 0 * *',
    '* * * 13 *',
    '* * * * 8',
    '* * * *',
    '* * * * * * *',
    '0 0 31 2 *',
    '0 0 5X * *',
    '0 0 * * $',
    '5/10 * * * *',
  ])("refuses '%s' with node-cron's message", (expression) => {
    const expected = nodeCronError(expression);
    expect(expected).toBeDefined();
    expect(() => new CronSchedule(expression)).toThrow(expected);
  });

  it('refuses a time zone that is not an IANA name', () => {
    expect(() => new CronSchedule('* * * * *', 'Mars/Olympus')).toThrow(RangeError);
  });
});

describe('schedule facts', () => {
  it('counts 288 passes a day for a 5-minute schedule and 9 for hourly 9-17', () => {
    expect(passesPerDay('*/5 * * * *', 'UTC')).toBe(288);
    expect(passesPerDay('0 9-17 * * *', 'Europe/Rome')).toBe(9);
  });

  it('measures the gap from the given start, as the runs after it', () => {
    expect(scheduleGapSeconds('0 9-17 * * mon-fri', 'UTC', 10, new Date('2026-01-05T08:00:00Z'))).toBe(16 * 3600);
    expect(scheduleGapSeconds('0 9-17 * * mon-fri', 'UTC', 20, new Date('2026-01-09T08:00:00Z'))).toBe(64 * 3600);
  });
});
