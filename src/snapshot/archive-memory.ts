/**
 * A small archive made in one buffer, without streams: what a server saves for a small state (a small
 * cluster, the simulator) every few entries. The same bytes as the streamed writer (archive.ts) for the same
 * input and options, from the same layout rules (archive-layout.ts): state.bin hashed once, the tar
 * assembled in one buffer and deflated in one call (zlib's output does not depend on how its input was cut
 * when nothing flushes), or framed as stored blocks chunk by chunk as the stream frames them (level 0).
 */
import { gzipSync } from "node:zlib";
import { assert } from "../util/assert.js";
import {
  type ArchiveMetaInput,
  buildMeta,
  GZIP_OS_BYTE,
  sha256Hex,
  tarBytes,
  tarHead,
  tarTail,
} from "./archive-layout.js";
import { levelOfSamplesOnLoop, POOLED_CHUNK_BYTES, sampleWindows } from "./gzip-level.js";
import { gzipStoredOf } from "./gzip-stored.js";
import { encodeMetaJson, type SnapshotMeta } from "./meta.js";

/**
 * Up to this size a state.bin's archive is made in memory and deflated on the event loop in one call: zlib's
 * stream costs a thread-pool round trip and fresh 256 KiB buffers per chunk, and the stream machinery
 * (pipeline, generators) more again, far more than deflating a few KiB (a small cluster, and the simulator,
 * snapshot tiny states every few entries). Bounds the memory it takes.
 */
export const IN_MEMORY_BYTES_MAX = 64 * 1024;

/** What the tar scratch starts at: a small state.bin's tar (state.bin, meta, three headers, end marker). */
const TAR_SCRATCH_BYTES = IN_MEMORY_BYTES_MAX + 16 * 1024;
/** Where the tar is assembled before it is deflated: one buffer for every call (archiveBytes is synchronous). */
let tarScratch: Buffer = Buffer.alloc(0);

export interface ArchiveBytesOptions {
  /** As WriteArchiveOptions (archive.ts). */
  readonly mtimeSec?: number;
  readonly gzipLevel?: number | "auto";
  readonly onSpooled?: (meta: SnapshotMeta, tarBytes: number) => void;
}

/**
 * The level "auto" picks (gzip-level.ts) for a state.bin held whole: its samples are views of it, the same
 * windows the streamed writer reads (for a state.bin no bigger than a sample, the whole of it).
 */
export function levelOfStateBin(state: Uint8Array): 0 | 1 {
  return levelOfSamplesOnLoop(sampleWindows(state.length).map(([a, b]) => state.subarray(a, b)));
}

/**
 * The archive of `state` (a whole state.bin, at most IN_MEMORY_BYTES_MAX for the memory to stay small, though
 * any size is correct) as one buffer, and the meta it carries. Errors: SnapshotMetaError for a bad meta.
 */
export function archiveBytes(
  input: ArchiveMetaInput,
  state: Uint8Array,
  options: ArchiveBytesOptions = {},
): { meta: SnapshotMeta; bytes: Buffer } {
  const meta = buildMeta(input, state.length);
  const metaJson = encodeMetaJson(meta);
  const mtimeSec = options.mtimeSec ?? Math.round(Date.now() / 1000);
  const wanted = options.gzipLevel ?? 6;
  const level = wanted === "auto" ? levelOfStateBin(state) : wanted;
  const size = tarBytes(metaJson.length, state.length);
  options.onSpooled?.(meta, size);
  const sha256 = sha256Hex(state);
  // The chunks the stream sends: state.bin in one piece, as the streamed writer cuts one of this size.
  const chunks = [
    ...tarHead(metaJson, state.length, mtimeSec),
    state,
    ...tarTail(metaJson, state.length, sha256, mtimeSec),
  ];
  if (level === 0) return { meta, bytes: gzipStoredOf(chunks) };
  // Assembled in a buffer reused from one archive to the next: gzipSync keeps nothing of its input.
  if (tarScratch.length < size) tarScratch = Buffer.allocUnsafe(Math.max(size, TAR_SCRATCH_BYTES));
  const tar = tarScratch.subarray(0, size);
  let at = 0;
  for (const chunk of chunks) {
    tar.set(chunk, at);
    at += chunk.length;
  }
  assert(at === size, `assemble a tar of ${size} bytes, not ${at}`);
  // Output in pieces under 4 KiB, from Node's pool: a small archive is a piece or two.
  const bytes = gzipSync(tar, { level, chunkSize: POOLED_CHUNK_BYTES });
  bytes[GZIP_OS_BYTE] = 0xff;
  return { meta, bytes };
}
