/**
 * Human-readable output of the CLI: tables of outcomes and provider status.
 */
import type { PassSummary } from '../engine/pass.js';
import type { ProviderStatus } from '../rotator.js';

/** Renders rows as a left-aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `1h02m`, `14m05s`, `-3m10s` (expired). */
export function duration(seconds: number): string {
  const sign = seconds < 0 ? '-' : '';
  let s = Math.abs(Math.round(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${sign}${d}d${String(h).padStart(2, '0')}h`;
  if (h > 0) return `${sign}${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${sign}${m}m${String(s).padStart(2, '0')}s`;
  return `${sign}${s}s`;
}

/** The outcome table printed by `token-rotator run`. */
export function formatSummary(summary: PassSummary, now = Date.now()): string {
  const rows = summary.outcomes.map((o) => [
    o.provider,
    o.status,
    o.method ?? '-',
    o.reason ?? '-',
    o.expiresAt ? duration((Date.parse(o.expiresAt) - now) / 1000) : '-',
    o.error ? `${o.error.class}: ${o.error.message}` : '',
  ]);
  const counts = Object.entries(summary.counts)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return `${table(['PROVIDER', 'OUTCOME', 'METHOD', 'WHY', 'EXPIRES IN', 'ERROR'], rows)}\n${counts} in ${summary.durationMs} ms`;
}

/** The table printed by `token-rotator status`. */
export function formatStatus(rows: readonly ProviderStatus[]): string {
  return table(
    ['PROVIDER', 'KIND', 'EXPIRES IN', 'GEN', 'LAST METHOD', 'REFRESH TOKEN', 'LAST ERROR'],
    rows.map((row) => [
      row.provider,
      row.kind,
      row.secondsToExpiry === undefined
        ? 'no token'
        : row.secondsToExpiry <= 0
          ? `expired ${duration(-row.secondsToExpiry)} ago`
          : duration(row.secondsToExpiry),
      row.generation === undefined ? '-' : String(row.generation),
      row.lastMethod ?? '-',
      row.hasRefreshToken ? 'yes' : 'no',
      (row.lastError ?? '') +
        (row.nextAttemptAt ? ` (next try ${row.nextAttemptAt})` : '') +
        (row.leaseHolder ? ` [leased by ${row.leaseHolder}]` : ''),
    ]),
  );
}
