/**
 * The fuzzer's mutation operators (fuzz.ts): what can be done to a seed archive (Mutation, plain data so a
 * failure prints a readable, shrunk one) and how each mutant is built, with the state.bin a successful read
 * must produce and whether any read must refuse it. Pure: the same seed and mutation give the same bytes.
 */
import { gzipSync } from "node:zlib";
import { unreachable } from "../util/assert.js";
import { SeededRng } from "../util/rng.js";
import { META_BYTES_MAX_DEFAULT } from "./archive-read.js";
import { type Region, type SeedArchive, sha256, type TarMember } from "./fuzz-seed.js";
import { encodeGo } from "./gomsgpack.js";
import {
  decodeMetaJson,
  encodeMetaJson,
  encodeSha256Sums,
  META_JSON,
  SHA256SUMS,
  STATE_BIN,
} from "./meta.js";
import { BLOCK_BYTES, tarEnd, tarHeader, tarPadding } from "./tar.js";

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
