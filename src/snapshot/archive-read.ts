/**
 * Reading and verifying a snapshot archive as a stream, with Consul's rules (snapshot-format.md §1): gzip (one
 * or more members, nothing after), tar entries meta.json / state.bin / SHA256SUMS in any order and nothing
 * else, every hash checked, no decompressed byte after the tar end marker. Then cairn's own checks: meta
 * Version 1, Size equal to state.bin's length, and every state.bin record decodes.
 *
 * state.bin goes to a temp file as it streams by; nothing holds the whole archive or state.bin in memory.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, type Gunzip, gunzipSync } from "node:zlib";
import { ENVELOPE_MAGIC, isEncrypted } from "./envelope.js";
import {
  ArchiveFormatError,
  ArchiveIntegrityError,
  SnapshotError,
  SnapshotLimitError,
  SnapshotMetaError,
} from "./errors.js";
import { writeAll } from "./files.js";
import {
  checkVersion,
  decodeMetaJson,
  META_JSON,
  SHA256SUMS,
  type SnapshotMeta,
  STATE_BIN,
  verifySha256Sums,
} from "./meta.js";
import { RecordChecker } from "./record-check.js";
import type { StateBinReadOptions } from "./state-bin.js";
import { ByteReader, nextEntry, skipPadding, TarError, tarFailure } from "./tar.js";

/**
 * An archive as bytes: a stream (file, HTTP body), any (async) iterable of chunks, or the whole archive in one
 * buffer (read in memory when small: readArchiveBytes).
 */
export type ByteSource = Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

/** meta.json is read whole (as Consul does); a real one is ~250 bytes plus ~100 per server. */
export const META_BYTES_MAX_DEFAULT = 1024 * 1024;
/** Default bound on state.bin: Consul's largest real snapshots are a few GiB. */
export const STATE_BIN_BYTES_MAX_DEFAULT = 64 * 1024 ** 3;
const ZLIB_CHUNK_BYTES = 256 * 1024;
/** SHA256SUMS is two lines, 152 bytes. */
const SUMS_BYTES_MAX = 64 * 1024;
/**
 * An archive given whole whose tar is at most this many bytes is read in memory (readArchiveBytes): one
 * gunzip call and the tar parsed from one buffer, instead of a pipeline of streams (a small cluster, and the
 * simulator, read small snapshots often). A larger one streams as any other source.
 */
export const IN_MEMORY_TAR_BYTES_MAX = 1024 * 1024;

export interface ReadArchiveOptions extends StateBinReadOptions {
  /** Where the temp directory for state.bin is made; default os.tmpdir(). */
  readonly tmpDir?: string;
  readonly metaBytesMax?: number;
  /** Refuse a state.bin entry larger than this (checked from its tar header, before any byte is spooled). */
  readonly stateBinBytesMax?: number;
  /** Also require Consul's writer order meta.json, state.bin, SHA256SUMS (Consul's reader accepts any). */
  readonly strictOrder?: boolean;
  /** false reads a plain (uncompressed) tar, as Consul's inner archive reader and its test fixtures do. */
  readonly gzip?: boolean;
  /** Called with each tar entry's name once its header has been read and its name accepted. */
  readonly onEntry?: (name: string) => void;
}

/** The verified state.bin, in a temp directory that belongs to the caller; not fsynced. */
export interface VerifiedStateBin {
  readonly path: string;
  readonly size: number;
  /** Lowercase hex SHA-256, as listed in SHA256SUMS. */
  readonly sha256: string;
  /** Deletes the temp directory; call exactly once when done. */
  remove(): Promise<void>;
}

export interface VerifiedArchive {
  readonly meta: SnapshotMeta;
  /** meta.json exactly as it was in the archive. */
  readonly metaJson: Uint8Array;
  readonly stateBin: VerifiedStateBin;
  /** Records per type byte, header excluded. */
  readonly recordCounts: ReadonlyMap<number, number>;
}

/** What a gzip failure is judged by: how many compressed bytes came, and the first few of them. */
interface GzipInput {
  readonly bytes: number;
  readonly head: Uint8Array;
}

/**
 * Counts compressed bytes going into gunzip, so bytes it silently skips afterwards can be caught; keeps the first
 * few, so a failure can tell an encrypted backup (.snap.enc) from a damaged archive.
 */
class Counter extends Transform implements GzipInput {
  bytes = 0;
  head: Buffer = Buffer.alloc(0);
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err: null, chunk: Buffer) => void): void {
    if (this.head.length < ENVELOPE_MAGIC.length) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, ENVELOPE_MAGIC.length - this.head.length)]);
    }
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

interface TarState {
  readonly hashes: Map<string, Hash>;
  metaJson: Uint8Array | undefined;
  meta: SnapshotMeta | undefined;
  sums: Uint8Array;
  stateSize: number;
  readonly seen: string[];
  /** Hex digests of meta.json and state.bin, set once the tar has ended. */
  digests: Map<string, string>;
  /** Decodes state.bin's records as they stream by. */
  readonly records: RecordChecker;
}

/**
 * Where state.bin's bytes go besides the hash and the record check: a spool file, a list (read in memory), or
 * nowhere (verify only).
 */
type StateSink = ((chunk: Uint8Array) => Promise<void> | void) | null;

const WRITER_ORDER = [META_JSON, STATE_BIN, SHA256SUMS];

function checkEntryName(name: string, st: TarState, strict: boolean): void {
  if (!WRITER_ORDER.includes(name)) {
    throw new ArchiveFormatError(
      "snapshot_unexpected_file",
      `failed to read snapshot file: unexpected file "${name}" in snapshot`,
    );
  }
  // Consul would append a repeated entry to the same hash; no writer does that, so cairn refuses it.
  if (st.seen.includes(name)) {
    throw new ArchiveFormatError(
      "snapshot_duplicate_file",
      `failed to read snapshot file: remove duplicate entry "${name}"`,
    );
  }
  if (strict && WRITER_ORDER[st.seen.length] !== name) {
    throw new ArchiveFormatError(
      "snapshot_entry_order",
      `failed to read snapshot file: expected entry "${WRITER_ORDER[st.seen.length]}", found "${name}"`,
    );
  }
  st.seen.push(name);
}

async function readWhole(r: ByteReader, name: string, size: number, max: number): Promise<Uint8Array> {
  if (size > max) throw new SnapshotLimitError(`read ${name}: ${size} bytes exceed the limit of ${max}`);
  const parts: Uint8Array[] = [];
  for await (const chunk of r.stream(size)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function readEntries(
  r: ByteReader,
  sink: StateSink,
  st: TarState,
  opts: ReadArchiveOptions,
): Promise<void> {
  for (;;) {
    const entry = await nextEntry(r);
    if (entry === null) return;
    checkEntryName(entry.name, st, opts.strictOrder ?? false);
    opts.onEntry?.(entry.name);
    if (entry.name === META_JSON) {
      const bytes = await readWhole(r, META_JSON, entry.size, opts.metaBytesMax ?? META_BYTES_MAX_DEFAULT);
      st.hashes.get(META_JSON)?.update(bytes);
      st.metaJson = bytes;
      try {
        st.meta = decodeMetaJson(bytes);
      } catch (err) {
        if (err instanceof SnapshotMetaError) throw prefixed(err);
        throw err;
      }
    } else if (entry.name === STATE_BIN) {
      const max = opts.stateBinBytesMax ?? STATE_BIN_BYTES_MAX_DEFAULT;
      if (entry.size > max)
        throw new SnapshotLimitError(`read state.bin: ${entry.size} bytes exceed the limit of ${max}`);
      const h = st.hashes.get(STATE_BIN);
      for await (const chunk of r.stream(entry.size)) {
        h?.update(chunk);
        st.records.push(chunk);
        if (sink !== null) await sink(chunk);
      }
      st.stateSize += entry.size;
    } else {
      st.sums = await readWhole(r, SHA256SUMS, entry.size, SUMS_BYTES_MAX);
    }
    await skipPadding(r, entry.size);
  }
}

function prefixed(err: SnapshotMetaError): SnapshotMetaError {
  return new SnapshotMetaError(err.code, `failed to read snapshot file: ${err.message}`, { cause: err });
}

/**
 * Maps a zlib failure to Consul's (Go's) wording; an encrypted backup, which is no gzip stream at all, is named as
 * such: every reader of archives (the CLI's commands, a server's restore) reaches it through here.
 */
function gzipFailure(err: NodeJS.ErrnoException, counter: GzipInput): ArchiveFormatError {
  let what: string;
  if (isEncrypted(counter.head)) what = "this is an encrypted cairn backup: use -decrypt-key-file";
  else if (counter.bytes === 0) what = "EOF";
  else if (err.code === "Z_BUF_ERROR") what = "unexpected EOF";
  else if (/header check|compression method/.test(err.message)) what = "gzip: invalid header";
  else if (/data check|incorrect length/.test(err.message)) what = "gzip: invalid checksum";
  else what = `flate: corrupt input (${err.message})`;
  return new ArchiveFormatError("snapshot_decompress", `failed to decompress snapshot: ${what}`, {
    cause: err,
  });
}

function classify(err: unknown, counter: GzipInput): unknown {
  if (err instanceof SnapshotError) return err;
  if (err instanceof TarError) return tarFailure(err);
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === "string" && code.startsWith("Z_"))
    return gzipFailure(err as NodeJS.ErrnoException, counter);
  return err;
}

/**
 * Checks the hashes, then, as Consul reads the gzip stream to its end after the tar, fails on any byte left.
 */
async function concludeTar(r: ByteReader, st: TarState, gzip: boolean): Promise<void> {
  for (const [name, h] of st.hashes) st.digests.set(name, h.digest("hex"));
  verifySha256Sums(st.sums, st.digests);
  // A plain tar is judged as Consul's inner reader judges it: record padding after the end marker is fine.
  if (!gzip) return;
  const rest = await r.countRest();
  if (rest > 0) {
    throw new ArchiveFormatError("snapshot_trailing_data", `${rest} unread uncompressed bytes remain`);
  }
}

function newTarState(opts: ReadArchiveOptions): TarState {
  return {
    hashes: new Map([
      [META_JSON, createHash("sha256")],
      [STATE_BIN, createHash("sha256")],
    ]),
    metaJson: undefined,
    meta: undefined,
    sums: new Uint8Array(0),
    stateSize: 0,
    seen: [],
    digests: new Map(),
    records: new RecordChecker(opts),
  };
}

/** The tar's entries read from `r`, then the checks after its end (concludeTar). */
async function readTar(
  r: ByteReader,
  sink: StateSink,
  st: TarState,
  opts: ReadArchiveOptions,
): Promise<void> {
  await readEntries(r, sink, st, opts);
  await concludeTar(r, st, opts.gzip !== false);
}

/** Parses the gzip+tar stream, giving state.bin to `sink` and checking its records on the way. */
async function readContainer(
  source: ByteSource,
  sink: StateSink,
  opts: ReadArchiveOptions,
): Promise<TarState> {
  if (source instanceof Uint8Array) {
    const st = await readContainerBytes(source, sink, opts);
    if (st !== null) return st;
    source = [source];
  }
  const st = newTarState(opts);
  const counter = new Counter();
  const consume = async (tar: AsyncIterable<Uint8Array>): Promise<void> => {
    await readTar(new ByteReader(tar[Symbol.asyncIterator]()), sink, st, opts);
  };
  if (opts.gzip === false) {
    try {
      await pipeline(source, counter, consume);
    } catch (err) {
      throw classify(err, counter);
    }
    return st;
  }
  // 256 KiB out per call instead of zlib's 16 KiB: a sixteenth of the callbacks, stream hops and tar reads.
  const gunzip: Gunzip = createGunzip({ chunkSize: ZLIB_CHUNK_BYTES });
  try {
    await pipeline(source, counter, gunzip, consume);
  } catch (err) {
    // When the bytes after a gzip member arrive in a later chunk than its end, zlib closes the stream instead
    // of skipping them, and the pipeline fails with ERR_STREAM_PREMATURE_CLOSE: the same trailing data.
    const premature = (err as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE";
    if (premature && counter.bytes > gunzip.bytesWritten) {
      throw trailingGzipData(counter.bytes - gunzip.bytesWritten, err);
    }
    throw classify(err, counter);
  }
  if (counter.bytes === 0)
    throw gzipFailure(Object.assign(new Error("EOF"), { code: "Z_BUF_ERROR" }), counter);
  const skipped = counter.bytes - gunzip.bytesWritten;
  // zlib ignores data after a gzip member that starts with a zero byte; Go's reader fails on it.
  if (skipped > 0) throw trailingGzipData(skipped);
  return st;
}

/**
 * readContainer for an archive in one buffer, without streams: one gunzip call (bounded to
 * IN_MEMORY_TAR_BYTES_MAX out: null beyond it, for the caller to stream instead), then the tar read from that
 * one buffer by the same reader, with the same checks and errors (each error is mapped as the stream's is). A
 * gzip fault is found before any tar entry is read, where the stream would meet the tar's first: the error
 * class differs only for an archive damaged in both.
 */
async function readContainerBytes(
  archive: Uint8Array,
  sink: StateSink,
  opts: ReadArchiveOptions,
): Promise<TarState | null> {
  const input: GzipInput = { bytes: archive.length, head: archive.subarray(0, ENVELOPE_MAGIC.length) };
  let tar = archive;
  if (opts.gzip !== false) {
    if (archive.length === 0)
      throw gzipFailure(Object.assign(new Error("EOF"), { code: "Z_BUF_ERROR" }), input);
    let out: { buffer: Buffer; engine: Gunzip };
    try {
      // `info`: the engine too, whose bytesWritten tells the compressed bytes gunzip took.
      out = gunzipSync(archive, { info: true, maxOutputLength: IN_MEMORY_TAR_BYTES_MAX }) as unknown as {
        buffer: Buffer;
        engine: Gunzip;
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") return null;
      throw classify(err, input);
    }
    // zlib ignores data after a gzip member that starts with a zero byte; Go's reader fails on it.
    const skipped = archive.length - out.engine.bytesWritten;
    if (skipped > 0) throw trailingGzipData(skipped);
    tar = out.buffer;
  }
  const st = newTarState(opts);
  try {
    await readTar(new ByteReader([tar][Symbol.iterator]()), sink, st, opts);
  } catch (err) {
    throw classify(err, input);
  }
  return st;
}

function trailingGzipData(skipped: number, cause?: unknown): ArchiveFormatError {
  return new ArchiveFormatError(
    "snapshot_trailing_data",
    `failed to decompress snapshot: gzip: invalid header (${skipped} bytes of trailing data after the gzip stream)`,
    { cause },
  );
}

function checkMeta(st: TarState): { meta: SnapshotMeta; metaJson: Uint8Array } {
  // SHA256SUMS vouched for meta.json, so a missing one cannot reach here; assert-like, but typed for callers.
  if (st.meta === undefined || st.metaJson === undefined) {
    throw new ArchiveIntegrityError(
      "snapshot_integrity",
      "failed to read snapshot file: archive has no meta.json",
      META_JSON,
    );
  }
  checkVersion(st.meta);
  if (st.meta.Size !== st.stateSize) {
    throw new ArchiveIntegrityError(
      "snapshot_size_mismatch",
      `failed to write snapshot, size didn't match (${st.stateSize} != ${st.meta.Size})`,
      STATE_BIN,
    );
  }
  return { meta: st.meta, metaJson: st.metaJson };
}

/** Decodes every record of a state.bin file; returns counts per type. */
export async function checkRecords(
  path: string,
  opts: StateBinReadOptions = {},
): Promise<Map<number, number>> {
  const checker = new RecordChecker(opts);
  for await (const chunk of createReadStream(path)) {
    checker.push(chunk as Buffer);
    if (checker.error !== null) throw checker.error;
  }
  checker.finish();
  if (checker.error !== null) throw checker.error;
  return checker.counts;
}

/** The checks after the tar: meta (Version, Size), then the records, whose failures waited for the hashes. */
function concludeChecks(st: TarState): { meta: SnapshotMeta; metaJson: Uint8Array } {
  const checked = checkMeta(st);
  // Also when the archive had no state.bin entry at all: an empty state.bin lacks even the header.
  st.records.finish();
  if (st.records.error !== null) throw st.records.error;
  return checked;
}

/**
 * Reads and fully verifies an archive. On success the caller owns `stateBin` and must call its `remove()`;
 * on failure nothing is left behind. Errors: ArchiveFormatError, ArchiveIntegrityError, SnapshotMetaError,
 * StateBinError, RecordDecodeError, SnapshotLimitError (see errors.ts for the codes).
 */
export async function readArchive(
  source: ByteSource,
  options: ReadArchiveOptions = {},
): Promise<VerifiedArchive> {
  const dir = await mkdtemp(join(options.tmpDir ?? tmpdir(), "cairn-snapshot-read-"));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const path = join(dir, STATE_BIN);
  try {
    const file = await open(path, "wx", 0o600);
    let read: VerifiedSpool;
    try {
      read = await readArchiveInto(source, (chunk) => writeAll(file, chunk), options);
      // Not synced here: most callers only read it back and delete it; one that keeps it makes it durable
      // itself.
    } finally {
      await file.close();
    }
    const { size, sha256, ...rest } = read;
    return { ...rest, stateBin: { path, size, sha256, remove } };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** What readArchiveInto verified: the archive's meta, and the state.bin it gave to its sink. */
export interface VerifiedSpool {
  readonly meta: SnapshotMeta;
  readonly metaJson: Uint8Array;
  /** state.bin's size and lowercase hex SHA-256 (as listed in SHA256SUMS). */
  readonly size: number;
  readonly sha256: string;
  readonly recordCounts: ReadonlyMap<number, number>;
}

/**
 * readArchive with state.bin going to `spool` (awaited chunk by chunk; a chunk is valid only until the call
 * resolves) instead of a temp file: for a caller that keeps the bytes elsewhere (a server's blob store). The
 * same checks; the bytes are verified only once this resolves, and on failure the caller drops what it kept.
 */
export async function readArchiveInto(
  source: ByteSource,
  spool: (chunk: Uint8Array) => Promise<void>,
  options: ReadArchiveOptions = {},
): Promise<VerifiedSpool> {
  if (source instanceof Uint8Array) {
    const read = await readArchiveBytes(source, options);
    if (read !== null) {
      if (read.stateBin.length > 0) await spool(read.stateBin);
      return read.verified;
    }
  }
  return verifiedSpool(await readContainer(source, spool, options));
}

function verifiedSpool(st: TarState): VerifiedSpool {
  const { meta, metaJson } = concludeChecks(st);
  const sha256 = st.digests.get(STATE_BIN) as string;
  return { meta, metaJson, size: st.stateSize, sha256, recordCounts: st.records.counts };
}

/**
 * readArchiveInto for a small archive given whole, in memory (readContainerBytes): the verified state.bin
 * (a view of the decompressed tar) beside what was verified. null when its tar is larger than
 * IN_MEMORY_TAR_BYTES_MAX: stream it instead. The same checks and errors as the stream.
 */
export async function readArchiveBytes(
  archive: Uint8Array,
  options: ReadArchiveOptions = {},
): Promise<{ verified: VerifiedSpool; stateBin: Uint8Array } | null> {
  const parts: Uint8Array[] = [];
  const st = await readContainerBytes(archive, (chunk) => void parts.push(chunk), options);
  if (st === null) return null;
  const verified = verifiedSpool(st);
  const stateBin = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
  return { verified, stateBin };
}

/**
 * Consul's `snapshot save` verification: every check readArchive makes (gzip, tar entries, hashes, trailing
 * bytes, meta, every record decoded), in one pass over the stream and with nothing written to disk.
 */
export async function verifyArchive(
  source: ByteSource,
  options: ReadArchiveOptions = {},
): Promise<SnapshotMeta> {
  return concludeChecks(await readContainer(source, null, options)).meta;
}
