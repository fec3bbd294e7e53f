import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { NodeId } from "../raft/index.js";
import { fsyncDir } from "../storage/index.js";
import type { TcpTransport } from "../transport/index.js";
import { UnavailableError } from "../util/errors.js";

const READ = "blob.read";
const CHUNK_BYTES_MAX = 4 * 1024 * 1024;
const HANDLE = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Verified state.bin files of user restores, kept in `<data-dir>/blobs/<handle>.bin`. A restore entry in the
 * log names its blob; a server makes the blob durable before it persists (and so acknowledges) the entry,
 * fetching it from a peer that has it, so every server that applies the entry can (raft-notes 1.15; DESIGN.md:
 * data moves outside the core).
 */
export class BlobStore {
  readonly dir: string;
  private readonly transport: TcpTransport;

  private constructor(dir: string, transport: TcpTransport) {
    this.dir = dir;
    this.transport = transport;
    transport.onRequest(READ, async (_from, body) => this.serve(body));
  }

  static async open(dataDir: string, transport: TcpTransport): Promise<BlobStore> {
    const dir = join(dataDir, "blobs");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new BlobStore(dir, transport);
  }

  static newHandle(): string {
    return `restore-${randomUUID()}`;
  }

  path(handle: string): string {
    if (!HANDLE.test(handle)) throw new UnavailableError(`invalid blob handle "${handle}"`);
    return join(this.dir, `${handle}.bin`);
  }

  async has(handle: string): Promise<boolean> {
    return stat(this.path(handle)).then(
      () => true,
      () => false,
    );
  }

  /** Moves a verified file into the store under `handle`, durably (rename, then fsync the directory). */
  async adopt(handle: string, file: string): Promise<void> {
    const fh = await open(file, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(file, this.path(handle));
    await fsyncDir(this.dir);
  }

  /** Copies a blob from the first peer that has it: temp name, fsync, rename, fsync the directory. */
  async fetch(handle: string, peers: readonly NodeId[]): Promise<void> {
    let last: unknown = new UnavailableError(`no peer to fetch blob "${handle}" from`);
    for (const peer of peers) {
      const tmp = join(this.dir, `.${handle}.${randomUUID()}.tmp`);
      try {
        await this.copyFrom(peer, handle, tmp);
        await rename(tmp, this.path(handle));
        await fsyncDir(this.dir);
        return;
      } catch (e) {
        last = e;
        await rm(tmp, { force: true });
      }
    }
    throw last;
  }

  private async copyFrom(peer: NodeId, handle: string, tmp: string): Promise<void> {
    const fh = await open(tmp, "wx", 0o600);
    try {
      for (let offset = 0; ; ) {
        const req = new TextEncoder().encode(JSON.stringify({ handle, offset }));
        const chunk = await this.transport.request(peer, READ, req, 30_000);
        if (chunk.length === 0) break;
        await fh.write(chunk, 0, chunk.length, offset);
        offset += chunk.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private async serve(body: Uint8Array): Promise<Uint8Array> {
    const { handle, offset } = JSON.parse(new TextDecoder().decode(body)) as {
      handle: string;
      offset: number;
    };
    const path = this.path(handle);
    const chunks: Buffer[] = [];
    let size = 0;
    const stream = createReadStream(path, { start: offset, end: offset + CHUNK_BYTES_MAX - 1 });
    for await (const c of stream) {
      chunks.push(c as Buffer);
      size += (c as Buffer).length;
    }
    return Buffer.concat(chunks, size);
  }
}
