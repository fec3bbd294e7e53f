import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TcpTransport } from "../transport/index.js";
import { SeededRng } from "../util/rng.js";
import { BlobStore } from "./blobs.js";

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

/** Two blob stores on real TCP transports, each in its own temp data-dir; `fn` gets (holder, fetcher). */
async function pair(fn: (a: DirStore, b: DirStore) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-blobs-test-"));
  const ta = transport(1);
  const tb = transport(2);
  try {
    const addrA = await ta.listen("127.0.0.1", 0);
    const addrB = await tb.listen("127.0.0.1", 0);
    ta.setPeer(2, `127.0.0.1:${addrB.port}`);
    tb.setPeer(1, `127.0.0.1:${addrA.port}`);
    const a = await BlobStore.open(join(dir, "a"), ta);
    const b = await BlobStore.open(join(dir, "b"), tb);
    await fn(a, b);
  } finally {
    await Promise.all([ta.close(), tb.close()]);
    await rm(dir, { recursive: true, force: true });
  }
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
