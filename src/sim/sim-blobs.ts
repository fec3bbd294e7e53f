import { type BlobDraft, type BlobFiles, checkHandle } from "../server/blob-files.js";
import { assert } from "../util/assert.js";
import type { Clock } from "../util/clock.js";
import { UnavailableError } from "../util/errors.js";
import type { Life } from "./sim-clock.js";
import type { FsyncDelay, SimDurableDisk } from "./sim-storage.js";

/** Rounds of a drain: works that finished starting others, far beyond any real chain (a runaway loop otherwise). */
const DRAIN_ROUNDS_MAX = 10_000;

/**
 * The blob work (BlobFiles.work: archive encoding and decoding, on zlib's thread pool and the event loop) of a
 * whole world, run one at a time in the order started. The world drains it after each event, so a work runs to
 * its end before any other event, as if it took no virtual time: how long the thread pool takes never reaches a
 * seed's schedule. A work never waits on an event (no network, no timer; blob-files.ts), so a drain ends.
 */
export class BlobWork {
  private tail: Promise<void> = Promise.resolve();
  private running = 0;

  /** Whether work is queued or running (the world drains only then). */
  get busy(): boolean {
    return this.running > 0;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.running++;
    const p = this.tail.then(fn);
    this.tail = p.then(
      () => {
        this.running--;
      },
      () => {
        this.running--;
      },
    );
    return p;
  }

  /** Waits until no work is left, `settle` (every microtask run to its end) after each, since one may start more. */
  async drain(settle: () => Promise<void>): Promise<void> {
    for (let round = 0; this.running > 0; round++) {
      assert(round < DRAIN_ROUNDS_MAX, `blob work drains in at most ${DRAIN_ROUNDS_MAX} rounds`);
      await this.tail;
      await settle();
    }
  }
}

/** What a server's blob store tells the world (coverage). */
export interface BlobObserver {
  /** A peer asked for a blob this server had and has since removed (a snapshot pruned before its send was fetched). */
  goneAsked(handle: string): void;
}

/**
 * The durable part of a server's blob store in the simulator, beside its log on the same simulated disk
 * (simBlobDisk): what survives a crash. A blob or ref is here once its writer's simulated fsyncs are done.
 */
export class SimBlobDisk {
  readonly blobs = new Map<string, Uint8Array>();
  readonly refs = new Map<string, string>();
  /** The store of the process running now (the last opened). */
  private current: SimBlobFiles | null = null;

  /** The store a new process sees: exactly what is durable. */
  open(life: Life, clock: Clock, fsyncMs: FsyncDelay, work: BlobWork, observer: BlobObserver): SimBlobFiles {
    this.current = new SimBlobFiles(this, life, clock, fsyncMs, work, observer);
    return this.current;
  }

  /**
   * Puts blob `handle` here durably at once, as an operator's file copied in and synced before the server
   * is told of it (a user restore's verified state.bin); the running process sees it too.
   */
  put(handle: string, bytes: Uint8Array): void {
    checkHandle(handle);
    const copy = bytes.slice();
    this.blobs.set(handle, copy);
    this.current?.sees(handle, copy);
  }
}

const blobDisks = new WeakMap<SimDurableDisk, SimBlobDisk>();

/** The blob directory of a server's simulated disk (made empty on first use; it lives as long as the disk). */
export function simBlobDisk(disk: SimDurableDisk): SimBlobDisk {
  let b = blobDisks.get(disk);
  if (b === undefined) {
    b = new SimBlobDisk();
    blobDisks.set(disk, b);
  }
  return b;
}

/**
 * One process's blob store in the simulator (BlobFiles), in memory: it sees its own writes at once, and they
 * become durable (reach its SimBlobDisk) only after a simulated fsync of the data and one of the directory,
 * each an event on the server's SimClock, as a WAL sync is (sim-storage.ts). A crash loses whatever had not
 * reached the disk: a draft, a blob or ref whose fsyncs had not both completed. Removals are durable at once.
 * Every call completes through microtasks or the world's events: no real I/O, no real timers.
 */
export class SimBlobFiles implements BlobFiles {
  private readonly blobs: Map<string, Uint8Array>;
  private readonly refs: Map<string, string>;
  /** Blobs this process removed: a later ask for one of them is a fetch that lost a race with a prune. */
  private readonly removed = new Set<string>();

  constructor(
    private readonly disk: SimBlobDisk,
    private readonly life: Life,
    private readonly clock: Clock,
    private readonly fsyncMs: FsyncDelay,
    private readonly blobWork: BlobWork,
    private readonly observer: BlobObserver,
  ) {
    this.blobs = new Map(disk.blobs);
    this.refs = new Map(disk.refs);
  }

  /** A blob put on the disk from outside (SimBlobDisk.put). */
  sees(handle: string, bytes: Uint8Array): void {
    if (this.life.alive) this.blobs.set(handle, bytes);
  }

  /**
   * Write, fsync, rename, fsync the directory: the process sees the result after the first fsync (the
   * rename), the disk keeps it after the second. A process that died meanwhile never gets there.
   */
  private async durably(publish: () => void, persist: () => void): Promise<void> {
    await this.clock.sleep(this.fsyncMs());
    if (!this.life.alive) return;
    publish();
    await this.clock.sleep(this.fsyncMs());
    if (this.life.alive) persist();
  }

  async draft(handle: string, _own: boolean): Promise<BlobDraft> {
    checkHandle(handle);
    return new SimDraft(this, handle);
  }

  async has(handle: string): Promise<boolean> {
    checkHandle(handle);
    return this.blobs.has(handle);
  }

  private get(handle: string): Uint8Array {
    checkHandle(handle);
    const b = this.blobs.get(handle);
    if (b === undefined) {
      // Once per blob: a fetch asks again and again before it gives up.
      if (this.removed.delete(handle)) this.observer.goneAsked(handle);
      throw new UnavailableError(`no blob "${handle}"`);
    }
    return b;
  }

  async *read(handle: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
    yield* chunksOf(this.get(handle), chunkBytes);
  }

  async readAt(handle: string, offset: number, bytesMax: number): Promise<Uint8Array> {
    const b = this.get(handle);
    return b.slice(Math.min(offset, b.length), Math.min(offset + bytesMax, b.length));
  }

  async remove(handle: string): Promise<void> {
    checkHandle(handle);
    if (this.blobs.delete(handle)) this.removed.add(handle);
    this.refs.delete(handle);
    if (!this.life.alive) return;
    this.disk.blobs.delete(handle);
    this.disk.refs.delete(handle);
  }

  async list(): Promise<{ blobs: string[]; refs: string[] }> {
    return { blobs: [...this.blobs.keys()], refs: [...this.refs.keys()] };
  }

  async readRef(handle: string): Promise<string> {
    checkHandle(handle);
    const text = this.refs.get(handle);
    if (text === undefined) throw new UnavailableError(`no ref "${handle}"`);
    return text;
  }

  async writeRef(handle: string, text: string): Promise<void> {
    checkHandle(handle);
    await this.durably(
      () => this.refs.set(handle, text),
      () => this.disk.refs.set(handle, text),
    );
  }

  /** A committed draft: the process sees it after the data's fsync, the disk keeps it after the directory's. */
  async commitDraft(handle: string, bytes: Uint8Array): Promise<void> {
    await this.durably(
      () => {
        this.blobs.set(handle, bytes);
        this.removed.delete(handle);
      },
      () => this.disk.blobs.set(handle, bytes),
    );
  }

  work<T>(fn: () => Promise<T>): Promise<T> {
    return this.blobWork.run(fn);
  }
}

function* chunksOf(bytes: Uint8Array, chunkBytes: number): Generator<Uint8Array> {
  assert(chunkBytes > 0, "read blobs in chunks of at least a byte");
  for (let at = 0; at < bytes.length; at += chunkBytes) yield bytes.subarray(at, at + chunkBytes);
}

/** A blob being written, in memory: nothing of it is on the disk until committed. */
class SimDraft implements BlobDraft {
  private bytes = new Uint8Array(0);
  private length = 0;
  private spent = false;

  constructor(
    private readonly files: SimBlobFiles,
    private readonly handle: string,
  ) {}

  async append(chunk: Uint8Array): Promise<void> {
    this.put(chunk, this.length);
  }

  async writeAt(chunk: Uint8Array, offset: number): Promise<void> {
    this.put(chunk, offset);
  }

  private put(chunk: Uint8Array, offset: number): void {
    if (this.spent) throw new UnavailableError(`blob draft of "${this.handle}" is closed`);
    const end = offset + chunk.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(chunk, offset);
    this.length = Math.max(this.length, end);
  }

  async *read(chunkBytes: number): AsyncGenerator<Uint8Array> {
    yield* chunksOf(this.bytes.subarray(0, this.length), chunkBytes);
  }

  async commit(): Promise<void> {
    if (this.spent) throw new UnavailableError(`blob draft of "${this.handle}" is closed`);
    this.spent = true;
    const bytes = this.bytes.slice(0, this.length);
    this.bytes = new Uint8Array(0);
    await this.files.commitDraft(this.handle, bytes);
  }

  async discard(): Promise<void> {
    this.spent = true;
    this.bytes = new Uint8Array(0);
  }
}
