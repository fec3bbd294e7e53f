/**
 * Writing a Consul snapshot archive: gzip(tar(meta.json, state.bin, SHA256SUMS)), snapshot-format.md §7.
 *
 * meta.json comes first and carries state.bin's size. A state.bin of known size (a view sized ahead:
 * state-bin-plan.ts) streams at once, hashed as it goes: SHA256SUMS comes last. A stream of unknown size is
 * spooled to a temp file first (as Consul does) to learn its size. Memory stays bounded by one chunk whatever
 * the snapshot's size. A small state.bin's archive is made in one buffer instead (archive-memory.ts), from the
 * same layout rules (archive-layout.ts). The reader/verifier lives in archive-read.ts.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Transform, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { assert } from "../util/assert.js";
import {
  type ArchiveMetaInput,
  buildMeta,
  GZIP_OS_BYTE,
  tarBytes,
  tarHead,
  tarTail,
} from "./archive-layout.js";
import { archiveBytes, IN_MEMORY_BYTES_MAX } from "./archive-memory.js";
import { writeAll } from "./files.js";
import { chooseGzipLevel, levelOfSamples, sampleWindows } from "./gzip-level.js";
import { gzipStored } from "./gzip-stored.js";
import { encodeMetaJson, type SnapshotMeta, STATE_BIN } from "./meta.js";
import type { SizedStateBin } from "./state-bin-plan.js";
import { TAR_ENTRY_BYTES_MAX } from "./tar.js";

export type { ArchiveMetaInput } from "./archive-layout.js";
export { IN_MEMORY_BYTES_MAX } from "./archive-memory.js";

/**
 * state.bin as a stream of bytes (spooled), a file already on disk (hashed in place, not copied), or bytes of
 * a size known ahead (streamed as they come).
 */
export type StateBinSource = Readable | AsyncIterable<Uint8Array> | { readonly path: string } | SizedStateBin;

export interface WriteArchiveOptions {
  /** Where the spool directory is made; default os.tmpdir(). */
  readonly tmpDir?: string;
  /** Tar mtime in Unix seconds for all three entries; default now (Go rounds to the nearest second). */
  readonly mtimeSec?: number;
  /**
   * zlib level 0..9, or "auto": level 1 when samples of state.bin compress well, else stored (gzip-level.ts).
   * Default 6, Go's default too.
   */
  readonly gzipLevel?: number | "auto";
  /**
   * Called once state.bin's size is known (spooled, or given), before any archive byte is written, with the
   * meta and the tar's exact size (an upper bound of the archive's for a stored or deflated stream, give or
   * take gzip's framing).
   */
  readonly onSpooled?: (meta: SnapshotMeta, tarBytes: number) => void;
  /**
   * Lays a pace over the tar stream as gzip pulls it: the time each pull takes (encoding state.bin, hashing
   * it) is what a pacer sees and may answer with a pause (the server's: server/pace.ts).
   */
  readonly pace?: (tar: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;
  /**
   * A state.bin of at most this many bytes is archived in memory (archive-memory.ts): the same bytes as streamed.
   * Default IN_MEMORY_BYTES_MAX; tests give 0 to compare the two ways.
   */
  readonly inMemoryBytesMax?: number;
}

/** state.bin as the tar writer takes it: its size, its bytes once, and samples for the gzip level. */
interface StateBinBytes {
  readonly size: number;
  chunks(): AsyncIterable<Uint8Array>;
  /** The SHA-256 the bytes must have, when known before they stream (a spooled file). */
  readonly sha256?: string;
  /** Where the bytes come from, for error messages. */
  readonly what: string;
  gzipLevel(): Promise<number>;
  /** Removes the spool directory, when the writer made one. */
  cleanup(): Promise<void>;
}

async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: h.digest("hex") };
}

function isSized(source: StateBinSource): source is SizedStateBin {
  return "size" in source && typeof source.size === "number" && "ranges" in source;
}

function fromSized(source: SizedStateBin): StateBinBytes {
  return {
    size: source.size,
    // No piece larger than the whole: a small state.bin (most internal snapshots) allocates no 1 MiB buffer.
    chunks: () => pieces(source.chunks(), Math.max(1, Math.min(READ_CHUNK_BYTES, source.size))),
    what: "the state.bin of a view",
    gzipLevel: async () => levelOfSamples(await source.ranges(sampleWindows(source.size))),
    cleanup: async () => {},
  };
}

interface Spooled {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly cleanup: () => Promise<void>;
}

/** 1 MiB reads: a few dozen chunks per 34 MB state.bin instead of hundreds through the generator and gzip. */
const READ_CHUNK_BYTES = 1024 * 1024;

function fromFile(f: Spooled): StateBinBytes {
  return {
    size: f.size,
    sha256: f.sha256,
    chunks: () => createReadStream(f.path, { highWaterMark: READ_CHUNK_BYTES }),
    what: `state.bin at "${f.path}"`,
    gzipLevel: () => chooseGzipLevel(f.path, f.size),
    cleanup: f.cleanup,
  };
}

/**
 * The source's bytes cut into pieces of exactly `bytes` (the last one shorter). Gzip sees state.bin in the
 * same pieces whatever its source (a spooled file is read in such pieces), and a stored (level 0) deflate
 * stream's block framing follows them: so the same state makes the same archive, byte for byte.
 */
async function* pieces(source: AsyncIterable<Uint8Array>, bytes: number): AsyncGenerator<Uint8Array> {
  let piece = new Uint8Array(bytes);
  let used = 0;
  for await (let chunk of source) {
    while (chunk.length > 0) {
      const n = Math.min(bytes - used, chunk.length);
      piece.set(chunk.subarray(0, n), used);
      used += n;
      chunk = chunk.subarray(n);
      if (used === bytes) {
        yield piece;
        piece = new Uint8Array(bytes);
        used = 0;
      }
    }
  }
  if (used > 0) yield piece.subarray(0, used);
}

/** Copies the source into a fresh temp dir, hashing on the way. */
async function spool(source: Exclude<StateBinSource, SizedStateBin>, tmpDir: string): Promise<Spooled> {
  if ("path" in source && typeof source.path === "string" && !(source instanceof Readable)) {
    const { size, sha256 } = await hashFile(source.path);
    return { path: source.path, size, sha256, cleanup: async () => {} };
  }
  const dir = await mkdtemp(join(tmpDir, "cairn-snapshot-write-"));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const path = join(dir, STATE_BIN);
  try {
    const file = await open(path, "wx", 0o600);
    const h = createHash("sha256");
    let size = 0;
    try {
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        h.update(chunk);
        size += chunk.length;
        await writeAll(file, chunk);
      }
      // No fsync: the spool is scratch, read back at once from the page cache and deleted after; whoever
      // keeps the archive made from it syncs that (saveSnapshot, the CLI's FILE).
    } finally {
      await file.close();
    }
    return { path, size, sha256: h.digest("hex"), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * state.bin's bytes, checked as they go: a state.bin longer or shorter than its header said, or (spooled)
 * other than the bytes hashed before, fails rather than end as an archive that looks complete. Gives the
 * SHA-256 (hex) of what went by to `done` at the end.
 */
async function* checkedStateBin(
  state: StateBinBytes,
  done: (sha256: string) => void,
): AsyncGenerator<Uint8Array> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of state.chunks()) {
    h.update(chunk);
    size += chunk.length;
    assert(
      size <= state.size,
      `${state.what} grew past its ${state.size} bytes while the archive was written`,
    );
    yield chunk;
  }
  assert(size === state.size, `${state.what} ended at ${size} of its ${state.size} bytes`);
  const sha256 = h.digest("hex");
  assert(
    state.sha256 === undefined || sha256 === state.sha256,
    `${state.what} changed while the archive was written`,
  );
  done(sha256);
}

/**
 * The tar stream: entries in Consul's order, then exactly one end marker (archive-layout.ts). state.bin is
 * hashed as it goes out, so SHA256SUMS names the bytes sent.
 */
async function* tarStream(
  metaJson: Uint8Array,
  state: StateBinBytes,
  mtimeSec: number,
): AsyncGenerator<Uint8Array> {
  yield* tarHead(metaJson, state.size, mtimeSec);
  let sha256 = "";
  yield* checkedStateBin(state, (hex) => {
    sha256 = hex;
  });
  yield* tarTail(metaJson, state.size, sha256, mtimeSec);
}

/** A small state.bin whole, checked as checkedStateBin checks it. */
async function wholeStateBin(state: StateBinBytes): Promise<Uint8Array> {
  const whole = new Uint8Array(state.size);
  let at = 0;
  for await (const chunk of checkedStateBin(state, () => {})) {
    whole.set(chunk, at);
    at += chunk.length;
  }
  return whole;
}

/** Sets the gzip header's OS byte to 255 ("unknown") as Go writes it; zlib writes 3 (Unix). */
function goGzipHeader(): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const osByte = GZIP_OS_BYTE - seen;
      if (osByte >= 0 && osByte < chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[osByte] = 0xff;
      }
      seen += chunk.length;
      done(null, chunk);
    },
  });
}

/**
 * Writes a Consul-compatible archive to `out` (which is ended) and returns the meta it wrote. Errors:
 * SnapshotMetaError for a bad meta (Version other than 1, Size not matching); I/O errors as they come.
 */
export async function writeArchive(
  out: Writable,
  input: ArchiveMetaInput,
  source: StateBinSource,
  options: WriteArchiveOptions = {},
): Promise<SnapshotMeta> {
  const state = isSized(source)
    ? fromSized(source)
    : fromFile(await spool(source, options.tmpDir ?? tmpdir()));
  try {
    assert(
      state.size <= TAR_ENTRY_BYTES_MAX,
      `write state.bin of ${state.size} bytes within the tar size field`,
    );
    if (state.size <= (options.inMemoryBytesMax ?? IN_MEMORY_BYTES_MAX)) {
      // Unpaced: a small archive is made in well under a pacer's smallest pause.
      const { meta, bytes } = archiveBytes(input, await wholeStateBin(state), options);
      await pipeline(Readable.from([bytes]), out);
      return meta;
    }
    const meta = buildMeta(input, state.size);
    const metaJson = encodeMetaJson(meta);
    const mtimeSec = options.mtimeSec ?? Math.round(Date.now() / 1000);
    const wanted = options.gzipLevel ?? 6;
    const level = wanted === "auto" ? await state.gzipLevel() : wanted;
    options.onSpooled?.(meta, tarBytes(metaJson.length, state.size));
    const tar = tarStream(metaJson, state, mtimeSec);
    const paced = options.pace?.(tar) ?? tar;
    if (level === 0) {
      // Stored: framed here, one copy per chunk and no trip through zlib (gzip-stored.ts).
      await pipeline(Readable.from(gzipStored(paced)), out);
      return meta;
    }
    // zlib's stream deflates on libuv's thread pool, so the event loop goes on serving while it runs.
    // 256 KiB chunks out (zlib's default is 16 KiB): fewer hops through the pipeline and the HTTP response.
    const gzip = createGzip({ level, chunkSize: 256 * 1024 });
    await pipeline(Readable.from(paced), gzip, goGzipHeader(), out);
    return meta;
  } finally {
    await state.cleanup();
  }
}
