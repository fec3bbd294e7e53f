/**
 * A fuzzer for the archive reader: mutants of valid archives (Consul's fixtures and archives written here from
 * random KV records) go to `readArchive`, and each must end in a read whose state.bin equals the one it should
 * (the original's, unless the mutation meant to change it and fixed the hashes), or a typed SnapshotError with
 * a message. Never another exception, a hang, or a file left in the temp dir.
 *
 * Not exported from index.ts: a tool for `npm run fuzz` and the tests, not part of the codec. The fast-check
 * driver (arbitraries, fuzzReader) is in bench/fuzz.ts, because src/snapshot imports no package but msgpack.
 * Mutations are plain data, so a failure prints its seed and a shrunk, readable mutation.
 */
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import { constants, deflateRawSync, gunzipSync, gzipSync } from "node:zlib";
import { unreachable } from "../util/assert.js";
import { SeededRng } from "../util/rng.js";
import { writeArchive } from "./archive.js";
import { META_BYTES_MAX_DEFAULT, readArchive } from "./archive-read.js";
import { SnapshotError } from "./errors.js";
import { encodeGo } from "./gomsgpack.js";
import {
  decodeMetaJson,
  encodeMetaJson,
  encodeSha256Sums,
  META_JSON,
  SHA256SUMS,
  STATE_BIN,
} from "./meta.js";
import type { DirEntry } from "./records.js";
import { readStateBin, stateBinBytes } from "./state-bin.js";
import { BLOCK_BYTES, tarEnd, tarHeader, tarPadding } from "./tar.js";

/** A half-open byte range [lo, hi) of an archive, named for what it holds. */
export interface Region {
  readonly name: string;
  readonly lo: number;
  readonly hi: number;
}

export interface TarMember {
  readonly name: string;
  readonly data: Uint8Array;
}

/** A valid archive taken apart once, so that each mutant is cheap to build. */
export interface SeedArchive {
  readonly name: string;
  /** The archive as given (gzip). */
  readonly archive: Uint8Array;
  /** gzip header, deflate body, gzip trailer of `archive`. */
  readonly gzipRegions: readonly Region[];
  /** The decompressed tar, and its regions: each entry's header, data and padding, and the end marker. */
  readonly tar: Uint8Array;
  readonly tarRegions: readonly Region[];
  readonly members: readonly TarMember[];
  /**
   * The same tar re-compressed with a full flush at every tar region boundary, so a cut at a compressed offset
   * inside region R stops the decompressed stream inside R (or at its start). Regions in compressed offsets.
   */
  readonly segmented: Uint8Array;
  readonly segmentedRegions: readonly Region[];
  /** state.bin offsets where a record may be inserted: after the header and after each record. */
  readonly recordBoundaries: readonly number[];
  readonly stateSha256: string;
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Length of a gzip member header (RFC 1952 §2.3): fixed 10 bytes plus the optional fields FLG announces. */
function gzipHeaderBytes(b: Uint8Array): number {
  const flg = b[3] ?? 0;
  let at = 10;
  if (flg & 4) at += 2 + ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8));
  for (const bit of [8, 16]) {
    if (flg & bit) {
      while (at < b.length && b[at] !== 0) at++;
      at++;
    }
  }
  if (flg & 2) at += 2;
  return at;
}

/** Parses a plain USTAR tar as cairn and Go write it (no PAX, no long names), with its regions. */
function parseTar(tar: Uint8Array): { members: TarMember[]; regions: Region[] } {
  const members: TarMember[] = [];
  const regions: Region[] = [];
  let off = 0;
  while (off + BLOCK_BYTES <= tar.length) {
    const header = tar.subarray(off, off + BLOCK_BYTES);
    if (header.every((b) => b === 0)) break;
    const name = Buffer.from(header.subarray(0, 100)).toString("latin1").replace(/\0.*$/s, "");
    const size = Number.parseInt(Buffer.from(header.subarray(124, 136)).toString("latin1"), 8);
    const dataLo = off + BLOCK_BYTES;
    const padHi = dataLo + size + tarPadding(size).length;
    members.push({ name, data: tar.subarray(dataLo, dataLo + size) });
    regions.push({ name: `tar-header:${name}`, lo: off, hi: dataLo });
    regions.push({ name, lo: dataLo, hi: dataLo + size });
    regions.push({ name: `padding:${name}`, lo: dataLo + size, hi: padHi });
    off = padHi;
  }
  regions.push({ name: "end-marker", lo: off, hi: tar.length });
  return { members, regions: regions.filter((r) => r.hi > r.lo) };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (IEEE), for the gzip trailer; zlib.crc32 is missing before Node 20.15. */
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = (CRC_TABLE[(c ^ x) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * gzip of `tar` built from independently deflated segments, one per region: each but the last ends in a full
 * flush (byte-aligned, no back-references across it), so the concatenation is one valid deflate stream.
 */
function segmentedGzip(
  tar: Uint8Array,
  regions: readonly Region[],
): { bytes: Uint8Array; regions: Region[] } {
  const parts: Uint8Array[] = [Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)];
  const out: Region[] = [{ name: "gzip-header", lo: 0, hi: 10 }];
  let at = 10;
  regions.forEach((r, i) => {
    const last = i === regions.length - 1;
    const flush = last ? constants.Z_FINISH : constants.Z_FULL_FLUSH;
    const seg = deflateRawSync(tar.subarray(r.lo, r.hi), { finishFlush: flush });
    parts.push(seg);
    out.push({ name: r.name, lo: at, hi: at + seg.length });
    at += seg.length;
  });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(tar), 0);
  trailer.writeUInt32LE(tar.length >>> 0, 4);
  parts.push(trailer);
  out.push({ name: "gzip-trailer", lo: at, hi: at + 8 });
  return { bytes: Buffer.concat(parts), regions: out };
}

/** Offsets in state.bin between items, by reading it with the real item splitter. */
async function boundaries(state: Uint8Array): Promise<number[]> {
  const out: number[] = [];
  let at = 0;
  for await (const item of readStateBin([state])) {
    at += item.size;
    out.push(at);
  }
  return out;
}

/** Takes a valid archive apart. Throws if it is not one a plain USTAR reader can split. */
export async function prepareSeed(name: string, archive: Uint8Array): Promise<SeedArchive> {
  const tar = new Uint8Array(gunzipSync(archive));
  const { members, regions } = parseTar(tar);
  const state = members.find((m) => m.name === STATE_BIN);
  if (state === undefined) throw new Error(`seed "${name}" has no state.bin`);
  const headerBytes = gzipHeaderBytes(archive);
  const seg = segmentedGzip(tar, regions);
  return {
    name,
    archive,
    gzipRegions: [
      { name: "gzip-header", lo: 0, hi: headerBytes },
      { name: "deflate", lo: headerBytes, hi: archive.length - 8 },
      { name: "gzip-trailer", lo: archive.length - 8, hi: archive.length },
    ],
    tar,
    tarRegions: regions,
    members,
    segmented: seg.bytes,
    segmentedRegions: seg.regions,
    recordBoundaries: await boundaries(state.data),
    stateSha256: sha256(state.data),
  };
}

class Collect extends Writable {
  readonly parts: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.parts.push(chunk);
    done();
  }
}

/** A valid archive of `count` random KV records, written by writeArchive; the same for the same seed. */
export async function generateSeed(seed: number, count: number, tmpDir: string): Promise<SeedArchive> {
  const rng = new SeededRng(seed);
  const records = Array.from({ length: count }, (_, i) => {
    const value = rng.chance(0.1)
      ? null
      : Buffer.from(Array.from({ length: rng.int(0, 600) }, () => rng.int(0, 256)));
    const body: DirEntry = {
      CreateIndex: i + 1,
      ModifyIndex: i + 1 + rng.int(0, 5),
      LockIndex: 0,
      Key: `fuzz/${rng.int(0, 1_000_000)}/${i}`,
      Flags: BigInt(rng.int(0, 2 ** 31)),
      Value: value,
      Session: "",
    };
    return { kind: "KVS" as const, type: 2 as const, body };
  });
  const state = await stateBinBytes({ LastIndex: count + 10 }, records);
  const sink = new Collect();
  const meta = { ID: `2-${count + 10}-1700000000000`, Index: count + 10, Term: 2 };
  await writeArchive(sink, meta, Readable.from([state]), { tmpDir, mtimeSec: 1_700_000_000 });
  return prepareSeed(`generated-${seed}-${count}`, Buffer.concat(sink.parts));
}

export type Layer = "gzip" | "tar";
/** A bit to flip: `region` picks one of the layer's regions (modulo their count), `offset` a byte in it. */
export interface Flip {
  readonly region: number;
  readonly offset: number;
  readonly bit: number;
}
/** Tar header fields a tar-field mutation rewrites, checksum fixed, to get past the checksum to the parser. */
export type TarField = "size" | "size-base256" | "typeflag" | "name" | "prefix" | "magic" | "checksum";
export type SumsOp = "digit" | "drop-line" | "unknown-name" | "swap-names" | "empty" | "uppercase";

/** What to do to a seed. Numbers that pick (region, entry, offset) are taken modulo what the seed has. */
export type Mutation =
  | { readonly kind: "truncate"; readonly layer: Layer; readonly region: number; readonly offset: number }
  | { readonly kind: "flip"; readonly layer: Layer; readonly flips: readonly Flip[] }
  | { readonly kind: "extra-entry"; readonly name: string; readonly size: number; readonly at: number }
  | { readonly kind: "missing-entry"; readonly which: number }
  | { readonly kind: "reorder-entries"; readonly perm: number }
  | { readonly kind: "duplicate-entry"; readonly which: number; readonly at: number }
  | { readonly kind: "sums"; readonly op: SumsOp; readonly line: number; readonly pos: number }
  | { readonly kind: "no-trailer"; readonly drop: number }
  | {
      readonly kind: "trailing";
      readonly layer: Layer;
      readonly zero: boolean;
      readonly length: number;
      readonly byte: number;
    }
  | { readonly kind: "huge-meta"; readonly delta: number }
  | { readonly kind: "unknown-record"; readonly type: number; readonly at: number; readonly garbage: boolean }
  | { readonly kind: "tar-field"; readonly entry: number; readonly field: TarField; readonly value: number }
  | { readonly kind: "empty" }
  | { readonly kind: "not-gzip"; readonly variant: "random" | "plain-tar" | "zip"; readonly length: number };

export interface Mutant {
  readonly bytes: Uint8Array;
  /** What was done, with the picks resolved (region names, offsets), for failure messages. */
  readonly label: string;
  /** The state.bin SHA-256 a successful read must produce. */
  readonly expectSha256: string;
  /** A read that succeeds is itself a failure (the mutation always breaks the archive). */
  readonly mustReject: boolean;
}

/** The reader's meta.json bound, which huge-meta mutants straddle; the server uses the same default. */
export const FUZZ_META_BYTES_MAX = META_BYTES_MAX_DEFAULT;
const MTIME_SEC = 1_600_000_000;

/** A tar of `members` exactly as given (order, duplicates, any name), with cairn's headers and end marker. */
function tarOf(members: readonly TarMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members)
    parts.push(tarHeader(m.name, m.data.length, MTIME_SEC), m.data, tarPadding(m.data.length));
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

/** Level 1: the level changes nothing the reader sees, and mutants are built by the hundred thousand. */
const gzip = (tar: Uint8Array): Uint8Array => gzipSync(tar, { level: 1 });

function member(seed: SeedArchive, name: string): Uint8Array {
  return seed.members.find((m) => m.name === name)?.data ?? new Uint8Array(0);
}

/**
 * Members with state.bin replaced and, when `meta` is given, meta.json too (taken as is); otherwise the seed's
 * meta.json gets state.bin's new Size. SHA256SUMS is rewritten to match, so only the intended change is wrong.
 */
function withFixedHashes(seed: SeedArchive, meta: Uint8Array | undefined, state: Uint8Array): TarMember[] {
  const metaJson = meta ?? encodeMetaJson({ ...decodeMetaJson(member(seed, META_JSON)), Size: state.length });
  const sums = encodeSha256Sums(sha256(metaJson), sha256(state));
  return seed.members.map((m) => {
    if (m.name === META_JSON) return { name: m.name, data: metaJson };
    if (m.name === STATE_BIN) return { name: m.name, data: state };
    if (m.name === SHA256SUMS) return { name: m.name, data: sums };
    return m;
  });
}

function pick<T>(items: readonly T[], n: number): T {
  return items[n % items.length] as T;
}

function flipAll(
  bytes: Uint8Array,
  regions: readonly Region[],
  flips: readonly Flip[],
): [Uint8Array, string] {
  const out = new Uint8Array(bytes);
  const where: string[] = [];
  for (const f of flips) {
    const r = pick(regions, f.region);
    const at = r.lo + (f.offset % (r.hi - r.lo));
    out[at] = (out[at] as number) ^ (1 << f.bit);
    where.push(`${r.name}+${at - r.lo} bit ${f.bit}`);
  }
  return [out, where.join(", ")];
}

function truncate(seed: SeedArchive, m: Extract<Mutation, { kind: "truncate" }>): Mutant {
  const base = { expectSha256: seed.stateSha256 };
  if (m.layer === "gzip") {
    // Half the picks cut the archive as given, half the segmented one, whose regions name tar parts.
    const regions = [...seed.gzipRegions, ...seed.segmentedRegions];
    const r = pick(regions, m.region);
    const bytes = m.region % regions.length < seed.gzipRegions.length ? seed.archive : seed.segmented;
    const at = r.lo + (m.offset % (r.hi - r.lo));
    return {
      ...base,
      bytes: bytes.subarray(0, at),
      label: `cut gzip in ${r.name} at ${at}`,
      mustReject: true,
    };
  }
  const r = pick(seed.tarRegions, m.region);
  const at = r.lo + (m.offset % (r.hi - r.lo));
  // A tar that stops at a block boundary of the end marker ends cleanly for Go's reader (and Consul's).
  const clean = r.name === "end-marker" && (at - r.lo) % BLOCK_BYTES === 0;
  const label = `cut tar in ${r.name} at ${at}, re-gzipped`;
  return { ...base, bytes: gzip(seed.tar.subarray(0, at)), label, mustReject: !clean };
}

function flip(seed: SeedArchive, m: Extract<Mutation, { kind: "flip" }>): Mutant {
  const base = { expectSha256: seed.stateSha256, mustReject: false };
  if (m.layer === "gzip") {
    const [bytes, where] = flipAll(seed.archive, seed.gzipRegions, m.flips);
    return { ...base, bytes, label: `flip gzip ${where}` };
  }
  const [tar, where] = flipAll(seed.tar, seed.tarRegions, m.flips);
  return { ...base, bytes: gzip(tar), label: `flip tar ${where}, re-gzipped` };
}

const PERMUTATIONS = [
  [0, 2, 1],
  [1, 0, 2],
  [1, 2, 0],
  [2, 0, 1],
  [2, 1, 0],
];

type EntryMutation = Extract<
  Mutation,
  { kind: "extra-entry" | "missing-entry" | "reorder-entries" | "duplicate-entry" }
>;

function entries(seed: SeedArchive, m: EntryMutation): Mutant {
  const ms = [...seed.members];
  const base = { expectSha256: seed.stateSha256, mustReject: true };
  switch (m.kind) {
    case "extra-entry": {
      const at = m.at % (ms.length + 1);
      ms.splice(at, 0, { name: m.name, data: new Uint8Array(m.size).fill(0x61) });
      return { ...base, bytes: gzip(tarOf(ms)), label: `extra entry "${m.name}" (${m.size} bytes) at ${at}` };
    }
    case "missing-entry": {
      const [gone] = ms.splice(m.which % ms.length, 1);
      return { ...base, bytes: gzip(tarOf(ms)), label: `missing entry "${gone?.name}"` };
    }
    case "reorder-entries": {
      const perm = pick(PERMUTATIONS, m.perm);
      const order = perm.map((i) => ms[i]).filter((x): x is TarMember => x !== undefined);
      const label = `entries reordered ${order.map((x) => x.name).join(",")}`;
      return { ...base, bytes: gzip(tarOf(order)), label, mustReject: false };
    }
    case "duplicate-entry": {
      const dup = pick(ms, m.which);
      const at = m.at % (ms.length + 1);
      ms.splice(at, 0, dup);
      return { ...base, bytes: gzip(tarOf(ms)), label: `entry "${dup.name}" duplicated at ${at}` };
    }
    default:
      return unreachable(m, "build an entry mutation");
  }
}

/** SHA256SUMS changed as `op` says; every op but "uppercase" (Go's hex decoder takes either case) breaks it. */
function sums(seed: SeedArchive, m: Extract<Mutation, { kind: "sums" }>): Mutant {
  const lines = new TextDecoder()
    .decode(member(seed, SHA256SUMS))
    .split("\n")
    .filter((l) => l !== "");
  const i = m.line % Math.max(1, lines.length);
  const line = lines[i] ?? "";
  switch (m.op) {
    case "digit": {
      const pos = m.pos % 64;
      const c = line[pos] ?? "0";
      lines[i] = line.slice(0, pos) + (c === "0" ? "1" : "0") + line.slice(pos + 1);
      break;
    }
    case "drop-line":
      lines.splice(i, 1);
      break;
    case "unknown-name":
      lines.splice(i, 0, `${"ab".repeat(32)}  nope`);
      break;
    case "swap-names":
      for (const [j, l] of lines.entries())
        lines[j] = l.replace(/meta\.json|state\.bin/, (n) => (n === META_JSON ? STATE_BIN : META_JSON));
      break;
    case "empty":
      lines.length = 0;
      break;
    case "uppercase":
      lines[i] = line.replace(/^[0-9a-f]+/, (h) => h.toUpperCase());
      break;
  }
  const data = new TextEncoder().encode(lines.map((l) => `${l}\n`).join(""));
  const ms = seed.members.map((x) => (x.name === SHA256SUMS ? { name: x.name, data } : x));
  const label = `SHA256SUMS ${m.op} (line ${i})`;
  return { bytes: gzip(tarOf(ms)), label, expectSha256: seed.stateSha256, mustReject: m.op !== "uppercase" };
}

/** meta.json padded with JSON whitespace to the reader's bound plus `delta`, SHA256SUMS fixed. */
function hugeMeta(seed: SeedArchive, m: Extract<Mutation, { kind: "huge-meta" }>): Mutant {
  const meta = member(seed, META_JSON);
  const size = FUZZ_META_BYTES_MAX + m.delta;
  const padded = new Uint8Array(size).fill(0x20);
  padded[0] = 0x7b; // "{", then spaces, then the rest of the object: still the same JSON value
  padded.set(meta.subarray(1), size - (meta.length - 1));
  const ms = withFixedHashes(seed, padded, member(seed, STATE_BIN));
  const label = `meta.json of ${size} bytes (bound ${FUZZ_META_BYTES_MAX})`;
  return { bytes: gzip(tarOf(ms)), label, expectSha256: seed.stateSha256, mustReject: m.delta > 0 };
}

/**
 * A record of an unknown type inserted between two records, meta Size and hashes fixed so only the record is
 * new. The reader keeps unknown types as opaque bytes (Consul's own reader and `decode` do too; refusing
 * them is the FSM's restore's job), so a read may succeed, but then with exactly the new state.bin. A body
 * that is not msgpack must be refused.
 */
function unknownRecord(seed: SeedArchive, m: Extract<Mutation, { kind: "unknown-record" }>): Mutant {
  const state = member(seed, STATE_BIN);
  const at = pick(seed.recordBoundaries, m.at);
  const body = m.garbage ? Uint8Array.of(0xc1, 0x00) : encodeGo({ Fuzz: "unknown", N: m.at });
  const next = Buffer.concat([state.subarray(0, at), Uint8Array.of(m.type), body, state.subarray(at)]);
  const label = `record of type ${m.type} (${m.garbage ? "garbage" : "msgpack map"}) at state.bin offset ${at}`;
  return {
    bytes: gzip(tarOf(withFixedHashes(seed, undefined, next))),
    label,
    expectSha256: sha256(next),
    mustReject: m.garbage,
  };
}

function trailing(seed: SeedArchive, m: Extract<Mutation, { kind: "trailing" }>): Mutant {
  const extra = new Uint8Array(m.length).fill(m.zero ? 0 : m.byte);
  const what = `${m.length} ${m.zero ? "zero" : `0x${m.byte.toString(16)}`} bytes`;
  const base = { expectSha256: seed.stateSha256, mustReject: true };
  if (m.layer === "gzip")
    return { ...base, bytes: Buffer.concat([seed.archive, extra]), label: `${what} after the gzip stream` };
  return {
    ...base,
    bytes: gzip(Buffer.concat([seed.tar, extra])),
    label: `${what} after the tar end marker`,
  };
}

function notGzip(seed: SeedArchive, m: Extract<Mutation, { kind: "not-gzip" }>): Mutant {
  const base = { expectSha256: seed.stateSha256, mustReject: true };
  if (m.variant === "plain-tar") return { ...base, bytes: seed.tar, label: "plain tar, not gzipped" };
  if (m.variant === "zip")
    return { ...base, bytes: Buffer.from("PK\u0003\u0004\u0014\u0000"), label: "a zip header" };
  const rng = new SeededRng(m.length);
  const bytes = Uint8Array.from({ length: m.length }, () => rng.int(0, 256));
  bytes[0] = 0x1e; // never the first gzip magic byte
  return { ...base, bytes, label: `${m.length} random bytes` };
}

const TYPEFLAGS = "0\u00001256xgLKSDV7A";
const FIELD_AT: Record<TarField, [number, number]> = {
  size: [124, 12],
  "size-base256": [124, 12],
  typeflag: [156, 1],
  name: [0, 100],
  prefix: [345, 155],
  magic: [257, 8],
  checksum: [148, 8],
};

/** The bytes a tar-field mutation writes into the field, from `value`. */
function fieldBytes(field: TarField, value: number): Uint8Array {
  const [, width] = FIELD_AT[field];
  const out = new Uint8Array(width);
  if (field === "size-base256") {
    out[0] = 0x80;
    for (let i = width - 1, v = value; i > 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
    if (value % 7 === 0) out.fill(0xff, 1); // the largest: beyond any safe integer
    return out;
  }
  const text = {
    size: `${value.toString(8).slice(0, 11).padStart(11, "0")}\0`,
    typeflag: TYPEFLAGS[value % TYPEFLAGS.length] as string,
    name: ["", "meta.json", "state.bin", "SHA256SUMS", "../state.bin", "nope"][value % 6] as string,
    prefix: ["", "a", "meta.json", "x/y"][value % 4] as string,
    magic: ["ustar\u000000", "ustar  \0", "\0\0\0\0\0\0\0\0", "ustar\u0000xx"][value % 4] as string,
    checksum: ["", "0", "9999999\0", " 777777 "][value % 4] as string,
  }[field];
  out.set(new TextEncoder().encode(text).subarray(0, width));
  return out;
}

/** One field of one member's tar header rewritten; the checksum is recomputed unless it is the field. */
function tarField(seed: SeedArchive, m: Extract<Mutation, { kind: "tar-field" }>): Mutant {
  const headers = seed.tarRegions.filter((r) => r.name.startsWith("tar-header:"));
  const h = pick(headers, m.entry);
  const tar = new Uint8Array(seed.tar);
  const [at, width] = FIELD_AT[m.field];
  const block = tar.subarray(h.lo, h.hi);
  block.set(fieldBytes(m.field, m.value).subarray(0, width), at);
  if (m.field !== "checksum") {
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of block) sum += b;
    block.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
  }
  const label = `${h.name} field ${m.field} set from ${m.value}, re-gzipped`;
  return { bytes: gzip(tar), label, expectSha256: seed.stateSha256, mustReject: false };
}

/** Builds the mutant `m` of `seed`. Pure: the same inputs give the same bytes. */
export function buildMutant(seed: SeedArchive, m: Mutation): Mutant {
  switch (m.kind) {
    case "truncate":
      return truncate(seed, m);
    case "flip":
      return flip(seed, m);
    case "extra-entry":
    case "missing-entry":
    case "reorder-entries":
    case "duplicate-entry":
      return entries(seed, m);
    case "sums":
      return sums(seed, m);
    case "no-trailer": {
      const bytes = seed.archive.subarray(0, seed.archive.length - m.drop);
      return {
        bytes,
        label: `gzip trailer: last ${m.drop} bytes gone`,
        expectSha256: seed.stateSha256,
        mustReject: true,
      };
    }
    case "trailing":
      return trailing(seed, m);
    case "huge-meta":
      return hugeMeta(seed, m);
    case "unknown-record":
      return unknownRecord(seed, m);
    case "tar-field":
      return tarField(seed, m);
    case "empty":
      return {
        bytes: new Uint8Array(0),
        label: "empty file",
        expectSha256: seed.stateSha256,
        mustReject: true,
      };
    case "not-gzip":
      return notGzip(seed, m);
  }
}

/** How a read ended: accepted, or refused with a SnapshotError code. */
export type Outcome =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly code: string; readonly message: string };

/** How the reader is fed: chunks of `size` (1-byte ones cross every boundary of a small mutant), also cut at
 * `cuts` (offsets modulo the length, counted from the end: the gzip trailer and what follows it matter most). */
export interface Feed {
  readonly size: number;
  readonly cuts: readonly number[];
}

/**
 * At most this many chunks per read: each chunk is a zlib call on the thread pool, and 4096 of them made a
 * read of a 35 KB fixture cost ~100 ms. The `cuts` still put a boundary anywhere.
 */
const CHUNKS_MAX = 256;

function* chunked(bytes: Uint8Array, feed: Feed): Generator<Uint8Array> {
  const step = Math.max(feed.size, Math.ceil(bytes.length / CHUNKS_MAX));
  const cuts = new Set(feed.cuts.map((c) => bytes.length - (c % (bytes.length + 1))));
  for (let i = step; i < bytes.length; i += step) cuts.add(i);
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= at || cut >= bytes.length) continue;
    yield bytes.subarray(at, cut);
    at = cut;
  }
  if (at < bytes.length) yield bytes.subarray(at);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (hang)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Feeds one mutant to readArchive in `tmpDir` (which must be empty) and checks the contract; throws an Error
 * naming the mutant on any breach. Returns how the read ended.
 */
export async function checkMutant(
  mutant: Mutant,
  feed: Feed,
  tmpDir: string,
  timeoutMs: number,
): Promise<Outcome> {
  const what = `mutant "${mutant.label}"`;
  let result: { readonly sha: string } | SnapshotError;
  try {
    const archive = await withTimeout(readArchive(chunked(mutant.bytes, feed), { tmpDir }), timeoutMs, what);
    result = { sha: archive.stateBin.sha256 };
    await archive.stateBin.remove();
  } catch (err) {
    if (!(err instanceof SnapshotError))
      throw new Error(`${what} threw ${describe(err)}, not a SnapshotError`, { cause: err });
    result = err;
  }
  const left = await readdir(tmpDir);
  if (left.length > 0) throw new Error(`${what} left ${JSON.stringify(left)} in the temp dir`);
  if (result instanceof SnapshotError) {
    if (result.message === "")
      throw new Error(`${what}: ${result.name} "${result.code}" has an empty message`);
    return { accepted: false, code: result.code, message: result.message };
  }
  if (mutant.mustReject) throw new Error(`${what} was accepted; it must be refused`);
  if (result.sha !== mutant.expectSha256)
    throw new Error(`${what} was accepted with state.bin ${result.sha}, want ${mutant.expectSha256}`);
  return { accepted: true };
}
