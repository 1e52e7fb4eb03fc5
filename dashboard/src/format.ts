/** How values read on screen: by the catalog's units, times in UTC, durations in words. */
import type { Unit } from './api.ts';

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 });

export function formatValue(value: number | null | undefined, unit: Unit): string {
  if (value === null || value === undefined) return '—';
  switch (unit) {
    case 'ms':
      return value >= 10_000 ? `${number.format(value / 1000)} s` : `${integer.format(value)} ms`;
    case 'count':
      return integer.format(value);
    case 'ratio':
      return percent.format(value);
    default:
      return number.format(value);
  }
}

export const formatCount = (n: number) => integer.format(n);
export const formatPercent = (r: number | null) => (r === null ? '—' : percent.format(r));

/** Seconds as "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86_400)} d${Math.floor((s % 86_400) / 3600) ? ` ${Math.floor((s % 86_400) / 3600)} h` : ''}`;
}

/** "2026-12-01 10:00 UTC" (seconds when they are not zero). */
export function formatTime(ms: number | string): string {
  const iso = new Date(ms).toISOString();
  const seconds = iso.slice(17, 19) !== '00' ? iso.slice(16, 19) : '';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${seconds} UTC`;
}

/** A range as "from → to": the day once when both ends share it. */
export function formatRange(fromMs: number, toMs: number): string {
  const from = formatTime(fromMs);
  const to = formatTime(toMs);
  return from.slice(0, 10) === to.slice(0, 10) ? `${from.slice(0, -4)} → ${to.slice(11)}` : `${from.slice(0, -4)} → ${to}`;
}

/** A change between two values as "+12.5%" (null when there is nothing to compare). */
export function formatChange(now: number | null, before: number | null): string | null {
  if (now === null || before === null || before === 0) return null;
  const r = (now - before) / Math.abs(before);
  return `${r >= 0 ? '+' : ''}${percent.format(r)}`;
}
