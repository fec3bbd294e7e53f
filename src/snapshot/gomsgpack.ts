/**
 * Msgpack in the shapes Consul's Go codec (hashicorp/consul-net-rpc go-msgpack, a 2013-era ugorji fork) writes,
 * per docs/snapshot-format.md §2.4.
 *
 * The encoder is hand-written because no JavaScript msgpack library writes Go's shapes: they emit str8 and bin
 * for byte strings, while Go writes every string and every []byte as fixstr/str16/str32 and never str8 or bin.
 * Decoding uses @msgpack/msgpack, configured so byte strings stay bytes (rawStrings) and uint64/int64 beyond
 * 2^53 stay exact (useBigInt64, then narrowed back to number where that is lossless).
 */
import { Decoder, ExtData } from "@msgpack/msgpack";
import { assert } from "../util/assert.js";
import { MsgpackDecodeError } from "./errors.js";

/** A Go float64 whose value may be integral: plain integral numbers encode as integers, this as `cb`. */
export class Float64 {
  constructor(readonly value: number) {}
}

/** A Go float32 (`ca`). */
export class Float32 {
  constructor(readonly value: number) {}
}

/**
 * What the encoder accepts.
 * - string (UTF-8) and Uint8Array: both written with the str family, as Go writes string and []byte.
 * - number: a safe integer is written in the smallest width Go picks; any other number as float64.
 * - bigint: an integer in [-2^63, 2^64).
 * - plain object: a Go struct, keys sorted ascending by UTF-8 bytes (the codec sorts struct fields by name);
 *   an `undefined` field is left out (fields a build lacks, e.g. EnterpriseMeta in CE).
 * - Map: a Go map, keys written in the Map's iteration order (Go's order is random, so the caller chooses).
 */
export type GoValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Float64
  | Float32
  | readonly GoValue[]
  | ReadonlyMap<string, GoValue>
  | GoStruct;

export interface GoStruct {
  readonly [field: string]: GoValue | undefined;
}

/** What the decoder returns: strings stay bytes (Go's []byte and string share one wire form). */
export type Decoded = null | boolean | number | bigint | Uint8Array | Decoded[] | DecodedMap;

export interface DecodedMap {
  [key: string]: Decoded;
}

const INITIAL_BYTES = 256;
const utf8 = new TextEncoder();

/** Growable output buffer: doubles on demand so encoding is linear in the output size. */
class Sink {
  private buf = new Uint8Array(INITIAL_BYTES);
  private view = new DataView(this.buf.buffer);
  length = 0;

  /** Makes room for n bytes and returns where they go. Callers must not hold `buf`/`view` across it. */
  private reserve(n: number): number {
    const need = this.length + n;
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length = need;
    return at;
  }

  u8(v: number): void {
    const at = this.reserve(1);
    this.buf[at] = v;
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v);
  }
  u64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, v);
  }
  i64(v: bigint): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, v);
  }
  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, v);
  }
  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  /**
   * A string in Go's str family, UTF-8 encoded straight into the buffer (no temporary array per string: this
   * runs for every key of every record of a snapshot). Room for the worst case (3 bytes per UTF-16 unit plus
   * a str32 header) is reserved, then the header is chosen from the real byte count and the bytes moved to
   * sit right after it.
   */
  str(v: string): void {
    const headerMax = 5;
    const at = this.reserve(headerMax + 3 * v.length);
    const { written } = utf8.encodeInto(v, this.buf.subarray(at + headerMax));
    const n = written;
    let header: number;
    if (n < 32) {
      this.buf[at] = 0xa0 | n;
      header = 1;
    } else if (n <= 0xffff) {
      this.buf[at] = 0xda;
      this.view.setUint16(at + 1, n);
      header = 3;
    } else {
      assert(n <= 0xffffffff, `encode a string of at most 2^32-1 bytes, got ${n}`);
      this.buf[at] = 0xdb;
      this.view.setUint32(at + 1, n);
      header = 5;
    }
    if (header !== headerMax) this.buf.copyWithin(at + header, at + headerMax, at + headerMax + n);
    this.length = at + header + n;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
  capacity(): number {
    return this.buf.length;
  }
  /** Forgets the content and keeps the buffer, so one sink serves many encodings. */
  reset(): void {
    this.length = 0;
  }
}

/**
 * One sink reused by every top-level encodeGo call: encoding is synchronous and never re-entered, and a fresh
 * sink per record cost an allocation and a regrowth for each of millions of records. A sink grown past
 * SCRATCH_KEEP_BYTES by one huge value is dropped afterwards rather than kept for the process's lifetime.
 */
const SCRATCH_KEEP_BYTES = 1 << 20;
let scratch: Sink | null = new Sink();

/** Encodes one value in Go's shapes. */
export function encodeGo(value: GoValue): Uint8Array {
  // Taken out while in use: were encodeGo ever re-entered, the inner call would get a sink of its own.
  const sink = scratch ?? new Sink();
  scratch = null;
  try {
    sink.reset();
    writeValue(sink, value, 0);
    return sink.result();
  } finally {
    if (sink.capacity() <= SCRATCH_KEEP_BYTES) scratch = sink;
  }
}

/** Nesting limit: Consul records are a handful of levels deep; a deeper value is a caller's bug. */
const DEPTH_MAX = 64;

function writeValue(s: Sink, v: GoValue, depth: number): void {
  assert(depth <= DEPTH_MAX, `encode a value nested at most ${DEPTH_MAX} deep`);
  if (v === null) s.u8(0xc0);
  else if (typeof v === "boolean") s.u8(v ? 0xc3 : 0xc2);
  else if (typeof v === "number") writeNumber(s, v);
  else if (typeof v === "bigint") writeInt(s, v);
  else if (typeof v === "string") s.str(v);
  else if (v instanceof Uint8Array) writeStr(s, v);
  else if (v instanceof Float64) {
    s.u8(0xcb);
    s.f64(v.value);
  } else if (v instanceof Float32) {
    s.u8(0xca);
    s.f32(v.value);
  } else if (Array.isArray(v)) writeArray(s, v as readonly GoValue[], depth);
  else if (v instanceof Map) writeMap(s, [...(v as ReadonlyMap<string, GoValue>)], depth);
  else writeStruct(s, v as GoStruct, depth);
}

function writeNumber(s: Sink, v: number): void {
  // The common case (indexes, counts) without a BigInt per value: widths up to 32 bits in plain numbers.
  if (Number.isInteger(v) && v >= -2147483648 && v <= 0xffffffff) writeSmallInt(s, v);
  else if (Number.isSafeInteger(v)) writeInt(s, BigInt(v));
  else {
    s.u8(0xcb);
    s.f64(v);
  }
}

const U64_END = 1n << 64n;
const I64_MIN = -(1n << 63n);

/** writeInt for an integer in [-2^31, 2^32), with the same choice of forms. */
function writeSmallInt(s: Sink, v: number): void {
  if (v >= 0) {
    if (v <= 127) s.u8(v);
    else if (v <= 0xff) {
      s.u8(0xcc);
      s.u8(v);
    } else if (v <= 0xffff) {
      s.u8(0xcd);
      s.u16(v);
    } else {
      s.u8(0xce);
      s.u32(v);
    }
  } else if (v >= -32) s.u8(v & 0xff);
  else if (v >= -128) {
    s.u8(0xd0);
    s.u8(v & 0xff);
  } else if (v >= -32768) {
    s.u8(0xd1);
    s.u16(v & 0xffff);
  } else {
    s.u8(0xd2);
    s.u32(v >>> 0);
  }
}

/** Go's encoder: the smallest width for the value, unsigned forms for any non-negative value. */
function writeInt(s: Sink, v: bigint): void {
  assert(v >= I64_MIN && v < U64_END, `encode integer ${v} within [-2^63, 2^64)`);
  if (v >= 0n) {
    if (v <= 127n) s.u8(Number(v));
    else if (v <= 0xffn) {
      s.u8(0xcc);
      s.u8(Number(v));
    } else if (v <= 0xffffn) {
      s.u8(0xcd);
      s.u16(Number(v));
    } else if (v <= 0xffffffffn) {
      s.u8(0xce);
      s.u32(Number(v));
    } else {
      s.u8(0xcf);
      s.u64(v);
    }
  } else if (v >= -32n) s.u8(Number(v) & 0xff);
  else if (v >= -128n) {
    s.u8(0xd0);
    s.u8(Number(v) & 0xff);
  } else if (v >= -32768n) {
    s.u8(0xd1);
    s.u16(Number(v) & 0xffff);
  } else if (v >= -2147483648n) {
    s.u8(0xd2);
    s.u32(Number(v) >>> 0);
  } else {
    s.u8(0xd3);
    s.i64(v);
  }
}

/** fixstr, str16 or str32: Go's codec never writes str8 (`d9`) nor bin, for strings and []byte alike. */
function writeStr(s: Sink, b: Uint8Array): void {
  const n = b.length;
  if (n < 32) s.u8(0xa0 | n);
  else if (n <= 0xffff) {
    s.u8(0xda);
    s.u16(n);
  } else {
    assert(n <= 0xffffffff, `encode a string of at most 2^32-1 bytes, got ${n}`);
    s.u8(0xdb);
    s.u32(n);
  }
  s.bytes(b);
}

function writeArray(s: Sink, items: readonly GoValue[], depth: number): void {
  const n = items.length;
  if (n < 16) s.u8(0x90 | n);
  else if (n <= 0xffff) {
    s.u8(0xdc);
    s.u16(n);
  } else {
    s.u8(0xdd);
    s.u32(n);
  }
  for (const item of items) writeValue(s, item, depth + 1);
}

function writeMapHeader(s: Sink, n: number): void {
  if (n < 16) s.u8(0x80 | n);
  else if (n <= 0xffff) {
    s.u8(0xde);
    s.u16(n);
  } else {
    s.u8(0xdf);
    s.u32(n);
  }
}

function writeMap(s: Sink, entries: readonly (readonly [string, GoValue])[], depth: number): void {
  writeMapHeader(s, entries.length);
  for (const [k, v] of entries) {
    s.str(k);
    writeValue(s, v, depth + 1);
  }
}

/**
 * Struct field names as Go writes them (str header + UTF-8), encoded once: the same few dozen names recur in
 * every record. Bounded, since `extra` fields of foreign records can bring any names; past the bound, names
 * are encoded each time.
 */
const FIELD_NAMES_MAX = 4096;

interface FieldName {
  /** The name as written: str header, then UTF-8. */
  readonly encoded: Uint8Array;
  /** The UTF-8 bytes alone, which order the fields. */
  readonly utf8: Uint8Array;
}

const fieldNames = new Map<string, FieldName>();

function fieldName(k: string): FieldName {
  let f = fieldNames.get(k);
  if (f === undefined) {
    const sink = new Sink();
    sink.str(k);
    const encoded = sink.result();
    const b = encoded[0] as number;
    f = { encoded, utf8: encoded.subarray(b === 0xda ? 3 : b === 0xdb ? 5 : 1) };
    if (fieldNames.size < FIELD_NAMES_MAX) fieldNames.set(k, f);
  }
  return f;
}

/** Go's codec writes struct fields sorted by name, byte-wise. */
function byName(a: [FieldName, GoValue], b: [FieldName, GoValue]): number {
  return compareBytes(a[0].utf8, b[0].utf8);
}

function writeStruct(s: Sink, v: GoStruct, depth: number): void {
  const fields: [FieldName, GoValue][] = [];
  for (const k in v) {
    const value = v[k];
    if (value !== undefined && Object.hasOwn(v, k)) fields.push([fieldName(k), value]);
  }
  fields.sort(byName);
  writeMapHeader(s, fields.length);
  for (const [k, value] of fields) {
    s.bytes(k.encoded);
    writeValue(s, value, depth + 1);
  }
}

/** Byte-wise order, as Go sorts struct field names (and as strings compare in Go). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const decoder = new Decoder({ rawStrings: true, useBigInt64: true });

/**
 * Decodes exactly one msgpack value that fills `bytes`. Integers come back as number when safe, else bigint;
 * strings as Uint8Array (map keys as strings: Go struct field names and map keys are text).
 */
export function decodeGo(bytes: Uint8Array): Decoded {
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (err) {
    throw new MsgpackDecodeError(`decode msgpack value: ${(err as Error).message}`, { cause: err });
  }
  return normalize(raw, 0);
}

function normalize(v: unknown, depth: number): Decoded {
  if (depth > DEPTH_MAX)
    throw new MsgpackDecodeError(`decode msgpack value nested at most ${DEPTH_MAX} deep`);
  if (v === null || typeof v === "boolean" || typeof v === "number" || v instanceof Uint8Array) return v;
  if (typeof v === "bigint")
    return Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v ? Number(v) : v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalize(v[i], depth + 1);
    return v as Decoded[];
  }
  if (v instanceof ExtData || v instanceof Date) {
    // Consul's handle registers no extensions, so an ext value cannot come from Consul.
    throw new MsgpackDecodeError(
      "decode msgpack value: found an ext type, which Consul's codec never writes",
    );
  }
  if (typeof v === "object" && v !== null) {
    // In place: the decoder made this object for us alone, and a copy per map was most of decoding's cost.
    const m = v as Record<string, unknown>;
    for (const k in m) {
      const item = m[k];
      const n = normalize(item, depth + 1);
      if (n !== item) m[k] = n;
    }
    return m as DecodedMap;
  }
  throw new MsgpackDecodeError(`decode msgpack value: unexpected ${typeof v}`);
}

/**
 * Finds where the msgpack value starting at `start` ends, without decoding it: returns the end offset, or, when
 * `buf` holds only part of the value, the negated minimum total length of `buf` needed to learn more (so a
 * stream reader waits for that much instead of rescanning on every chunk). Throws on the never-used byte 0xc1.
 */
export function scanValue(buf: Uint8Array, start: number): number {
  let pos = start;
  let pending = 1; // values still to skip
  while (pending > 0) {
    if (pos >= buf.length) return -(pos + 1);
    const b = buf[pos] as number;
    const step = headerStep(buf, pos, b);
    if (step.need > 0) return -step.need;
    pos = step.next;
    if (pos > buf.length) return -pos;
    pending += step.children - 1;
  }
  return pos;
}

interface Step {
  /** Offset after this item's header and payload (children not included). */
  next: number;
  /** How many child values follow (array items, or 2 per map entry). */
  children: number;
  /** > 0 when the header itself is incomplete: the buffer length needed to read it. */
  need: number;
}

function lengthAt(buf: Uint8Array, pos: number, width: 1 | 2 | 4): number {
  if (width === 1) return buf[pos] as number;
  if (width === 2) return ((buf[pos] as number) << 8) | (buf[pos + 1] as number);
  return (
    ((buf[pos] as number) * 0x1000000 +
      (((buf[pos + 1] as number) << 16) | ((buf[pos + 2] as number) << 8) | (buf[pos + 3] as number))) >>>
    0
  );
}

/**
 * The one Step every header read fills in: scanValue reads it right away, and a record is ~20 items, so a
 * snapshot of millions of records would otherwise allocate tens of millions of small objects.
 */
const STEP: Step = { next: 0, children: 0, need: 0 };

function step(next: number, children: number, need: number): Step {
  STEP.next = next;
  STEP.children = children;
  STEP.need = need;
  return STEP;
}

/** Bytes of payload after the lead byte of the fixed-size forms (ints, floats, fixext); -1: not one. */
function fixedPayload(b: number): number {
  switch (b) {
    case 0xcc:
    case 0xd0:
      return 1;
    case 0xcd:
    case 0xd1:
    case 0xd4: // fixext1: type byte + 1 data byte
      return 2;
    case 0xce:
    case 0xd2:
    case 0xca:
      return 4;
    case 0xcf:
    case 0xd3:
    case 0xcb:
      return 8;
    case 0xd5:
      return 3;
    case 0xd6:
      return 5;
    case 0xd7:
      return 9;
    case 0xd8:
      return 17;
    default:
      return -1;
  }
}

/** One item's header: fixed-size forms here, length-prefixed ones in prefixedStep. */
function headerStep(buf: Uint8Array, pos: number, b: number): Step {
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return step(pos + 1, 0, 0);
  if (b >= 0xa0 && b <= 0xbf) return step(pos + 1 + (b & 0x1f), 0, 0);
  if (b >= 0x90 && b <= 0x9f) return step(pos + 1, b & 0x0f, 0);
  if (b >= 0x80 && b <= 0x8f) return step(pos + 1, 2 * (b & 0x0f), 0);
  const n = fixedPayload(b);
  return n >= 0 ? step(pos + 1 + n, 0, 0) : prefixedStep(buf, pos, b);
}

/** Length-prefixed forms: lead byte → width of the length and what the length counts. */
const PREFIXED_FORMS: Readonly<Record<number, readonly [1 | 2 | 4, "bytes" | "items" | "pairs" | "ext"]>> = {
  217: [1, "bytes"],
  218: [2, "bytes"],
  219: [4, "bytes"],
  196: [1, "bytes"],
  197: [2, "bytes"],
  198: [4, "bytes"],
  220: [2, "items"],
  221: [4, "items"],
  222: [2, "pairs"],
  223: [4, "pairs"],
  199: [1, "ext"],
  200: [2, "ext"],
  201: [4, "ext"],
};

function prefixedStep(buf: Uint8Array, pos: number, b: number): Step {
  const form = PREFIXED_FORMS[b];
  if (form === undefined) {
    throw new MsgpackDecodeError(`decode msgpack value: invalid byte 0x${b.toString(16)} at offset ${pos}`);
  }
  const [width, kind] = form;
  if (pos + 1 + width > buf.length) return step(0, 0, pos + 1 + width);
  const n = lengthAt(buf, pos + 1, width);
  const body = pos + 1 + width;
  if (kind === "bytes") return step(body + n, 0, 0);
  if (kind === "ext") return step(body + 1 + n, 0, 0);
  return step(body, kind === "items" ? n : 2 * n, 0);
}
