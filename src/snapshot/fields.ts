/**
 * Reading Go structs out of decoded msgpack maps with Go's decoding leniency: a missing key or nil leaves the
 * zero value; a key of the wrong type is an error. Keys a typed record does not know are kept in `extra` so a
 * record from a newer Consul re-encodes with them.
 */

import { RecordDecodeError } from "./errors.js";
import type { Decoded, DecodedMap } from "./gomsgpack.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Fields of a decoded record that its typed codec does not model, re-encoded as they came. */
export type Extra = Readonly<Record<string, Decoded>>;

export function isMap(v: Decoded | undefined): v is DecodedMap {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}

export function asMap(v: Decoded, where: string): DecodedMap {
  if (!isMap(v)) throw new RecordDecodeError(`decode ${where}: expected a map, got ${describe(v)}`);
  return v;
}

export function describe(v: Decoded | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "nil";
  if (v instanceof Uint8Array) return "a string";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "a map";
  return `a ${typeof v}`;
}

export function bytesToString(b: Uint8Array, where: string): string {
  try {
    return utf8.decode(b);
  } catch (err) {
    throw new RecordDecodeError(`decode ${where}: string is not valid UTF-8`, { cause: err });
  }
}

export class Fields {
  private readonly used = new Set<string>();
  constructor(
    private readonly m: DecodedMap,
    private readonly where: string,
  ) {}

  private take(key: string): Decoded | undefined {
    this.used.add(key);
    return Object.hasOwn(this.m, key) ? this.m[key] : undefined;
  }

  private fail(key: string, want: string, got: Decoded | undefined): never {
    throw new RecordDecodeError(
      `decode ${this.where} field "${key}": expected ${want}, got ${describe(got)}`,
    );
  }

  str(key: string): string {
    const v = this.take(key);
    if (v === undefined || v === null) return "";
    if (!(v instanceof Uint8Array)) this.fail(key, "a string", v);
    return bytesToString(v, `${this.where} field "${key}"`);
  }

  /** A Go []byte: nil stays null (Consul writes nil for a KV entry without value), empty stays empty. */
  bytes(key: string): Uint8Array | null {
    const v = this.take(key);
    if (v === undefined || v === null) return null;
    if (!(v instanceof Uint8Array)) this.fail(key, "a byte string", v);
    return v;
  }

  /** A uint64 cairn keeps as number (indexes, counters): it must be a safe integer. */
  uint(key: string): number {
    const v = this.take(key);
    if (v === undefined || v === null) return 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      this.fail(key, "an unsigned integer below 2^53", v);
    }
    return v;
  }

  /** A signed integer kept as number (durations in ns). */
  int(key: string): number {
    const v = this.take(key);
    if (v === undefined || v === null) return 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) this.fail(key, "an integer below 2^53", v);
    return v;
  }

  /** A uint64 that may use all 64 bits (KV Flags): always bigint. */
  u64(key: string): bigint {
    const v = this.take(key);
    if (v === undefined || v === null) return 0n;
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === "bigint" && v >= 0n) return v;
    return this.fail(key, "an unsigned integer", v);
  }

  bool(key: string): boolean {
    const v = this.take(key);
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") this.fail(key, "a bool", v);
    return v;
  }

  /** A []string: nil stays null so it re-encodes as nil, not as an empty array. */
  strList(key: string): string[] | null {
    const v = this.take(key);
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) this.fail(key, "an array of strings", v);
    return v.map((item, i) => {
      if (!(item instanceof Uint8Array)) this.fail(`${key}[${i}]`, "a string", item);
      return bytesToString(item, `${this.where} field "${key}[${i}]"`);
    });
  }

  /** A map[string]string: nil stays null. Insertion order is the wire order. */
  strMap(key: string): Map<string, string> | null {
    const v = this.take(key);
    if (v === undefined || v === null) return null;
    if (!isMap(v)) this.fail(key, "a map of strings", v);
    const out = new Map<string, string>();
    for (const [k, item] of Object.entries(v)) {
      if (!(item instanceof Uint8Array)) this.fail(`${key}.${k}`, "a string", item);
      out.set(k, bytesToString(item, `${this.where} field "${key}.${k}"`));
    }
    return out;
  }

  /** A nested struct or nil. */
  mapOrNull(key: string): DecodedMap | null {
    const v = this.take(key);
    if (v === undefined || v === null) return null;
    if (!isMap(v)) this.fail(key, "a map", v);
    return v;
  }

  /** A value kept as decoded (cairn does not interpret it). */
  raw(key: string): Decoded {
    return this.take(key) ?? null;
  }

  /** Whether the key was present at all (Enterprise-only fields are absent in CE snapshots). */
  has(key: string): boolean {
    return Object.hasOwn(this.m, key);
  }

  /** Everything not taken so far. */
  rest(): Extra {
    const out: Record<string, Decoded> = {};
    for (const [k, v] of Object.entries(this.m)) if (!this.used.has(k)) out[k] = v;
    return out;
  }
}
