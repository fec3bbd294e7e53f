/**
 * The fuzzer's seeds (fuzz.ts): valid archives (Consul's fixtures, or ones written here from random KV
 * records) taken apart once into their gzip and tar regions, members and state.bin record boundaries, so that
 * each mutant (fuzz-mutate.ts) is cheap to build and its label can name the part it hit.
 */
import { createHash } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { constants, deflateRawSync, gunzipSync } from "node:zlib";
import { SeededRng } from "../util/rng.js";
import { writeArchive } from "./archive.js";
import { STATE_BIN } from "./meta.js";
import type { DirEntry } from "./records.js";
import { readStateBin, stateBinBytes } from "./state-bin.js";
import { BLOCK_BYTES, tarPadding } from "./tar.js";

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

export const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

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
