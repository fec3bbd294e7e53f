/**
 * A parser that follows Go's `flag` package, because the `consul` CLI parses its arguments with it and scripts
 * depend on its exact rules: `-f` and `--f` are the same, `-f=v` and `-f v` both set a value, a bool flag takes a
 * value only through `=` (`-b false` ends the flags at `false`), parsing stops at the first non-flag argument and
 * consumes a lone `--`, `-h`/`-help` ask for help unless defined. No npm parser (commander, yargs, minimist,
 * node:util parseArgs) follows these rules — they treat `--` specially, accept `-abc` bundles, keep parsing after
 * positionals or reject single-dash long names — so this one is hand-written. Error texts are Go's, word for word.
 */

import { goQuote } from "./goquote.js";

/** One flag's definition. `usage` may name its value type in backquotes, as Go's UnquoteUsage reads it. */
export type FlagDef =
  | { readonly kind: "string"; readonly default: string; readonly usage: string }
  | { readonly kind: "bool"; readonly default: boolean; readonly usage: string }
  | { readonly kind: "int"; readonly default: number; readonly usage: string }
  | { readonly kind: "uint64"; readonly default: bigint; readonly usage: string }
  | { readonly kind: "duration"; readonly default: number; readonly usage: string }
  | { readonly kind: "list"; readonly default: readonly string[]; readonly usage: string };

export type FlagDefs = Readonly<Record<string, FlagDef>>;

type ValueOf<D extends FlagDef> = D["kind"] extends "list" ? string[] : D["default"];

/** Parsed values keyed by flag name. Durations are in milliseconds (`durationMs`-style, may be fractional). */
export type FlagValues<D extends FlagDefs> = { -readonly [K in keyof D]: ValueOf<D[K]> };

export interface ParsedFlags<D extends FlagDefs> {
  readonly values: FlagValues<D>;
  /** Arguments left after the flags (Go's `FlagSet.Args()`). */
  readonly args: string[];
  /** Names of the flags given on the command line (Go's `FlagSet.Visit`), so callers can let flags beat env. */
  readonly set: ReadonlySet<string>;
}

/** A malformed command line; `message` is exactly what Go's flag package prints. */
export class FlagError extends Error {
  override name = "FlagError";
}

/** `-h` or `-help` was given (and not defined as a flag): the caller prints help and exits 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
  constructor() {
    super("flag: help requested");
  }
}

export const flag = {
  string: (def: string, usage: string) => ({ kind: "string", default: def, usage }) as const,
  bool: (def: boolean, usage: string) => ({ kind: "bool", default: def, usage }) as const,
  int: (def: number, usage: string) => ({ kind: "int", default: def, usage }) as const,
  uint64: (def: bigint, usage: string) => ({ kind: "uint64", default: def, usage }) as const,
  duration: (defMs: number, usage: string) => ({ kind: "duration", default: defMs, usage }) as const,
  list: (usage: string) => ({ kind: "list", default: [] as readonly string[], usage }) as const,
};

/** Go's flag error for a value its type rejects. */
class ValueError extends Error {}
const PARSE_ERROR = "parse error";
const RANGE_ERROR = "value out of range";

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean {
  switch (s) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false;
    default:
      throw new ValueError(PARSE_ERROR);
  }
}

/** Go's underscoreOK: `_` only between digits or after a base prefix, never first or last. */
function underscoreOK(s: string): boolean {
  let saw = "^";
  let i = 0;
  let body = s;
  if (body.startsWith("-") || body.startsWith("+")) body = body.slice(1);
  let hex = false;
  if (body.length >= 2 && body[0] === "0" && "bBoOxX".includes(body[1] ?? "")) {
    i = 2;
    saw = "0";
    hex = body[1] === "x" || body[1] === "X";
  }
  for (; i < body.length; i++) {
    const c = body[i] ?? "";
    if ((c >= "0" && c <= "9") || (hex && /[a-fA-F]/.test(c))) {
      saw = "0";
      continue;
    }
    if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/** Go's strconv.ParseUint(s, 0, 64): base prefixes 0x 0o 0b, leading 0 = octal, `_` separators. */
export function parseGoUint(s: string, max: bigint = 0xffff_ffff_ffff_ffffn): bigint {
  if (s === "") throw new ValueError(PARSE_ERROR);
  let base = 10n;
  let digits = s;
  if (s[0] === "0") {
    const p = (s[1] ?? "").toLowerCase();
    if (s.length >= 3 && (p === "b" || p === "o" || p === "x")) {
      base = p === "b" ? 2n : p === "o" ? 8n : 16n;
      digits = s.slice(2);
    } else {
      base = 8n;
      digits = s.slice(1);
    }
  }
  let n = 0n;
  let underscores = false;
  for (const c of digits) {
    if (c === "_") {
      underscores = true;
      continue;
    }
    if (!/^[0-9a-zA-Z]$/.test(c)) throw new ValueError(PARSE_ERROR);
    const d = BigInt(Number.parseInt(c, 36));
    if (d >= base) throw new ValueError(PARSE_ERROR);
    n = n * base + d;
  }
  if (underscores && !underscoreOK(s)) throw new ValueError(PARSE_ERROR);
  if (n > max) throw new ValueError(RANGE_ERROR);
  return n;
}

/** Go's strconv.ParseInt(s, 0, 64), limited to the exact range of a JS number (documented deviation). */
export function parseGoInt(s: string): number {
  let body = s;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    body = s.slice(1);
  }
  const mag = parseGoUint(body, 1n << 63n);
  if (!neg && mag === 1n << 63n) throw new ValueError(RANGE_ERROR);
  // Go's int is 64 bits; past 2^53 a JS number would silently round, so refuse instead.
  if (mag > BigInt(Number.MAX_SAFE_INTEGER)) throw new ValueError(RANGE_ERROR);
  return neg ? -Number(mag) : Number(mag);
}

const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const INT64_MAX = (1n << 63n) - 1n;

/** Go's time.ParseDuration, returning exact nanoseconds: `1h2m3s`, `1.5h`, `500ms`, `-3us`, `0`. */
export function parseGoDurationNs(input: string): bigint {
  let s = input;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") throw new ValueError(PARSE_ERROR);
  let total = 0n;
  while (s !== "") {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s);
    const intPart = m?.[1] ?? "";
    const fracPart = m?.[2];
    if (intPart === "" && (fracPart === undefined || fracPart === "")) throw new ValueError(PARSE_ERROR);
    s = s.slice(m?.[0].length ?? 0);
    const unitMatch = /^[^0-9.]+/.exec(s);
    const unitName = unitMatch?.[0] ?? "";
    const unit = UNIT_NS[unitName];
    if (unit === undefined) throw new ValueError(PARSE_ERROR); // missing or unknown unit
    s = s.slice(unitName.length);
    let v = intPart === "" ? 0n : BigInt(intPart);
    if (v > (1n << 63n) / unit) throw new ValueError(PARSE_ERROR);
    v *= unit;
    if (fracPart !== undefined && fracPart !== "") {
      // Go adds the fraction in float64 arithmetic, truncated; 18 digits is all a uint64 accumulator keeps.
      const f = fracPart.slice(0, 18);
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / 10 ** f.length)));
      if (v > 1n << 63n) throw new ValueError(PARSE_ERROR);
    }
    total += v;
    if (total > 1n << 63n) throw new ValueError(PARSE_ERROR);
  }
  if (neg) return -total;
  if (total > INT64_MAX) throw new ValueError(PARSE_ERROR);
  return total;
}

type Mutable = Record<string, string | boolean | number | bigint | string[]>;

function setValue(values: Mutable, name: string, def: FlagDef, raw: string): void {
  switch (def.kind) {
    case "string":
      values[name] = raw;
      return;
    case "bool":
      values[name] = parseGoBool(raw);
      return;
    case "int":
      values[name] = parseGoInt(raw);
      return;
    case "uint64":
      values[name] = parseGoUint(raw);
      return;
    case "duration":
      values[name] = Number(parseGoDurationNs(raw)) / 1e6;
      return;
    case "list": {
      const list = values[name];
      if (Array.isArray(list)) list.push(raw);
      return;
    }
  }
}

function defaults(defs: FlagDefs): Mutable {
  const values: Mutable = {};
  for (const [name, def] of Object.entries(defs)) {
    values[name] = def.kind === "list" ? [...def.default] : def.default;
  }
  return values;
}

/**
 * Parses `argv` against `defs` with Go's rules (FlagSet.Parse, ContinueOnError). Throws FlagError with Go's
 * message, or HelpRequested. A flag given twice keeps the last value; a list flag collects every value.
 */
export function parseFlags<D extends FlagDefs>(defs: D, argv: readonly string[]): ParsedFlags<D> {
  const values = defaults(defs);
  const set = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const s = argv[i] ?? "";
    if (s.length < 2 || s[0] !== "-") break;
    let minuses = 1;
    if (s[1] === "-") {
      minuses = 2;
      if (s.length === 2) {
        i++; // "--" terminates the flags and is consumed
        break;
      }
    }
    let name = s.slice(minuses);
    if (name.length === 0 || name[0] === "-" || name[0] === "=") throw new FlagError(`bad flag syntax: ${s}`);
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const def = Object.hasOwn(defs, name) ? defs[name] : undefined;
    if (def === undefined) {
      if (name === "help" || name === "h") throw new HelpRequested();
      throw new FlagError(`flag provided but not defined: -${name}`);
    }
    if (def.kind === "bool") {
      applyValue(values, name, def, value ?? "true", true);
    } else {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
        i++;
        value = argv[i] ?? "";
      }
      applyValue(values, name, def, value, false);
    }
    set.add(name);
  }
  return { values: values as FlagValues<D>, args: argv.slice(i), set };
}

function applyValue(values: Mutable, name: string, def: FlagDef, raw: string, isBool: boolean): void {
  try {
    setValue(values, name, def, raw);
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    const what = isBool
      ? `invalid boolean value ${goQuote(raw)} for -${name}`
      : `invalid value ${goQuote(raw)} for flag -${name}`;
    throw new FlagError(`${what}: ${err.message}`);
  }
}
