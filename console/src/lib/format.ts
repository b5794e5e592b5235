import { formatDistanceToNowStrict, formatISO9075 } from "date-fns";

/** Microseconds since the epoch, as a local date and time with ms. */
export function fmtMicros(us: number | null | undefined): string {
  if (us === null || us === undefined) return "—";
  const d = new Date(Math.floor(us / 1000));
  return `${formatISO9075(d)}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

export function ago(us: number | null | undefined): string {
  if (us === null || us === undefined) return "never";
  return `${formatDistanceToNowStrict(new Date(Math.floor(us / 1000)))} ago`;
}

export function fmtDuration(us: number): string {
  if (us < 1000) return `${us} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us < 60_000_000) return `${(us / 1_000_000).toFixed(2)} s`;
  return `${(us / 60_000_000).toFixed(1)} min`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
