import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fsyncDir, writeFileAtomic } from "../storage/index.js";
import { UnavailableError } from "../util/errors.js";
import { assert } from "../util/index.js";

const HANDLE = /^[A-Za-z0-9._-]{1,128}$/;

/** A handle names files (and comes from peers and log entries): refused unless plain. */
export function checkHandle(handle: string): void {
  if (!HANDLE.test(handle)) throw new UnavailableError(`invalid blob handle "${handle}"`);
}

/**
 * A blob being written: invisible to has/list/read until committed. A draft never committed is temp space
 * (an archive's state.bin spooled while it is verified), dropped by discard.
 */
export interface BlobDraft {
  /** Appends `chunk`; the caller may reuse it once this resolves. */
  append(chunk: Uint8Array): Promise<void>;
  /** Writes `chunk` at `offset` (a fetch's chunks land in whatever order they arrive). */
  writeAt(chunk: Uint8Array, offset: number): Promise<void>;
  /** What was written so far, in chunks of at most `chunkBytes`. */
  read(chunkBytes: number): AsyncIterable<Uint8Array>;
  /**
   * Makes the bytes durable as the blob the draft was made for, replacing any: fsync, rename, fsync the
   * directory. The draft is spent.
   */
  commit(): Promise<void>;
  /** Drops the draft (after a commit, or a second time: nothing). */
  discard(): Promise<void>;
}

/**
 * Where a server's blobs live: snapshot archives and restore data (`<handle>` blobs), and the small JSON refs
 * beside snapshots (sidecars). The agent's is a directory (FileBlobFiles); the simulator's is in memory with a
 * simulated fsync (sim/sim-blobs.ts). Everything above it (snapshots, restores, fetches between servers) is
 * written once, against this.
 */
export interface BlobFiles {
  /**
   * Starts writing blob `handle`. `own`: under a temp name of its own (writers of one handle that may overlap:
   * fetches, spools); otherwise under the handle's one temp name, which a crash may have left: it is replaced.
   */
  draft(handle: string, own: boolean): Promise<BlobDraft>;
  has(handle: string): Promise<boolean>;
  /** Blob `handle`'s bytes, in chunks of at most `chunkBytes`. */
  read(handle: string, chunkBytes: number): AsyncIterable<Uint8Array>;
  /**
   * At most `bytesMax` bytes of blob `handle` from `offset` (fewer at its end, none past it). Given `into` (of
   * at least `bytesMax` bytes), the files may read into it and return a view of it, or return other bytes.
   */
  readAt(handle: string, offset: number, bytesMax: number, into?: Uint8Array): Promise<Uint8Array>;
  /** Deletes blob `handle` and its ref, whichever exist. */
  remove(handle: string): Promise<void>;
  /** The handles of the blobs, and of the refs, present. */
  list(): Promise<{ readonly blobs: readonly string[]; readonly refs: readonly string[] }>;
  readRef(handle: string): Promise<string>;
  /** Replaces the ref of `handle` atomically and durably. */
  writeRef(handle: string, text: string): Promise<void>;
  /**
   * Runs `fn`: encoding or decoding between blobs and the state store, which waits on nothing but itself (CPU,
   * zlib's thread pool, this store's own calls), never on the network or a timer. The files run it as it is;
   * the simulator runs it to its end before any other event, so the thread pool's timing never reaches a seed.
   */
  work<T>(fn: () => Promise<T>): Promise<T>;
}

/** A Writable over a draft's appends (an archive writer's output). */
export function draftWritable(d: BlobDraft): Writable {
  return new Writable({
    write(chunk: Uint8Array, _encoding, done) {
      d.append(chunk).then(() => done(), done);
    },
  });
}

/**
 * Blobs as files in one directory: `<handle>.bin` and `<handle>.json` (the ref), written under a temp name
 * starting with a dot, fsynced, renamed, and the directory fsynced; 0600 at creation.
 */
export class FileBlobFiles implements BlobFiles {
  /**
   * Blobs open for readAt, kept open between a fetch's chunk reads: a chunk is then one read, not an open, a
   * stat, a read and a close, each waiting its turn on a loop busy rebuilding its state (a leader serving
   * followers while it applies the restore itself). A committed blob's file never changes (a commit renames a
   * new file over the name), so an open one reads the blob it was opened as; a commit or remove of the handle
   * drops it, so later reads see the new file.
   */
  private readonly readers = new Map<string, Reader>();

  private constructor(readonly dir: string) {}

  static async open(dir: string): Promise<FileBlobFiles> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new FileBlobFiles(dir);
  }

  path(handle: string): string {
    checkHandle(handle);
    return join(this.dir, `${handle}.bin`);
  }

  private refPath(handle: string): string {
    checkHandle(handle);
    return join(this.dir, `${handle}.json`);
  }

  async draft(handle: string, own: boolean): Promise<BlobDraft> {
    const final = this.path(handle);
    const tmp = join(this.dir, own ? `.${handle}.${randomUUID()}.tmp` : `.${handle}.tmp`);
    // A temp file left by a crash keeps the mode it was made with: remove it, then create afresh, 0600 at
    // creation (never widened by the umask, never narrowed later).
    if (!own) await rm(tmp, { force: true });
    const fh = await open(tmp, "wx", 0o600);
    return new FileDraft(tmp, final, this.dir, fh, () => this.dropReader(handle));
  }

  async has(handle: string): Promise<boolean> {
    return stat(this.path(handle)).then(
      () => true,
      () => false,
    );
  }

  read(handle: string, chunkBytes: number): AsyncIterable<Uint8Array> {
    return createReadStream(this.path(handle), { highWaterMark: chunkBytes });
  }

  /**
   * Reads one chunk straight into its buffer (no stream of small reads to concatenate): `into`'s, if given.
   * The file stays open for the next chunk (`readers`) until READER_IDLE_MS pass without a read.
   */
  async readAt(handle: string, offset: number, bytesMax: number, into?: Uint8Array): Promise<Uint8Array> {
    assert(into === undefined || into.length >= bytesMax, "readAt: `into` holds bytesMax bytes");
    const reader = this.reader(handle);
    reader.reads++;
    try {
      const fh = await reader.fh;
      const buf = into === undefined ? Buffer.allocUnsafe(bytesMax) : into.subarray(0, bytesMax);
      let at = 0;
      // A short read is the file's end: the file of a committed blob never changes.
      for (let read = -1; at < buf.length && read !== 0; at += read) {
        ({ bytesRead: read } = await fh.read(buf, at, buf.length - at, offset + at));
      }
      return buf.subarray(0, at);
    } finally {
      reader.reads--;
      this.idle(handle, reader);
    }
  }

  private reader(handle: string): Reader {
    let r = this.readers.get(handle);
    if (r === undefined) {
      r = { fh: open(this.path(handle), "r"), reads: 0, timer: null, dropped: false };
      // A failed open is not kept: the next read tries again (and a missing blob fails each time).
      r.fh.catch(() => this.dropReader(handle));
      this.readers.set(handle, r);
    }
    if (r.timer !== null) clearTimeout(r.timer);
    r.timer = null;
    return r;
  }

  /** Closes `r` once nothing reads it: at once when dropped, else after READER_IDLE_MS without a read. */
  private idle(handle: string, r: Reader): void {
    if (r.reads > 0) return;
    if (r.dropped) {
      closeReader(r);
      return;
    }
    if (r.timer !== null) clearTimeout(r.timer);
    r.timer = setTimeout(() => {
      if (this.readers.get(handle) === r) this.readers.delete(handle);
      closeReader(r);
    }, READER_IDLE_MS);
    // An open blob must not keep the process alive.
    r.timer.unref();
  }

  /** Later reads of `handle` open its file afresh; reads under way finish on the old one, then it closes. */
  private dropReader(handle: string): void {
    const r = this.readers.get(handle);
    if (r === undefined) return;
    this.readers.delete(handle);
    r.dropped = true;
    if (r.timer !== null) clearTimeout(r.timer);
    r.timer = null;
    if (r.reads === 0) closeReader(r);
  }

  async remove(handle: string): Promise<void> {
    this.dropReader(handle);
    await rm(this.path(handle), { force: true });
    await rm(this.refPath(handle), { force: true });
  }

  async list(): Promise<{ blobs: string[]; refs: string[] }> {
    const names = (await readdir(this.dir)).filter((n) => !n.startsWith("."));
    const strip = (ext: string) => names.filter((n) => n.endsWith(ext)).map((n) => n.slice(0, -ext.length));
    return { blobs: strip(".bin"), refs: strip(".json") };
  }

  readRef(handle: string): Promise<string> {
    return readFile(this.refPath(handle), "utf8");
  }

  writeRef(handle: string, text: string): Promise<void> {
    return writeFileAtomic(this.refPath(handle), new TextEncoder().encode(text), { mode: 0o600 });
  }

  work<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}

/** How long a blob stays open after its last readAt: longer than a fetch waits between two chunks. */
const READER_IDLE_MS = 2000;

interface Reader {
  readonly fh: Promise<FileHandle>;
  /** readAt calls under way on it. */
  reads: number;
  timer: NodeJS.Timeout | null;
  /** No longer in `readers` (its blob was replaced or removed): closed once `reads` is 0. */
  dropped: boolean;
}

function closeReader(r: Reader): void {
  r.fh
    .then(
      (fh) => fh.close(),
      () => {},
    )
    .catch(() => {});
}

class FileDraft implements BlobDraft {
  private end = 0;
  private fh: FileHandle | null;
  private done = false;

  constructor(
    private readonly tmp: string,
    private readonly final: string,
    private readonly dir: string,
    fh: FileHandle,
    /** Called as the draft becomes the blob: a file open for reads of the blob it replaces is dropped. */
    private readonly committed: () => void,
  ) {
    this.fh = fh;
  }

  private handle(): FileHandle {
    if (this.fh === null) throw new UnavailableError(`blob draft ${this.tmp} is closed`);
    return this.fh;
  }

  async append(chunk: Uint8Array): Promise<void> {
    const at = this.end;
    this.end += chunk.length;
    await this.writeAt(chunk, at);
  }

  async writeAt(chunk: Uint8Array, offset: number): Promise<void> {
    const fh = this.handle();
    for (let done = 0; done < chunk.length; ) {
      const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, offset + done);
      done += bytesWritten;
    }
    this.end = Math.max(this.end, offset + chunk.length);
  }

  read(chunkBytes: number): AsyncIterable<Uint8Array> {
    return createReadStream(this.tmp, { highWaterMark: chunkBytes });
  }

  async commit(): Promise<void> {
    const fh = this.handle();
    this.fh = null;
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(this.tmp, this.final);
    this.committed();
    this.done = true;
    await fsyncDir(this.dir);
  }

  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const fh = this.fh;
    this.fh = null;
    await fh?.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}
