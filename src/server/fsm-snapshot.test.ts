/** The server's data-dir snapshots are private: 0600 at creation, whatever the umask or a crash left behind. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type KvCommand, KvStore } from "../fsm/index.js";
import { TcpTransport } from "../transport/index.js";
import { SeededRng } from "../util/rng.js";
import { BlobStore } from "./blobs.js";
import { fromMeta, listSnapshots, loadSnapshot, saveSnapshot, toMeta } from "./fsm-snapshot.js";

function transport(): TcpTransport {
  return new TcpTransport({
    identity: {
      nodeId: "00000000-0000-4000-8000-000000000001",
      raftId: 1,
      name: "s1",
      datacenter: "dc1",
      version: "0.1.0",
    },
    rng: new SeededRng(1),
    log: () => {},
  });
}

describe("saveSnapshot", () => {
  it("writes the archive and its sidecar 0600 under umask 000, replacing a crash's wider temp file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-fsm-snapshot-test-"));
    const old = process.umask(0o000);
    const t = transport();
    try {
      const blobs = await BlobStore.open(dir, t);
      // What a crash between create and rename leaves: the temp name, made wide by an earlier umask.
      const leftover = join(blobs.dir, ".snap-2-7.tmp");
      await writeFile(leftover, "partial", { mode: 0o644 });
      const ref = await saveSnapshot(
        blobs,
        new KvStore().snapshot(),
        { index: 7, term: 2, conf: { voters: [1], learners: [] }, indexOffset: 0, members: [] },
        undefined,
      );
      assert.deepEqual(
        (await listSnapshots(blobs)).map((r) => r.handle),
        [ref.handle],
      );
      const files = (await readdir(blobs.dir)).sort();
      assert.deepEqual(files, ["snap-2-7.bin", "snap-2-7.json"], "the temp file is gone");
      for (const f of files) assert.equal((await stat(join(blobs.dir, f))).mode & 0o777, 0o600, f);
      assert.equal((await stat(blobs.dir)).mode & 0o777, 0o700);
    } finally {
      process.umask(old);
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("snapshots carry lock-delays beside state.bin", () => {
  it("in the sidecar and the InstallSnapshot handle; a store loaded from them judges as the one saved", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-fsm-snapshot-test-"));
    const t = transport();
    try {
      const blobs = await BlobStore.open(dir, t);
      const store = new KvStore();
      const s1 = "11111111-1111-1111-1111-111111111111";
      const cmds: KvCommand[] = [
        {
          op: "session-create",
          time: 1000,
          session: {
            ID: s1,
            Name: "",
            Node: "n1",
            LockDelay: 15e9,
            Behavior: "release",
            TTL: "",
            NodeChecks: [],
            ServiceChecks: null,
          },
        },
        { op: "acquire", key: "k", value: null, flags: 0n, session: s1, time: 2000 },
        { op: "session-destroy", id: s1, time: 5000 },
      ];
      for (const [i, c] of cmds.entries()) store.execute(i + 1, c);
      const saved = await saveSnapshot(
        blobs,
        store.snapshot(),
        { index: 3, term: 1, conf: { voters: [1], learners: [] }, indexOffset: 0, members: [] },
        undefined,
      );
      const want = { clock: 5000, delays: [{ key: "k", until: 20_000 }] };
      assert.deepEqual((await listSnapshots(blobs))[0]?.lockDelays, want, "in the sidecar");
      const sent = fromMeta(toMeta(saved));
      assert.deepEqual(sent.lockDelays, want, "in the InstallSnapshot handle");
      const loaded = new KvStore();
      await loadSnapshot(blobs, loaded, sent);
      assert.deepEqual([...loaded.lockDelays], [["k", 20_000]]);
      assert.equal(loaded.lockClock, 5000);
      assert.equal(loaded.isLockDelayed("k", 19_999), true);
      // A sidecar written before lock-delays were carried: the store starts with none, as before.
      const { lockDelays: _gone, ...old } = saved;
      const fresh = new KvStore();
      await loadSnapshot(blobs, fresh, old);
      assert.equal(fresh.lockDelays.size, 0);
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("listSnapshots", () => {
  it("answers from each sidecar's text as it is now: a rewritten sidecar is read anew, a removed one is gone", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-fsm-snapshot-test-"));
    const t = transport();
    try {
      const blobs = await BlobStore.open(dir, t);
      const conf = { voters: [1], learners: [] };
      const store = new KvStore();
      const a = await saveSnapshot(
        blobs,
        store.snapshot(),
        { index: 3, term: 1, conf, indexOffset: 0, members: [] },
        undefined,
      );
      const b = await saveSnapshot(
        blobs,
        store.snapshot(),
        { index: 5, term: 1, conf, indexOffset: 0, members: [] },
        undefined,
      );
      assert.deepEqual(
        (await listSnapshots(blobs)).map((r) => [r.handle, r.indexOffset]),
        [
          [b.handle, 0],
          [a.handle, 0],
        ],
      );
      // What a save keeps of its sidecar is what another store, parsing the files, reads.
      const fresh = await BlobStore.open(dir, t);
      assert.deepStrictEqual(await listSnapshots(blobs), await listSnapshots(fresh));
      // The same handle's sidecar written again with other content (as a fetch's adopt, or after a crash).
      await blobs.files.writeRef(a.handle, JSON.stringify({ ...a, indexOffset: 4 }));
      assert.deepEqual(
        (await listSnapshots(blobs)).map((r) => [r.handle, r.indexOffset]),
        [
          [b.handle, 0],
          [a.handle, 4],
        ],
      );
      await blobs.files.remove(b.handle);
      assert.deepEqual(
        (await listSnapshots(blobs)).map((r) => r.handle),
        [a.handle],
      );
      // A restart: another store over the same directory reads the same.
      const again = await BlobStore.open(dir, t);
      assert.deepEqual(
        (await listSnapshots(again)).map((r) => [r.handle, r.indexOffset]),
        [[a.handle, 4]],
      );
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a small snapshot saved is read back in memory into a store that holds what was saved", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-fsm-snapshot-test-"));
    const t = transport();
    try {
      const blobs = await BlobStore.open(dir, t);
      const store = new KvStore();
      for (let i = 1; i <= 20; i++) {
        store.execute(i, {
          op: "set",
          key: `k/${i}`,
          value: new TextEncoder().encode(`v${i}`),
          flags: BigInt(i),
        });
      }
      const ref = await saveSnapshot(
        blobs,
        store.snapshot(),
        { index: 20, term: 2, conf: { voters: [1], learners: [] }, indexOffset: 0, members: [] },
        undefined,
      );
      const loaded = new KvStore();
      await loadSnapshot(blobs, loaded, ref);
      assert.equal(loaded.recordCount, store.recordCount);
      for (let i = 1; i <= 20; i++) assert.deepEqual(loaded.get(`k/${i}`), store.get(`k/${i}`), `k/${i}`);
      // Nothing left beside the archive and its sidecar.
      assert.deepEqual((await readdir(blobs.dir)).sort(), ["snap-2-20.bin", "snap-2-20.json"]);
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
