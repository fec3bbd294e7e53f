/** The server's data-dir snapshots are private: 0600 at creation, whatever the umask or a crash left behind. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KvStore } from "../fsm/index.js";
import { TcpTransport } from "../transport/index.js";
import { SeededRng } from "../util/rng.js";
import { BlobStore } from "./blobs.js";
import { listSnapshots, saveSnapshot } from "./fsm-snapshot.js";

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
