import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { NodeId } from "../raft/index.js";
import type { PeerTransport } from "../transport/index.js";
import { UnavailableError } from "../util/errors.js";
import { assert } from "../util/index.js";
import { type BlobDraft, type BlobFiles, FileBlobFiles } from "./blob-files.js";
import { call, serve, serveLent } from "./rpc.js";
import { RPC } from "./rpc-methods.js";

const CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/**
 * Chunk buffers a store keeps for serving: a restore's leader serves two followers FETCH_WINDOW chunks each.
 * More at once get fresh buffers, dropped after use.
 */
const SERVE_BUFFERS = 4;
/** Chunk requests one fetch keeps in flight: 2 × 4 MiB buffered at most per fetching peer (a leader serves two at once, inside the 64 MB bound on a restore's peak). */
const FETCH_WINDOW = 2;
/** A bound on one fetch's loop: 2^20 chunks of even 4 MiB is 4 TiB, beyond any state. */
const FETCH_CHUNKS_MAX = 1 << 20;

/**
 * A server's blobs (blob-files.ts) and their moves between servers: snapshot archives and the verified
 * state.bin files of user restores. A restore entry in the log names its blob; a server makes the blob
 * durable before it persists (and so acknowledges) the entry, fetching it from a peer that has it, so every
 * server that applies the entry can (docs/raft-notes.md 1.15; data moves beside the core,
 * docs/ARCHITECTURE.md). The agent's are files in `<data-dir>/blobs/`; the simulator's are in memory.
 */
export class BlobStore {
  readonly files: BlobFiles;
  private readonly transport: PeerTransport;
  /** Fetches under way, by handle: a second ask for the same blob (the Ready loop's, after a prefetch) joins it. */
  private readonly fetching = new Map<string, Promise<void>>();
  /** Blobs a peer was just told to fetch (a snapshot sent), by how many such sends hold each: kept from pruning. */
  private readonly pins = new Map<string, number>();
  /** The buffers chunks are read into for peers' fetches, lent to the transport until it has written them. */
  private readonly buffers = new BufferPool(CHUNK_BYTES_MAX, SERVE_BUFFERS);

  constructor(files: BlobFiles, transport: PeerTransport) {
    this.files = files;
    this.transport = transport;
    serveLent(
      transport,
      RPC.blobRead,
      (req) => this.serve(req),
      (answer) => this.buffers.release(answer),
    );
    serve(transport, RPC.blobPrefetch, async ({ handle, from }) => {
      if (!(await this.has(handle))) await this.fetch(handle, from);
      return true;
    });
  }

  /** The agent's store: the files in `<dataDir>/blobs`. */
  static async open(
    dataDir: string,
    transport: PeerTransport,
  ): Promise<BlobStore & { readonly dir: string }> {
    const files = await FileBlobFiles.open(join(dataDir, "blobs"));
    return Object.assign(new BlobStore(files, transport), { dir: files.dir });
  }

  static newHandle(): string {
    return `restore-${randomUUID()}`;
  }

  has(handle: string): Promise<boolean> {
    return this.files.has(handle);
  }

  /** Holds blob `handle` for a peer's coming fetch: pruning leaves it until every pin is released. */
  pin(handle: string): void {
    this.pins.set(handle, (this.pins.get(handle) ?? 0) + 1);
  }

  unpin(handle: string): void {
    const n = (this.pins.get(handle) ?? 0) - 1;
    if (n > 0) this.pins.set(handle, n);
    else this.pins.delete(handle);
  }

  pinned(handle: string): boolean {
    return this.pins.has(handle);
  }

  /**
   * Copies a blob from the first peer that has it: temp name, fsync, rename, fsync the directory. A fetch of
   * the same handle already under way is joined, not repeated.
   */
  fetch(handle: string, peers: readonly NodeId[]): Promise<void> {
    const running = this.fetching.get(handle);
    if (running !== undefined) return running;
    const p = this.fetchFrom(handle, peers).finally(() => this.fetching.delete(handle));
    this.fetching.set(handle, p);
    return p;
  }

  /**
   * Has each of `peers` fetch the blob from `from` before a restore entry naming it is proposed, in parallel;
   * resolves once `enough` of them have it (or every ask has settled), the others going on in the background.
   * Only a head start: a member without the blob fetches it when it persists the entry, as before.
   */
  async prefetchOn(
    handle: string,
    peers: readonly NodeId[],
    from: readonly NodeId[],
    enough: number,
    timeoutMs: number,
  ): Promise<{ ready: number; failed: unknown[] }> {
    let ready = 0;
    const failed: unknown[] = [];
    await new Promise<void>((resolve) => {
      let settled = 0;
      const done = (): void => {
        settled++;
        if (ready >= enough || settled === peers.length) resolve();
      };
      if (peers.length === 0 || enough <= 0) resolve();
      for (const peer of peers) {
        call(this.transport, peer, RPC.blobPrefetch, { handle, from: [...from] }, timeoutMs).then(
          () => {
            ready++;
            done();
          },
          (e: unknown) => {
            failed.push(e);
            done();
          },
        );
      }
    });
    return { ready, failed };
  }

  private async fetchFrom(handle: string, peers: readonly NodeId[]): Promise<void> {
    let last: unknown = new UnavailableError(`no peer to fetch blob "${handle}" from`);
    for (const peer of peers) {
      let draft: BlobDraft | undefined;
      try {
        draft = await this.files.draft(handle, true);
        await this.copyFrom(peer, handle, draft);
        await draft.commit();
        return;
      } catch (e) {
        last = e;
        await draft?.discard();
      }
    }
    throw last;
  }

  /**
   * Fetches the blob in chunks, FETCH_WINDOW of them in flight: a leader busy rebuilding its own state
   * answers between its steps, so one request at a time would wait out a step per chunk (and a 340 MB blob
   * is 85 chunks). The first chunk's length is the peer's chunk size; a shorter or empty one marks the end.
   * Chunks land at their offsets, so the order they arrive in does not matter.
   */
  private async copyFrom(peer: NodeId, handle: string, draft: BlobDraft): Promise<void> {
    const read = async (offset: number): Promise<number> => {
      const chunk = await call(this.transport, peer, RPC.blobRead, { handle, offset }, 30_000);
      if (chunk.length > 0) await draft.writeAt(chunk, offset);
      return chunk.length;
    };
    const size = await read(0);
    let end = size === 0 ? 0 : Number.POSITIVE_INFINITY;
    let next = size;
    let failure: { error: unknown } | null = null;
    const inflight = new Set<Promise<void>>();
    const issue = (offset: number): void => {
      const p: Promise<void> = read(offset).then(
        (n) => {
          inflight.delete(p);
          if (n < size) end = Math.min(end, offset + n);
        },
        (error: unknown) => {
          inflight.delete(p);
          failure ??= { error };
        },
      );
      inflight.add(p);
    };
    // After a failure no more requests go out, and the ones in flight settle before the draft is dropped.
    for (let round = 0; (failure === null && next < end) || inflight.size > 0; round++) {
      assert(round <= FETCH_CHUNKS_MAX, `fetch blob "${handle}" in at most ${FETCH_CHUNKS_MAX} chunks`);
      while (failure === null && next < end && inflight.size < FETCH_WINDOW) {
        issue(next);
        next += size;
      }
      if (inflight.size > 0) await Promise.race(inflight);
    }
    if (failure !== null) throw (failure as { error: unknown }).error;
  }

  /**
   * One chunk of a blob, for a peer's fetch: read into a pooled buffer, lent to the transport with the answer
   * (released when written; never, when the caller got the bytes themselves, as in the simulator).
   */
  private async serve({ handle, offset }: { handle: string; offset: number }): Promise<Uint8Array> {
    if (offset < 0) throw new UnavailableError(`invalid blob offset ${offset}`);
    const into = this.buffers.take();
    try {
      const chunk = await this.files.readAt(handle, offset, CHUNK_BYTES_MAX, into);
      if (chunk.buffer !== into.buffer) this.buffers.release(into); // the files answered with bytes of their own
      return chunk;
    } catch (e) {
      this.buffers.release(into);
      throw e;
    }
  }
}

/**
 * Equal buffers reused: `take` hands out a free one (or a new one when all are out), `release` takes back a
 * buffer, or any view of one, that `take` handed out. A buffer is never handed out twice before its release;
 * one never released is simply dropped (the garbage collector's). At most `keep` are kept while free.
 */
export class BufferPool {
  private readonly free: Uint8Array[] = [];
  /** The buffers handed out and not yet released, by their memory (a view's `buffer` finds its buffer). */
  private readonly lent = new Map<ArrayBufferLike, Uint8Array>();

  constructor(
    private readonly bytes: number,
    private readonly keep: number,
  ) {}

  take(): Uint8Array {
    // Each buffer its own ArrayBuffer (not a slice of Node's shared pool), so `buffer` names it alone.
    const b = this.free.pop() ?? new Uint8Array(this.bytes);
    this.lent.set(b.buffer, b);
    return b;
  }

  /** Takes back `view`'s buffer if it is one lent by `take`; anything else is ignored. */
  release(view: Uint8Array): void {
    const b = this.lent.get(view.buffer);
    if (b === undefined) return;
    this.lent.delete(view.buffer);
    if (this.free.length < this.keep) this.free.push(b);
  }

  /** Buffers lent and not released (for tests). */
  get out(): number {
    return this.lent.size;
  }
}
