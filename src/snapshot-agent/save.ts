/**
 * Saving a snapshot to a file that is never left unverified, shared by `cairn snapshot save` and the snapshot
 * agent: the archive streams from GET /v1/snapshot into the file and, chunk by chunk once written, through the
 * full archive verification, while its SHA-256 is computed. Errors read as Consul's `snapshot save` prints them.
 */
import { createHash } from "node:crypto";
import { type FileHandle, open, stat } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { PassThrough, type Readable, Writable } from "node:stream";
import { type ConsulClient, goFileError } from "../client/index.js";
import { feedVerifier, SnapshotError, type SnapshotMeta, verifyArchive } from "../snapshot/index.js";
import { errorText } from "../util/errors.js";

/** The server's size estimate of the archive (src/http/snapshot.ts SNAPSHOT_SIZE_HEADER), lower-cased. */
const SIZE_HEADER = "x-cairn-snapshot-size";
/** How far the verifier may lag behind the file write before the download waits for it. */
const TEE_BYTES = 4 * 1024 * 1024;

export interface SaveOptions {
  /** Let any server answer (`?stale`), not only the leader. */
  readonly stale?: boolean;
  /** Called with each chunk's size once it is written (a progress bar). */
  readonly onBytes?: (bytes: number) => void;
  /** Called with the server's estimate of the archive's size, when it sends one. */
  readonly onSizeEstimate?: (bytes: number) => void;
}

export interface SavedSnapshot {
  /** X-Consul-Index: the snapshot's index. */
  readonly index: bigint;
  /** The archive's meta.json, as verified. */
  readonly meta: SnapshotMeta;
  /** Bytes written (and synced) to the file. */
  readonly bytes: number;
  /** SHA-256 of the file's bytes, lowercase hex. */
  readonly sha256: string;
}

/**
 * Writes into an open file handle, counting bytes, and hands each chunk, once written, to `tee` (the
 * verifier); fsyncs before it reports finished. Remembers its own failure (disk full), since a failing source
 * also errors the sink and the two must read differently.
 */
class FileSink extends Writable {
  diskError: Error | null = null;
  bytes = 0;
  readonly hash = createHash("sha256");
  constructor(
    private readonly fh: FileHandle,
    private readonly onBytes: (n: number) => void,
    private readonly tee: PassThrough,
  ) {
    super();
  }
  private failed(done: (e?: Error | null) => void): (e: Error) => void {
    return (e) => {
      this.diskError = e;
      done(e);
    };
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.writeAll([chunk], done);
  }
  /** Chunks that queued up while a write was running go out in one writev (one syscall, one hop). */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    done: (e?: Error | null) => void,
  ): void {
    this.writeAll(
      chunks.map((c) => c.chunk),
      done,
    );
  }
  private writeAll(chunks: Buffer[], done: (e?: Error | null) => void): void {
    const joined = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    writeFully(this.fh, joined).then(async () => {
      this.bytes += joined.length;
      this.hash.update(joined);
      this.onBytes(joined.length);
      await feedVerifier(this.tee, joined);
      done();
    }, this.failed(done));
  }
  override _final(done: (e?: Error | null) => void): void {
    this.fh.sync().then(() => {
      this.tee.end();
      done();
    }, this.failed(done));
  }
}

/** Writes all of `b`: one write() may write fewer bytes than asked. */
async function writeFully(fh: FileHandle, b: Buffer): Promise<void> {
  for (let at = 0; at < b.length; ) at += (await fh.write(b, at, b.length - at)).bytesWritten;
}

/**
 * Streams the archive into `path` (created 0600, never an existing file) and verifies it on the way: every
 * chunk, once written to the file, also goes through the full archive verification (gzip, tar, hashes,
 * trailing bytes, meta, every record decoded), so the file is read neither twice nor back. Consul verifies
 * by reading the file afterwards; the bytes checked here are the very bytes written, and the file's size is
 * checked against them once it is synced. Failures come back as the line Consul prints: before the response
 * ("Error saving snapshot"), while the body arrives ("Error writing unverified snapshot file", where Go's
 * io.Copy reports a cut connection as `unexpected EOF`), or from the verification ("Error verifying ...").
 */
export async function saveVerified(
  c: ConsulClient,
  path: string,
  options: SaveOptions = {},
): Promise<SavedSnapshot | { error: string }> {
  const onBytes = options.onBytes ?? (() => {});
  let fh: FileHandle;
  try {
    fh = await open(path, "wx", 0o600);
  } catch (e) {
    return { error: `Error writing unverified snapshot file: ${goFileError(path, e)}` };
  }
  let receiving = false;
  const tee = new PassThrough({ highWaterMark: TEE_BYTES });
  let meta: SnapshotMeta | null = null;
  const verified = verifyArchive(tee).then(
    (m) => {
      meta = m;
      return null;
    },
    (e: unknown) => {
      tee.destroy(); // the sink stops feeding a verifier that has given up
      return verifyText(e);
    },
  );
  const sink = new FileSink(fh, onBytes, tee);
  sink.once("pipe", (src: Readable) => {
    receiving = true;
    // The server's size estimate (cairn only) gives the bar a total and an ETA.
    const estimate = Number((src as Partial<IncomingMessage>).headers?.[SIZE_HEADER]);
    if (Number.isSafeInteger(estimate) && estimate > 0) options.onSizeEstimate?.(estimate);
  });
  let index: bigint;
  try {
    index = (await c.snapshotSave(sink, { stale: options.stale === true })).index;
  } catch (e) {
    tee.destroy(); // ends a verification still waiting for bytes
    await verified;
    if (sink.diskError !== null) {
      return { error: `Error writing unverified snapshot file: ${errorText(sink.diskError)}` };
    }
    if (!receiving) return { error: `Error saving snapshot: ${errorText(e)}` };
    // The response started and the connection ended before the body did: Go's io.Copy says this.
    return { error: "Error writing unverified snapshot file: unexpected EOF" };
  } finally {
    await fh.close();
  }
  const bad = await verified;
  if (bad !== null) return { error: bad };
  const onDisk = (await stat(path)).size;
  if (onDisk !== sink.bytes) {
    return { error: `Error verifying snapshot file: ${onDisk} bytes on disk, ${sink.bytes} received` };
  }
  if (meta === null) return { error: "Error verifying snapshot file: no meta.json was read" };
  return { index, meta, bytes: sink.bytes, sha256: sink.hash.digest("hex") };
}

export function verifyText(e: unknown): string {
  if (e instanceof SnapshotError) return `Error verifying snapshot file: ${e.message}`;
  return `Error verifying snapshot file: ${errorText(e)}`;
}
