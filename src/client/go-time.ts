/**
 * A `time.Time` as Go's `api` package holds one it decoded from JSON (Consul's `CreateTime`, `ExpirationTime`):
 * the wall clock and offset as the server wrote them, nanoseconds exact. Go keeps the parsed zone, so printing
 * (`%v`, Time.String) and re-encoding (MarshalJSON, RFC 3339 with nanoseconds) show the same wall clock, which
 * is why this keeps the fields as written instead of converting to a JS Date (milliseconds, local zone).
 *
 * One difference: Go prints a numeric offset that matches the machine's local zone with that zone's name
 * (`+0100 CET`); cairn prints every numeric offset as Go does for a zone it does not know (`+0100 +0100`).
 */
import { DecodeError } from "./errors.js";

export interface GoTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  /** 0 … 999 999 999. */
  readonly nanos: number;
  /** Seconds east of UTC; null for `Z` (Go's UTC location). */
  readonly offsetSeconds: number | null;
}

/** Go's zero time, `0001-01-01 00:00:00 +0000 UTC`: what a missing field decodes to. */
export const GO_ZERO_TIME: GoTime = {
  year: 1,
  month: 1,
  day: 1,
  hour: 0,
  minute: 0,
  second: 0,
  nanos: 0,
  offsetSeconds: null,
};

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))$/;

/** time.Time's UnmarshalJSON of a JSON string (RFC 3339); throws DecodeError naming `field` otherwise. */
export function parseGoTime(text: string, field: string): GoTime {
  const m = RFC3339.exec(text);
  if (m === null)
    throw new DecodeError(`Failed to decode ${field}: not an RFC 3339 time: ${JSON.stringify(text)}`);
  const n = (i: number): number => Number(m[i] ?? "0");
  const [year, month, day, hour, minute, second] = [n(1), n(2), n(3), n(4), n(5), n(6)];
  const daysIn = new Date(Date.UTC(2000 + (year % 400), month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysIn || hour > 23 || minute > 59 || second > 59) {
    throw new DecodeError(`Failed to decode ${field}: time out of range: ${JSON.stringify(text)}`);
  }
  const nanos = Number((m[7] ?? "").padEnd(9, "0"));
  const offsetSeconds =
    m[8] === "Z" ? null : (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 3600 + Number(m[11]) * 60);
  return { year, month, day, hour, minute, second, nanos, offsetSeconds };
}

const pad = (v: number, width: number): string => String(v).padStart(width, "0");

function fraction(nanos: number): string {
  return nanos === 0 ? "" : `.${pad(nanos, 9).replace(/0+$/, "")}`;
}

function clock(t: GoTime, dateTimeSep: string): string {
  return (
    `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}${dateTimeSep}` +
    `${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${fraction(t.nanos)}`
  );
}

function offset(seconds: number, colon: boolean): string {
  const minutes = Math.abs(seconds) / 60;
  return `${seconds < 0 ? "-" : "+"}${pad(Math.trunc(minutes / 60), 2)}${colon ? ":" : ""}${pad(minutes % 60, 2)}`;
}

/** Time.String(), what `%v` prints: `2020-05-22 18:52:31.5 +0000 UTC`. */
export function goTimeString(t: GoTime): string {
  if (t.offsetSeconds === null) return `${clock(t, " ")} +0000 UTC`;
  const off = offset(t.offsetSeconds, false);
  return `${clock(t, " ")} ${off} ${off}`;
}

/** Time.MarshalJSON's text (RFC 3339 with nanoseconds, trailing zeros cut; a zero offset is `Z`). */
export function goTimeRfc3339(t: GoTime): string {
  const zone = t.offsetSeconds === null || t.offsetSeconds === 0 ? "Z" : offset(t.offsetSeconds, true);
  return `${clock(t, "T")}${zone}`;
}
