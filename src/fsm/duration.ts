/**
 * Go's time.ParseDuration, so that a session TTL is accepted or refused exactly as Consul does, with Go's
 * error text (Consul puts it into its own message). Result in nanoseconds as a bigint (int64 in Go).
 */

const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["\u00b5s", 1_000n], // U+00B5 micro sign
  ["\u03bcs", 1_000n], // U+03BC Greek mu
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);
const INT64_MAX = (1n << 63n) - 1n;

/** Go's strconv.Quote, close enough for the printable input durations are. */
function quote(s: string): string {
  return JSON.stringify(s);
}

/** A duration string Go refuses; `message` is Go's error text. */
export class DurationSyntaxError extends Error {
  override name = "DurationSyntaxError";
}

interface Scan {
  readonly digits: string;
  readonly end: number;
}

function scanDigits(s: string, at: number): Scan {
  let end = at;
  while (end < s.length && s.charCodeAt(end) >= 48 && s.charCodeAt(end) <= 57) end++;
  return { digits: s.slice(at, end), end };
}

/** One `<number><unit>` group starting at `at`: its nanoseconds and where it ends. */
function parseGroup(s: string, at: number, orig: string): { ns: bigint; end: number } {
  const whole = scanDigits(s, at);
  let frac: Scan = { digits: "", end: whole.end };
  if (whole.end < s.length && s[whole.end] === ".") frac = scanDigits(s, whole.end + 1);
  if (whole.digits === "" && frac.digits === "")
    throw new DurationSyntaxError(`time: invalid duration ${quote(orig)}`);
  let end = frac.end;
  while (end < s.length && !".0123456789".includes(s[end] as string)) end++;
  const unitName = s.slice(frac.end, end);
  if (unitName === "") throw new DurationSyntaxError(`time: missing unit in duration ${quote(orig)}`);
  const unit = UNITS.get(unitName);
  if (unit === undefined) {
    throw new DurationSyntaxError(`time: unknown unit ${quote(unitName)} in duration ${quote(orig)}`);
  }
  let ns = BigInt(whole.digits === "" ? "0" : whole.digits) * unit;
  if (frac.digits !== "") {
    // Go scales the fraction and truncates toward zero.
    ns += (BigInt(frac.digits) * unit) / 10n ** BigInt(frac.digits.length);
  }
  if (ns > INT64_MAX + 1n) throw new DurationSyntaxError(`time: invalid duration ${quote(orig)}`);
  return { ns, end };
}

/** time.ParseDuration: "[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+", "0" alone allowed. Throws DurationSyntaxError. */
export function parseGoDuration(orig: string): bigint {
  let s = orig;
  let neg = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw new DurationSyntaxError(`time: invalid duration ${quote(orig)}`);
  let total = 0n;
  let at = 0;
  while (at < s.length) {
    const g = parseGroup(s, at, orig);
    total += g.ns;
    at = g.end;
  }
  if (total > (neg ? INT64_MAX + 1n : INT64_MAX))
    throw new DurationSyntaxError(`time: invalid duration ${quote(orig)}`);
  return neg ? -total : total;
}

/** Go's time.Duration.String for a duration in nanoseconds: "0s", "1.5µs", "12ms", "1m30s", "2h0m0s". */
export function formatGoDuration(ns: bigint): string {
  if (ns < 0n) return `-${formatGoDuration(-ns)}`;
  if (ns === 0n) return "0s";
  if (ns < 1_000n) return `${ns}ns`;
  if (ns < 1_000_000n) return `${frac(ns, 3)}µs`;
  if (ns < 1_000_000_000n) return `${frac(ns, 6)}ms`;
  const totalSec = ns / 1_000_000_000n;
  const sec = `${(totalSec % 60n).toString()}${fracPart(ns % 1_000_000_000n, 9)}s`;
  const totalMin = totalSec / 60n;
  if (totalMin === 0n) return sec;
  const hours = totalMin / 60n;
  const min = `${totalMin % 60n}m${sec}`;
  return hours === 0n ? min : `${hours}h${min}`;
}

/** `v / 10^prec` with Go's fmtFrac: trailing zeros dropped, and the dot too when nothing is left. */
function frac(v: bigint, prec: number): string {
  const p = 10n ** BigInt(prec);
  return `${v / p}${fracPart(v % p, prec)}`;
}

function fracPart(rem: bigint, prec: number): string {
  if (rem === 0n) return "";
  return `.${rem.toString().padStart(prec, "0").replace(/0+$/, "")}`;
}
