/**
 * Durations as people write them in YAML: a number of seconds (FunkLoad's unit) or a string
 * with a unit, `500ms`, `20s`, `2m`, `1h`. Apart from units.ts (the schema, with zod) so that
 * what only reads or prints a duration starts without zod.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
export const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/;

export type DurationInput = number | string;

/** Milliseconds of a validated duration. */
export function durationMs(v: DurationInput): number {
  if (typeof v === 'number') return v * 1000;
  const m = DURATION.exec(v)!;
  return Number(m[1]) * UNIT_MS[m[2] ?? 's'];
}

/** Seconds of a validated duration: a number as written (no rounding through ms), a string by its unit. */
export function durationSeconds(v: DurationInput): number {
  if (typeof v === 'number') return v;
  const m = DURATION.exec(v)!;
  const unit = m[2] ?? 's';
  return unit === 'ms' ? Number(m[1]) / 1000 : Number(m[1]) * (UNIT_MS[unit] / 1000);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
