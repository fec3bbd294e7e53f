/**
 * Fast paths for the record that fills nearly every snapshot: structs.DirEntry (KVS and tombstones). A
 * snapshot of 1 M keys encodes and decodes 1 M of them, and the general codec (records.ts over gomsgpack.ts,
 * @msgpack/msgpack and Fields) spends most of its time building and walking intermediate objects.
 *
 * Each fast path handles only the common shape, and answers exactly what the general path answers for it:
 * - decode: a map of only the seven CE fields, each scalar in an expected form; anything else (Enterprise
 *   fields, unknown keys, a duplicate, a wrong type, bad UTF-8, trailing bytes) returns null, and the caller
 *   takes the general path, which decodes it or reports the error in its own words;
 * - encode: an entry without Namespace, Partition or extra fields, written in Go's sorted field order.
 * dir-entry-fast.test.ts checks both against the general path on random and mutated input.
 */
import type { DirEntry } from "./records.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** The CE fields in Go's order (sorted by name), as the encoder writes them. */
const NAMES = ["CreateIndex", "Flags", "Key", "LockIndex", "ModifyIndex", "Session", "Value"] as const;
const NAME_BYTES = NAMES.map((n) => utf8Encoder.encode(n));
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Which CE field the fixstr key at `pos` names, or -1. */
function fieldAt(b: Uint8Array, pos: number): number {
  const head = b[pos] as number;
  if ((head & 0xe0) !== 0xa0) return -1;
  const n = head & 0x1f;
  for (let f = 0; f < NAME_BYTES.length; f++) {
    const name = NAME_BYTES[f] as Uint8Array;
    if (name.length !== n) continue;
    let same = true;
    for (let i = 0; i < n; i++) {
      if (b[pos + 1 + i] !== name[i]) {
        same = false;
        break;
      }
    }
    if (same) return f;
  }
  return -1;
}

/** Cursor state of one decode; `ok` false means "take the general path". */
interface Cur {
  pos: number;
  ok: boolean;
  /** The span [start, end) of the last bytes value spanBytes found; start -1 for nil. */
  start: number;
  end: number;
}

/** An unsigned integer in any width the general decoder turns into a number or bigint ≥ 0. */
function readUint(b: Uint8Array, c: Cur): bigint | number | null {
  const at = c.pos;
  const h = b[at] as number;
  if (h <= 0x7f) {
    c.pos = at + 1;
    return h;
  }
  if (h === 0xc0) {
    c.pos = at + 1;
    return null;
  }
  if (h === 0xcc && at + 2 <= b.length) {
    c.pos = at + 2;
    return b[at + 1] as number;
  }
  if (h === 0xcd && at + 3 <= b.length) {
    c.pos = at + 3;
    return ((b[at + 1] as number) << 8) | (b[at + 2] as number);
  }
  if (h === 0xce && at + 5 <= b.length) {
    c.pos = at + 5;
    return (
      (b[at + 1] as number) * 0x1000000 +
      (((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 8) | (b[at + 4] as number))
    );
  }
  if (h === 0xcf && at + 9 <= b.length) {
    c.pos = at + 9;
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at + 1);
    return v <= MAX_SAFE ? Number(v) : v;
  }
  c.ok = false;
  return null;
}

/**
 * Finds a string or binary value (the general decoder makes both bytes): sets `c.start`/`c.end` to its
 * bytes' span in `b` (start -1 for nil) and moves past it; `c.ok` false when it is neither.
 */
function spanBytes(b: Uint8Array, c: Cur): void {
  const at = c.pos;
  const h = b[at] as number;
  let n: number;
  let head: number;
  if ((h & 0xe0) === 0xa0) {
    n = h & 0x1f;
    head = 1;
  } else if (h === 0xc0) {
    c.pos = at + 1;
    c.start = -1;
    return;
  } else if ((h === 0xd9 || h === 0xc4) && at + 2 <= b.length) {
    n = b[at + 1] as number;
    head = 2;
  } else if ((h === 0xda || h === 0xc5) && at + 3 <= b.length) {
    n = ((b[at + 1] as number) << 8) | (b[at + 2] as number);
    head = 3;
  } else if ((h === 0xdb || h === 0xc6) && at + 5 <= b.length) {
    n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at + 1);
    head = 5;
  } else {
    c.ok = false;
    return;
  }
  const end = at + head + n;
  if (end > b.length) {
    c.ok = false;
    return;
  }
  c.pos = end;
  c.start = at + head;
  c.end = end;
}

/** A string or binary value as a view into `b`; null for nil (see spanBytes). */
function readBytes(b: Uint8Array, c: Cur): Uint8Array | null {
  spanBytes(b, c);
  return !c.ok || c.start < 0 ? null : b.subarray(c.start, c.end);
}

function text(v: Uint8Array | null, c: Cur): string {
  if (v === null || v.length === 0) return "";
  try {
    return utf8.decode(v);
  } catch {
    c.ok = false; // the general path names the field in its error
    return "";
  }
}

/** A uint kept as number: within 2^53, else the general path's error. */
function safe(v: bigint | number | null | undefined, c: Cur): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === "bigint") {
    c.ok = false;
    return 0;
  }
  return v;
}

/** The entry count of the fixmap `b` starts with; -1 when it does not start with one. */
function fixmapCount(b: Uint8Array): number {
  if (b.length === 0) return -1;
  const h = b[0] as number;
  return (h & 0xf0) === 0x80 ? h & 0x0f : -1;
}

/**
 * The CE field named at `c.pos` (its index in NAMES), moving past the name; -1 when the fast shape ends
 * there: the body ends, the name is another or one already `seen` (a bit per field), or no value follows.
 */
function nextField(b: Uint8Array, c: Cur, seen: number): number {
  if (c.pos >= b.length) return -1;
  const f = fieldAt(b, c.pos);
  if (f < 0 || (seen & (1 << f)) !== 0) return -1;
  c.pos += 1 + (NAME_BYTES[f] as Uint8Array).length;
  return c.pos < b.length ? f : -1;
}

/** Decodes a DirEntry body of the common CE shape; null: not that shape, use the general path. */
export function decodeDirEntryFast(b: Uint8Array): DirEntry | null {
  const count = fixmapCount(b);
  if (count < 0) return null;
  const c: Cur = { pos: 1, ok: true, start: -1, end: -1 };
  // One slot per field of NAMES (undefined: absent), and a bit per field seen, to refuse duplicates.
  const got: (bigint | number | Uint8Array | null | undefined)[] = [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ];
  let seen = 0;
  for (let i = 0; i < count && c.ok; i++) {
    const f = nextField(b, c, seen);
    if (f < 0) return null;
    seen |= 1 << f;
    // Key, Session and Value (2, 5, 6) are byte strings; the others unsigned integers.
    got[f] = f === 2 || f === 5 || f === 6 ? readBytes(b, c) : readUint(b, c);
  }
  if (!c.ok || c.pos !== b.length) return null;
  const flags = got[1] ?? null;
  const entry: DirEntry = {
    CreateIndex: safe(got[0] as bigint | number | null | undefined, c),
    // The literal is one shared value; BigInt(0) would allocate one per entry.
    Flags: flags === null || flags === 0 ? 0n : BigInt(flags as number | bigint),
    Key: text((got[2] ?? null) as Uint8Array | null, c),
    LockIndex: safe(got[3] as bigint | number | null | undefined, c),
    ModifyIndex: safe(got[4] as bigint | number | null | undefined, c),
    Session: text((got[5] ?? null) as Uint8Array | null, c),
    Value: (got[6] ?? null) as Uint8Array | null,
  };
  return c.ok ? entry : null;
}

/** The cursor checkDirEntryFast reuses (checking is synchronous), so a check allocates nothing. */
const checkCur: Cur = { pos: 0, ok: true, start: -1, end: -1 };

/**
 * Whether decodeDirEntryFast(b) returns an entry (rather than null), found without building it: the same
 * walk over the same fields, with strings checked as UTF-8 instead of decoded. A verifier that only needs
 * "does this record decode" answers true at once, and takes the decoding paths for anything else.
 */
export function checkDirEntryFast(b: Uint8Array): boolean {
  const count = fixmapCount(b);
  if (count < 0) return false;
  const c = checkCur;
  c.pos = 1;
  c.ok = true;
  let seen = 0;
  for (let i = 0; i < count && c.ok; i++) {
    const f = nextField(b, c, seen);
    if (f < 0) return false;
    seen |= 1 << f;
    if (f === 6) spanBytes(b, c);
    else if (f === 2 || f === 5) {
      spanBytes(b, c);
      if (c.ok && c.start >= 0 && !utf8Valid(b, c.start, c.end)) return false;
    } else {
      // Flags (1) may be any uint64; the indexes must stay within 2^53 (decode's `safe`).
      const v = readUint(b, c);
      if (f !== 1 && typeof v === "bigint") return false;
    }
  }
  return c.ok && c.pos === b.length;
}

/**
 * Whether b[start, end) is well-formed UTF-8: an ASCII run is checked in place (nearly every key), and from
 * the first other byte on, the fatal decoder `text` uses judges it (an ASCII byte always ends a character).
 */
function utf8Valid(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && (b[i] as number) < 0x80) i++;
  if (i === end) return true;
  try {
    utf8.decode(b.subarray(i, end));
    return true;
  } catch {
    return false;
  }
}

/** Whether encodeDirEntryFast can write `e` (no Enterprise or extra fields, values in range). */
function plain(e: DirEntry): boolean {
  return (
    e.Namespace === undefined &&
    e.Partition === undefined &&
    (e.extra === undefined || Object.keys(e.extra).length === 0) &&
    e.Flags >= 0n &&
    e.Flags < U64_END &&
    uint53(e.CreateIndex) &&
    uint53(e.LockIndex) &&
    uint53(e.ModifyIndex)
  );
}

const U64_END = 1n << 64n;
const uint53 = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** Encoded field names (fixstr header + name), in Go's order. */
const NAME_FIELDS = NAME_BYTES.map((n) => Uint8Array.of(0xa0 | n.length, ...n));

/**
 * Bytes of the msgpack uint Out.uint writes for `v` (the smallest form, as Go's encoder picks): the one rule
 * both the writer and the sizer (dirEntryBytes) follow, so a size computed ahead matches the bytes written.
 */
export function uintBytes(v: number | bigint): 1 | 2 | 3 | 5 | 9 {
  if (typeof v === "bigint" && v > 0xffffffffn) return 9;
  const n = Number(v);
  if (n <= 0x7f) return 1;
  if (n <= 0xff) return 2;
  if (n <= 0xffff) return 3;
  if (n <= 0xffffffff) return 5;
  return 9;
}

/** Bytes of the header of a str of `n` bytes in Go's str family (fixstr, str16 or str32, never str8). */
export function strHeaderBytes(n: number): 1 | 3 | 5 {
  if (n < 32) return 1;
  if (n <= 0xffff) return 3;
  return 5;
}

/** UTF-8 length of `v` as TextEncoder encodes it (a lone surrogate becomes U+FFFD, 3 bytes), as Out.text writes it. */
export function utf8Bytes(v: string): number {
  const n = v.length;
  let i = 0;
  while (i < n && v.charCodeAt(i) <= 0x7f) i++;
  return i === n ? n : i + Buffer.byteLength(v.slice(i), "utf8");
}

/**
 * A msgpack writer at `at` in `buf`. encodeDirEntryFast reuses one over a private buffer (encoding is
 * synchronous) and copies the result out; a state.bin writer points one at the chunk it fills (`target`),
 * so a record is encoded where it will be sent, with no copy.
 */
export class Out {
  buf: Uint8Array;
  view: DataView;
  at = 0;
  constructor(buf: Uint8Array = new Uint8Array(1024)) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  /** Writes from now on into `buf` at `at`; the caller keeps room there for what it writes. */
  target(buf: Uint8Array, at: number): void {
    if (buf !== this.buf) {
      this.buf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    this.at = at;
  }
  /** Starts an encoding at 0 that needs at most `size` bytes, growing the buffer when needed. */
  begin(size: number): void {
    if (size > this.buf.length) this.target(new Uint8Array(Math.max(size, 2 * this.buf.length)), 0);
    this.at = 0;
  }
  uint(v: number | bigint): void {
    const size = uintBytes(v);
    if (size === 1) this.buf[this.at] = Number(v);
    else if (size === 2) {
      this.buf[this.at] = 0xcc;
      this.buf[this.at + 1] = Number(v);
    } else if (size === 3) {
      this.buf[this.at] = 0xcd;
      this.view.setUint16(this.at + 1, Number(v));
    } else if (size === 5) {
      this.buf[this.at] = 0xce;
      this.view.setUint32(this.at + 1, Number(v));
    } else {
      this.buf[this.at] = 0xcf;
      this.view.setBigUint64(this.at + 1, BigInt(v));
    }
    this.at += size;
  }
  /** Go's str family (fixstr, str16 or str32, never str8): header for `n` bytes at `at`, returns its length. */
  private header(at: number, n: number): number {
    const size = strHeaderBytes(n);
    if (size === 1) this.buf[at] = 0xa0 | n;
    else if (size === 3) {
      this.buf[at] = 0xda;
      this.view.setUint16(at + 1, n);
    } else {
      this.buf[at] = 0xdb;
      this.view.setUint32(at + 1, n);
    }
    return size;
  }
  bytes(b: Uint8Array): void {
    this.at += this.header(this.at, b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
  /**
   * A string UTF-8 encoded in place. ASCII up to ASCII_RUN_MAX units (nearly every key) is copied unit by
   * unit after its header; otherwise the string is encoded after room for the longest header, moved up
   * when shorter.
   */
  text(v: string): void {
    const n = v.length;
    if (n <= ASCII_RUN_MAX) {
      const h = this.header(this.at, n);
      const b = this.buf;
      const from = this.at + h;
      let i = 0;
      while (i < n) {
        const c = v.charCodeAt(i);
        if (c > 0x7f) break;
        b[from + i] = c;
        i++;
      }
      if (i === n) {
        this.at = from + n;
        return;
      }
    }
    const { written } = utf8Encoder.encodeInto(v, this.buf.subarray(this.at + 5));
    const h = this.header(this.at, written);
    if (h !== 5) this.buf.copyWithin(this.at + h, this.at + 5, this.at + 5 + written);
    this.at += h + written;
  }
  name(f: number): void {
    const b = NAME_FIELDS[f] as Uint8Array;
    this.buf.set(b, this.at);
    this.at += b.length;
  }
}

/** Strings up to this many UTF-16 units are tried as ASCII first (a key is rarely longer). */
const ASCII_RUN_MAX = 256;

const out = new Out();

/** The most bytes writeDirEntry writes for `e`. */
export function dirEntryBytesMax(e: DirEntry): number {
  // Names (~60 B), 7 headers of <= 9 B, the value, and the two strings at <= 3 B per UTF-16 unit.
  return 160 + 3 * (e.Key.length + e.Session.length) + (e.Value?.length ?? 0);
}

/** The map header and the seven encoded field names: the same bytes in every plain entry. */
const FIXED_BYTES = 1 + NAME_FIELDS.reduce((sum, f) => sum + f.length, 0);

/**
 * Exactly how many bytes writeDirEntry writes for `e`, computed without writing them (the size-only twin: the
 * same field list, through uintBytes, strHeaderBytes and utf8Bytes, which the writer uses too); -1 when `e`
 * is not plain (writeDirEntry refuses it, and the caller sizes the general encoding instead).
 */
export function dirEntryBytes(e: DirEntry): number {
  if (!plain(e)) return -1;
  const key = utf8Bytes(e.Key);
  const session = utf8Bytes(e.Session);
  const value = e.Value === null ? 1 : strHeaderBytes(e.Value.length) + e.Value.length;
  return (
    FIXED_BYTES +
    uintBytes(e.CreateIndex) +
    uintBytes(e.Flags) +
    strHeaderBytes(key) +
    key +
    uintBytes(e.LockIndex) +
    uintBytes(e.ModifyIndex) +
    strHeaderBytes(session) +
    session +
    value
  );
}

/** Encodes a plain DirEntry exactly as encodeGo(dirEntryToGo(e)) does; null when `e` is not plain. */
export function encodeDirEntryFast(e: DirEntry): Uint8Array | null {
  out.begin(dirEntryBytesMax(e));
  return writeDirEntry(out, e) ? out.buf.slice(0, out.at) : null;
}

/**
 * Writes a plain DirEntry at `o.at` (room for dirEntryBytesMax(e) there), as encodeDirEntryFast would;
 * false, with nothing written, when `e` is not plain.
 */
export function writeDirEntry(o: Out, e: DirEntry): boolean {
  if (!plain(e)) return false;
  o.buf[o.at++] = 0x87;
  o.name(0);
  o.uint(e.CreateIndex);
  o.name(1);
  o.uint(e.Flags);
  o.name(2);
  o.text(e.Key);
  o.name(3);
  o.uint(e.LockIndex);
  o.name(4);
  o.uint(e.ModifyIndex);
  o.name(5);
  o.text(e.Session);
  o.name(6);
  if (e.Value === null) o.buf[o.at++] = 0xc0;
  else o.bytes(e.Value);
  return true;
}
