/**
 * The daemon's scheduler: cron.ts's next run and one timer, on vitest's fake clock (which,
 * like Node, fires a timer longer than 2^31 - 1 ms after 1 ms, so an unchunked long wait
 * would show). That the timer keeps a real process alive is checked on the real clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CronSchedule } from '../../src/common/cron.js';
import { runOnSchedule } from '../../src/runtimes/daemon.js';

const at = (iso: string) => Date.parse(iso);

/** A run that records the wall-clock time it started at and takes `ms` of (fake) time. */
function recordingRun(ms = 0) {
  const starts: string[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const run = async () => {
    starts.push(new Date().toISOString());
    running++;
    mostAtOnce = Math.max(mostAtOnce, running);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    running--;
  };
  return { run, starts, mostAtOnce: () => mostAtOnce };
}

describe('runOnSchedule', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs at the runs of the schedule in its time zone', async () => {
    vi.useFakeTimers({ now: at('2026-03-01T00:00:00.000Z') });
    const stop = new AbortController();
    const { run, starts } = recordingRun();

    const done = runOnSchedule(new CronSchedule('0 9 * * *', 'Asia/Kolkata'), run, stop.signal);
    await vi.advanceTimersByTimeAsync(2 * 86_400_000);
    stop.abort();
    await done;

    // 09:00 in Kolkata (UTC+05:30) is 03:30 UTC.
    expect(starts).toEqual(['2026-03-01T03:30:00.000Z', '2026-03-02T03:30:00.000Z']);
  });

  it('skips a run that falls while one is in flight, so runs never overlap', async () => {
    vi.useFakeTimers({ now: at('2026-03-01T00:00:00.000Z') });
    const stop = new AbortController();
    const { run, starts, mostAtOnce } = recordingRun(2500);

    const done = runOnSchedule(new CronSchedule('* * * * * *'), run, stop.signal);
    await vi.advanceTimersByTimeAsync(8000);
    stop.abort();
    await vi.advanceTimersByTimeAsync(2000); // the run in flight finishes
    await done;

    // Each run takes 2.5 s: the two runs of the schedule within it are skipped, the next one after it runs.
    expect(starts).toEqual(['2026-03-01T00:00:01.000Z', '2026-03-01T00:00:04.000Z', '2026-03-01T00:00:07.000Z']);
    expect(mostAtOnce()).toBe(1);
  });

  it('waits longer than setTimeout can in one piece (2^31 - 1 ms) and runs on time', async () => {
    vi.useFakeTimers({ now: at('2026-03-01T00:00:00.000Z') });
    const stop = new AbortController();
    const { run, starts } = recordingRun();

    const done = runOnSchedule(new CronSchedule('0 0 1 1 *', 'UTC'), run, stop.signal);
    await vi.advanceTimersByTimeAsync(at('2027-01-01T00:00:00.000Z') - Date.now() - 1);
    const beforeTheRun = [...starts];
    await vi.advanceTimersByTimeAsync(1);
    stop.abort();
    await done;

    expect(beforeTheRun).toEqual([]);
    expect(starts).toEqual(['2027-01-01T00:00:00.000Z']);
  });

  it('looks the next run up again when the wall clock is set back while it waits', async () => {
    vi.useFakeTimers({ now: at('2026-03-01T10:00:00.000Z') });
    const stop = new AbortController();
    const { run, starts } = recordingRun();

    const done = runOnSchedule(new CronSchedule('0 * * * * *', 'UTC'), run, stop.signal);
    await vi.advanceTimersByTimeAsync(30_000);
    vi.setSystemTime(at('2026-03-01T09:00:40.000Z')); // NTP steps the clock back 59 min 50 s
    await vi.advanceTimersByTimeAsync(30_000 + 50_000);
    stop.abort();
    await done;

    // The timer armed for 10:01:00 fires at 09:01:10 by the clock: the run at 09:02:00 follows, not one an hour later.
    expect(starts).toEqual(['2026-03-01T09:02:00.000Z']);
  });

  it('keeps one timer while it waits, and clears it when stopped', async () => {
    vi.useFakeTimers({ now: at('2026-03-01T00:00:00.000Z') });
    const stop = new AbortController();
    const { run, starts } = recordingRun();

    const done = runOnSchedule(new CronSchedule('*/5 * * * *'), run, stop.signal);
    await vi.advanceTimersByTimeAsync(12 * 60_000);
    const waiting = vi.getTimerCount();
    stop.abort();
    await done;

    expect(starts).toHaveLength(2);
    expect(waiting).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('finishes the run in flight when stopped during it, and starts no other', async () => {
    vi.useFakeTimers({ now: at('2026-03-01T00:00:00.000Z') });
    const stop = new AbortController();
    let finished = 0;
    const run = async () => {
      stop.abort();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      finished++;
    };

    const done = runOnSchedule(new CronSchedule('* * * * * *'), run, stop.signal);
    await vi.advanceTimersByTimeAsync(10_000);
    await done;

    expect(finished).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps the process alive while it waits (its timer is ref’d)', async () => {
    const stop = new AbortController();
    const timersBefore = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

    const done = runOnSchedule(new CronSchedule('0 0 1 1 *'), async () => undefined, stop.signal);
    const timersWaiting = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    stop.abort();
    await done;

    expect(timersWaiting).toBe(timersBefore + 1);
    expect(process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length).toBe(timersBefore);
  });
});
