import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TcpTransport } from "../transport/index.js";
import { SeededRng } from "../util/rng.js";
import { FileBlobFiles } from "./blob-files.js";
import { BlobStore, BufferPool } from "./blobs.js";

const MIB = 1024 * 1024;

type DirStore = BlobStore & { readonly dir: string };

function transport(raftId: number): TcpTransport {
  const hex = raftId.toString(16).padStart(12, "0");
  return new TcpTransport({
    identity: {
      nodeId: `00000000-0000-4000-8000-${hex}`,
      raftId,
      name: `server-${raftId}`,
      datacenter: "dc1",
      version: "0.1.0",
    },
    rng: new SeededRng(raftId),
    log: () => {},
  });
}

/** `n` blob stores on real TCP transports (raft ids 1..n), each in its own temp data-dir. */
async function stores(n: number, fn: (s: readonly DirStore[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-blobs-test-"));
  const ts = Array.from({ length: n }, (_, i) => transport(i + 1));
  try {
    const addrs = await Promise.all(ts.map((t) => t.listen("127.0.0.1", 0)));
    for (const [i, t] of ts.entries()) {
      for (const [j, addr] of addrs.entries()) if (i !== j) t.setPeer(j + 1, `127.0.0.1:${addr.port}`);
    }
    await fn(await Promise.all(ts.map((t, i) => BlobStore.open(join(dir, `s${i + 1}`), t))));
  } finally {
    await Promise.all(ts.map((t) => t.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Two blob stores; `fn` gets (holder, fetcher). */
function pair(fn: (a: DirStore, b: DirStore) => Promise<void>): Promise<void> {
  return stores(2, ([a, b]) => fn(a!, b!));
}

/** Stores `data` as blob `handle`, durably, as a verified restore is kept. */
async function put(store: BlobStore, handle: string, data: Uint8Array): Promise<void> {
  const draft = await store.files.draft(handle, false);
  await draft.append(data);
  await draft.commit();
}

describe("BlobStore.fetch", () => {
  it("copies blobs of every size class exactly: empty, one partial chunk, whole chunks, many chunks", async () => {
    await pair(async (a, b) => {
      // 4 MiB chunks, 2 in flight: sizes around the chunk and window borders.
      for (const size of [0, 1000, 4 * MIB, 8 * MIB, 17 * MIB + 123]) {
        const handle = BlobStore.newHandle();
        const data = randomBytes(size);
        await put(a, handle, data);
        await b.fetch(handle, [1]);
        assert.ok(await b.has(handle));
        assert.ok(
          Buffer.compare(await readFile(join(b.dir, `${handle}.bin`)), data) === 0,
          `blob of ${size} bytes`,
        );
      }
      assert.deepEqual(
        (await readdir(b.dir)).filter((n) => n.endsWith(".tmp")),
        [],
        "no temp file left behind",
      );
    });
  });

  it("serves two fetchers at once, each copy exact (a chunk buffer is read into again only once sent)", async () => {
    await stores(3, async ([a, b, c]) => {
      const handle = BlobStore.newHandle();
      const data = randomBytes(29 * MIB + 5);
      await put(a!, handle, data);
      await Promise.all([b!.fetch(handle, [1]), c!.fetch(handle, [1])]);
      for (const s of [b!, c!]) {
        assert.ok(Buffer.compare(await readFile(join(s.dir, `${handle}.bin`)), data) === 0, s.dir);
      }
    });
  });

  it("fails on a peer without the blob and leaves nothing behind", async () => {
    await pair(async (_a, b) => {
      const handle = BlobStore.newHandle();
      await assert.rejects(b.fetch(handle, [1]));
      assert.equal(await b.has(handle), false);
      assert.deepEqual(await readdir(b.dir), []);
    });
  });
});

describe("BlobStore.prefetchOn", () => {
  it("has a peer fetch the blob from here, and a second fetch of it joins the first", async () => {
    await pair(async (a, b) => {
      const handle = BlobStore.newHandle();
      const data = randomBytes(9 * MIB + 7);
      await put(a, handle, data);
      // Asked twice while the first copy runs (the leader's prefetch, then its own Ready loop): one copy.
      const first = b.fetch(handle, [1]);
      assert.equal(b.fetch(handle, [1]), first);
      const [got] = await Promise.all([a.prefetchOn(handle, [2], [1], 1, 30_000), first]);
      assert.deepEqual(got, { ready: 1, failed: [] });
      assert.ok(Buffer.compare(await readFile(join(b.dir, `${handle}.bin`)), data) === 0);
      assert.deepEqual(await readdir(b.dir), [`${handle}.bin`]);
      // Asked again, b already holds it: nothing is copied, and the answer is the same.
      assert.deepEqual(await a.prefetchOn(handle, [2], [1], 1, 30_000), { ready: 1, failed: [] });
    });
  });

  it("reports a peer that cannot fetch the blob, and changes nothing there", async () => {
    await pair(async (a, b) => {
      const handle = BlobStore.newHandle();
      const got = await a.prefetchOn(handle, [2], [1], 1, 30_000);
      assert.equal(got.ready, 0);
      assert.equal(got.failed.length, 1);
      assert.equal(await b.has(handle), false);
      assert.deepEqual(await readdir(b.dir), []);
    });
  });
});

describe("BufferPool", () => {
  it("lends a buffer again only after its release, found from any view of it", () => {
    const pool = new BufferPool(8, 2);
    const a = pool.take();
    const b = pool.take();
    assert.notEqual(a.buffer, b.buffer);
    assert.equal(pool.out, 2);
    pool.release(b.subarray(0, 3)); // a short last chunk is a view of its buffer
    assert.equal(pool.take(), b, "the released buffer is lent again");
    assert.notEqual(pool.take(), a, "a buffer still out is never lent twice");
    assert.equal(pool.out, 3);
  });

  it("ignores bytes it never lent, and keeps at most `keep` free buffers", () => {
    const pool = new BufferPool(8, 1);
    const a = pool.take();
    const b = pool.take();
    pool.release(new Uint8Array(8));
    assert.equal(pool.out, 2);
    pool.release(a);
    pool.release(a); // a second release of the same buffer changes nothing
    pool.release(b);
    assert.equal(pool.out, 0);
    assert.equal(pool.take(), a);
    assert.notEqual(pool.take(), b, "b was dropped: only one free buffer is kept");
  });
});

describe("FileBlobFiles.readAt", () => {
  it("reads a replaced blob's new bytes and fails on a removed one, though it keeps files open", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-blob-files-test-"));
    try {
      const files = await FileBlobFiles.open(dir);
      const write = async (data: Uint8Array): Promise<void> => {
        const d = await files.draft("h", false);
        await d.append(data);
        await d.commit();
      };
      await write(Uint8Array.of(1, 2, 3, 4, 5));
      const into = new Uint8Array(4);
      assert.deepEqual([...(await files.readAt("h", 0, 4, into))], [1, 2, 3, 4]);
      assert.deepEqual([...(await files.readAt("h", 4, 4, into))], [5], "fewer at the end");
      assert.deepEqual([...(await files.readAt("h", 9, 4))], [], "none past it");
      await write(Uint8Array.of(9, 8));
      assert.deepEqual([...(await files.readAt("h", 0, 4))], [9, 8], "the committed replacement");
      await files.remove("h");
      await assert.rejects(files.readAt("h", 0, 4), /ENOENT/);
      await write(Uint8Array.of(7));
      assert.deepEqual([...(await files.readAt("h", 0, 4))], [7], "written again after a failed read");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
