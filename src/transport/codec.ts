/**
 * Compact binary encoding of raft Messages for the wire.
 *
 * Layout (all integers unsigned LEB128 varints unless noted, canonical: no overlong forms):
 *   u8 version | u8 type | from | to | term | index | logTerm | commit | rejectHint | hintTerm | context
 *   | u8 flags (bit 0 reject, bit 1 transfer, bit 2 snapshot present)
 *   | entry count | per entry: term, index, u8 kind, data length, data bytes
 *   | snapshot (if flagged): index, term, voter count, voters..., learner count, learners..., handle length, UTF-8
 * Decoding trusts nothing: every length is checked against the bytes left, every enum against its table, every
 * integer against Number.MAX_SAFE_INTEGER, and trailing bytes are refused. Failures throw CodecError.
 */
import type { Entry, EntryKind, Message, MessageType, SnapshotMeta } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { CodecError } from "./errors.js";

export const CODEC_VERSION = 1;

/** Order is the wire value: append only, never reorder. */
const MESSAGE_TYPES: readonly MessageType[] = [
  "app",
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "heartbeat",
  "heartbeatResp",
  "snap",
  "timeoutNow",
  "readIndex",
  "readIndexResp",
  "prop",
];
const ENTRY_KINDS: readonly EntryKind[] = ["normal", "conf", "restore"];
const MESSAGE_TYPE_CODE = new Map(MESSAGE_TYPES.map((t, i) => [t, i]));
const ENTRY_KIND_CODE = new Map(ENTRY_KINDS.map((k, i) => [k, i]));

const FLAG_REJECT = 1;
const FLAG_TRANSFER = 2;
const FLAG_SNAPSHOT = 4;
const FLAGS_KNOWN = FLAG_REJECT | FLAG_TRANSFER | FLAG_SNAPSHOT;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** Bytes a varint of `n` takes. Invariant: n is a non-negative safe integer. */
export function varintBytes(n: number): number {
  let bytes = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) bytes++;
  return bytes;
}

/** Fills a pre-sized buffer; sizes are computed up front so an encode is one allocation. */
export class Writer {
  readonly buf: Uint8Array;
  pos: number;
  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }
  u8(v: number): void {
    assert(this.pos < this.buf.length, "writer overflow: size computed too small");
    this.buf[this.pos++] = v;
  }
  varint(n: number): void {
    assert(Number.isSafeInteger(n) && n >= 0, `cannot encode ${n}: not a non-negative safe integer`);
    let v = n;
    while (v >= 0x80) {
      this.u8((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.u8(v);
  }
  bytes(b: Uint8Array): void {
    assert(this.pos + b.length <= this.buf.length, "writer overflow: size computed too small");
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** Reads untrusted bytes; every read checks bounds and throws CodecError instead of reading past the end. */
export class Reader {
  private readonly buf: Uint8Array;
  pos: number;
  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.pos = 0;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  u8(what: string): number {
    const v = this.buf[this.pos];
    if (v === undefined) throw new CodecError(`cannot read ${what}: input ends at byte ${this.pos}`);
    this.pos++;
    return v;
  }
  varint(what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (i > 0 && b === 0)
          throw new CodecError(`cannot read ${what}: overlong varint at byte ${this.pos - 1}`);
        if (!Number.isSafeInteger(value))
          throw new CodecError(`cannot read ${what}: ${value} is not a safe integer`);
        return value;
      }
      scale *= 0x80;
    }
    throw new CodecError(`cannot read ${what}: varint longer than 8 bytes at byte ${this.pos}`);
  }
  /** A length-prefixed count, refused when it cannot fit in what is left (each item takes >= `minItemBytes`). */
  count(what: string, minItemBytes: number): number {
    const n = this.varint(what);
    if (n * minItemBytes > this.remaining) {
      throw new CodecError(`cannot read ${what}: ${n} items do not fit in ${this.remaining} bytes left`);
    }
    return n;
  }
  /** A view (not a copy) of the next `n` bytes, as a plain Uint8Array whatever the input's class. */
  bytes(n: number, what: string): Uint8Array {
    if (n > this.remaining)
      throw new CodecError(`cannot read ${what}: ${n} bytes wanted, ${this.remaining} left`);
    const out = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }
  string(what: string): string {
    const n = this.varint(`${what} length`);
    try {
      return utf8Strict.decode(this.bytes(n, what));
    } catch (err) {
      if (err instanceof CodecError) throw err;
      throw new CodecError(`cannot read ${what}: not valid UTF-8`);
    }
  }
  end(what: string): void {
    if (this.remaining !== 0) throw new CodecError(`cannot decode ${what}: ${this.remaining} trailing bytes`);
  }
}

function stringBytes(s: string): Uint8Array {
  return utf8.encode(s);
}

function snapshotBytes(s: SnapshotMeta, handle: Uint8Array): number {
  let n = varintBytes(s.index) + varintBytes(s.term);
  n += varintBytes(s.conf.voters.length) + varintBytes(s.conf.learners.length);
  for (const id of s.conf.voters) n += varintBytes(id);
  for (const id of s.conf.learners) n += varintBytes(id);
  return n + varintBytes(handle.length) + handle.length;
}

function entryBytes(e: Entry): number {
  return varintBytes(e.term) + varintBytes(e.index) + 1 + varintBytes(e.data.length) + e.data.length;
}

const HEADER_FIELDS = [
  "from",
  "to",
  "term",
  "index",
  "logTerm",
  "commit",
  "rejectHint",
  "hintTerm",
  "context",
] as const;

/** Bytes `encodeMessage(m)` produces (without any frame header). */
export function messageBytes(
  m: Message,
  handle = m.snapshot ? stringBytes(m.snapshot.handle) : null,
): number {
  let n = 2 + 1;
  for (const f of HEADER_FIELDS) n += varintBytes(m[f]);
  n += varintBytes(m.entries.length);
  for (const e of m.entries) n += entryBytes(e);
  if (m.snapshot && handle) n += snapshotBytes(m.snapshot, handle);
  return n;
}

/**
 * Encodes `m` into a new buffer with `headroom` spare bytes in front (the frame header, so a queued message is
 * one allocation). Invariant: m is well formed (safe non-negative integers, known enums): a bad one is a bug.
 */
export function encodeMessage(m: Message, headroom = 0): Uint8Array {
  const handle = m.snapshot ? stringBytes(m.snapshot.handle) : null;
  const buf = new Uint8Array(headroom + messageBytes(m, handle));
  const w = new Writer(buf, headroom);
  const type = MESSAGE_TYPE_CODE.get(m.type);
  assert(type !== undefined, `cannot encode message type "${m.type}"`);
  w.u8(CODEC_VERSION);
  w.u8(type);
  for (const f of HEADER_FIELDS) w.varint(m[f]);
  w.u8((m.reject ? FLAG_REJECT : 0) | (m.transfer ? FLAG_TRANSFER : 0) | (m.snapshot ? FLAG_SNAPSHOT : 0));
  w.varint(m.entries.length);
  for (const e of m.entries) {
    const kind = ENTRY_KIND_CODE.get(e.kind);
    assert(kind !== undefined, `cannot encode entry kind "${e.kind}"`);
    w.varint(e.term);
    w.varint(e.index);
    w.u8(kind);
    w.varint(e.data.length);
    w.bytes(e.data);
  }
  if (m.snapshot && handle) writeSnapshot(w, m.snapshot, handle);
  assert(w.pos === buf.length, `encoded ${w.pos} bytes, computed ${buf.length}`);
  return buf;
}

function writeSnapshot(w: Writer, s: SnapshotMeta, handle: Uint8Array): void {
  w.varint(s.index);
  w.varint(s.term);
  w.varint(s.conf.voters.length);
  for (const id of s.conf.voters) w.varint(id);
  w.varint(s.conf.learners.length);
  for (const id of s.conf.learners) w.varint(id);
  w.varint(handle.length);
  w.bytes(handle);
}

/** Decodes one message; throws CodecError on anything malformed. Entry data are views into `buf`. */
export function decodeMessage(buf: Uint8Array): Message {
  const r = new Reader(buf);
  const version = r.u8("version");
  if (version !== CODEC_VERSION) throw new CodecError(`cannot decode message: unknown version ${version}`);
  const typeCode = r.u8("type");
  const type = MESSAGE_TYPES[typeCode];
  if (type === undefined) throw new CodecError(`cannot decode message: unknown type ${typeCode}`);
  const [from, to, term, index, logTerm, commit, rejectHint, hintTerm, context] = HEADER_FIELDS.map((f) =>
    r.varint(f),
  ) as [number, number, number, number, number, number, number, number, number];
  const flags = r.u8("flags");
  if ((flags & ~FLAGS_KNOWN) !== 0) throw new CodecError(`cannot decode message: unknown flags ${flags}`);
  // An entry takes at least 4 bytes (term, index, kind, length), which bounds the count before any allocation.
  const entryCount = r.count("entry count", 4);
  const entries: Entry[] = [];
  for (let i = 0; i < entryCount; i++) entries.push(readEntry(r, i));
  const snapshot = (flags & FLAG_SNAPSHOT) !== 0 ? readSnapshot(r) : null;
  r.end("message");
  const reject = (flags & FLAG_REJECT) !== 0;
  const transfer = (flags & FLAG_TRANSFER) !== 0;
  return {
    type,
    from,
    to,
    term,
    index,
    logTerm,
    entries,
    commit,
    reject,
    rejectHint,
    hintTerm,
    snapshot,
    context,
    transfer,
  };
}

function readEntry(r: Reader, i: number): Entry {
  const term = r.varint(`entry ${i} term`);
  const index = r.varint(`entry ${i} index`);
  const kindCode = r.u8(`entry ${i} kind`);
  const kind = ENTRY_KINDS[kindCode];
  if (kind === undefined) throw new CodecError(`cannot decode entry ${i}: unknown kind ${kindCode}`);
  const data = r.bytes(r.varint(`entry ${i} data length`), `entry ${i} data`);
  return { term, index, kind, data };
}

function readSnapshot(r: Reader): SnapshotMeta {
  const index = r.varint("snapshot index");
  const term = r.varint("snapshot term");
  const voters: number[] = [];
  const voterCount = r.count("voter count", 1);
  for (let i = 0; i < voterCount; i++) voters.push(r.varint("voter"));
  const learners: number[] = [];
  const learnerCount = r.count("learner count", 1);
  for (let i = 0; i < learnerCount; i++) learners.push(r.varint("learner"));
  const handle = r.string("snapshot handle");
  return { index, term, conf: { voters, learners }, handle };
}
