import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fixture, skipUnlessFixtures } from "../src/snapshot/testutil.js";
import { type Agent, Cluster, put, runCairn, sleep } from "./cluster.js";

/** The real-world archive (Consul 1.11.4, Vault backend): an optional fixture, test/fixtures/consul/README.md. */
const REAL_WORLD = "realworld/khayalghosh-data-backup.snap";

async function kvDump(a: Agent, mode = "consistent"): Promise<string> {
  const r = await fetch(`${a.http}/v1/kv/?recurse&${mode}`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(r.status, 200, await r.clone().text());
  const entries = (await r.json()) as { Key: string; Value: string | null; Flags: number }[];
  return JSON.stringify(entries.map((e) => [e.Key, e.Value, e.Flags]));
}

function cli(a: Agent, ...args: string[]) {
  const [group, sub, ...rest] = args;
  return runCairn([group!, sub!, `-http-addr=${a.http}`, ...rest], 60_000);
}

/** Restores fixture `name` through a follower, saves it back from the leader, and diffs the two archives. */
async function restoreAndSaveBack(c: Cluster, name: string): Promise<void> {
  const leader = await c.leader();
  const file = fixture(name);
  const restored = await cli(c.agents[1]!, "snapshot", "restore", file);
  assert.equal(restored.code, 0, `${name}: ${restored.out}`);
  const again = join(c.dir, `${name.replace("/", "-")}.again`);
  assert.equal((await cli(leader, "snapshot", "save", again)).code, 0);
  const diff = await runCairn(["snapshot", "diff", file, again]);
  assert.equal(diff.code, 0, diff.out);
  assert.match(diff.out, /KV keys: 0 added, 0 removed, 0 changed/, name);
  assert.match(diff.out, /Record counts: unchanged/, name);
}

describe("snapshots as real processes", { timeout: 180_000 }, () => {
  it("the backup drill: save, delete a key, restore, every key is back on every server; and kill -9 of all survives", async () => {
    const c = await Cluster.start(3);
    try {
      const leader = await c.leader();
      for (let i = 0; i < 40; i++) assert.equal((await put(leader, `app/${i}`, `v${i}`)).status, 200);
      assert.equal((await put(leader, "dummy", "canary")).status, 200);
      const before = await kvDump(leader);
      const file = join(c.dir, "backup.snap");
      const saved = await cli(c.agents[1]!, "snapshot", "save", file);
      assert.equal(saved.code, 0, saved.out);
      assert.match(saved.out, /^Saved and verified snapshot to index \d+\n$/);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.ok(!existsSync(`${file}.unverified`));
      const inspected = await runCairn(["snapshot", "inspect", file]);
      assert.equal(inspected.code, 0, inspected.out);
      assert.match(inspected.out, /KVS\s+41/);
      await fetch(`${leader.http}/v1/kv/dummy`, { method: "DELETE" });
      assert.equal((await fetch(`${leader.http}/v1/kv/dummy`)).status, 404);
      const restored = await cli(c.agents[2]!, "snapshot", "restore", file);
      assert.equal(restored.code, 0, restored.out);
      assert.equal(restored.out, "Restored snapshot\n");
      for (const a of c.agents) assert.equal(await kvDump(a), before, `server ${a.name}`);
      assert.equal((await put(leader, "after-restore", "x")).status, 200);
      const expected = await kvDump(leader);
      for (const a of c.agents) c.kill9(a);
      await sleep(300);
      for (const a of c.agents) c.launch(a, 3);
      const again = await c.leader(20_000);
      assert.equal(await kvDump(again), expected);
    } finally {
      await c.stop();
    }
  });

  it("with quorum lost, a -stale save works and holds every acknowledged write; consistent save and restore refuse", async () => {
    const c = await Cluster.start(3);
    try {
      const leader = await c.leader();
      for (let i = 0; i < 30; i++) assert.equal((await put(leader, `k/${i}`, "v")).status, 200);
      const survivor = c.agents.find((a) => a !== leader)!;
      await sleep(300);
      const stopped = c.agents.filter((a) => a !== survivor);
      for (const a of stopped) a.proc?.kill("SIGSTOP");
      try {
        const staleFile = join(c.dir, "stale.snap");
        const stale = await cli(survivor, "snapshot", "save", "-stale", staleFile);
        assert.equal(stale.code, 0, stale.out);
        const decoded = await runCairn(["snapshot", "inspect", staleFile]);
        assert.match(decoded.out, /KVS\s+30/);
        const t0 = Date.now();
        const consistent = await cli(survivor, "snapshot", "save", join(c.dir, "consistent.snap"));
        assert.equal(consistent.code, 1);
        assert.match(consistent.out, /Error saving snapshot: .*(No cluster leader|timed out)/);
        assert.ok(Date.now() - t0 < 20_000);
        assert.ok(
          !existsSync(join(c.dir, "consistent.snap")) &&
            !existsSync(join(c.dir, "consistent.snap.unverified")),
        );
        const restore = await cli(survivor, "snapshot", "restore", staleFile);
        assert.equal(restore.code, 1);
        assert.match(restore.out, /Error restoring snapshot/);
      } finally {
        for (const a of stopped) a.proc?.kill("SIGCONT");
      }
    } finally {
      await c.stop();
    }
  });

  it("a leader killed with -9 in the middle of a save: the CLI fails cleanly and leaves no file", async () => {
    // A test-only throttle streams the archive 4 KiB per 300 ms, so the save lasts seconds.
    process.env.CAIRN_TEST_SNAPSHOT_THROTTLE_MS = "300";
    const c = await Cluster.start(3);
    delete process.env.CAIRN_TEST_SNAPSHOT_THROTTLE_MS;
    try {
      const leader = await c.leader();
      // Incompressible values, so the archive spans many 4 KiB pieces.
      for (let i = 0; i < 60; i++) {
        assert.equal((await put(leader, `big/${i}`, randomBytes(400).toString("hex"))).status, 200);
      }
      const file = join(c.dir, "killed.snap");
      const saving = cli(leader, "snapshot", "save", file);
      await sleep(700);
      c.kill9(leader);
      const r = await saving;
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /Error (saving snapshot|writing unverified snapshot file|verifying snapshot file)/);
      assert.ok(!existsSync(file), "no archive file");
      assert.ok(!existsSync(`${file}.unverified`), "no temp file");
    } finally {
      await c.stop();
    }
  });

  it("every Consul fixture archive in the repository restores into a 3-server datacenter and saves back the same records", async () => {
    const c = await Cluster.start(3);
    try {
      for (const name of ["inspect/backup.snap", "inspect/backupWithKV.snap"]) {
        await restoreAndSaveBack(c, name);
        if (name === "inspect/backup.snap") {
          // The archive's catalog (Consul 1.9 server macbook-pro.lan) reads back through the HTTP API.
          const r = await fetch(`${c.agents[2]!.http}/v1/health/service/consul?consistent`);
          const entries = (await r.json()) as {
            Node: { Node: string };
            Checks: { CheckID: string; Status: string }[];
          }[];
          const mac = entries.find((e) => e.Node.Node === "macbook-pro.lan");
          assert.deepEqual(
            mac?.Checks.map((x) => [x.CheckID, x.Status]),
            [["serfHealth", "passing"]],
          );
        }
      }
    } finally {
      await c.stop();
    }
  });

  it("Consul Enterprise's decode/all.snap restores and saves back the same records", {
    skip: skipUnlessFixtures("decode/all.snap"),
  }, async () => {
    const c = await Cluster.start(3);
    try {
      await restoreAndSaveBack(c, "decode/all.snap");
    } finally {
      await c.stop();
    }
  });

  it("the real-world archive restores and its keys are readable", {
    skip: skipUnlessFixtures(REAL_WORLD),
  }, async () => {
    const c = await Cluster.start(3);
    try {
      const leader = await c.leader();
      assert.equal((await cli(leader, "snapshot", "restore", fixture(REAL_WORLD))).code, 0, REAL_WORLD);
      assert.ok((await kvDump(c.agents[2]!)).length > 2, "the real-world archive's keys are readable");
    } finally {
      await c.stop();
    }
  });

  it("bootstraps a brand-new datacenter by an online restore, with identical KV", async () => {
    const a = await Cluster.start(3);
    const b = await Cluster.start(3);
    try {
      const la = await a.leader();
      for (let i = 0; i < 25; i++) assert.equal((await put(la, `svc/${i}`, `cfg${i}`)).status, 200);
      const file = join(a.dir, "a.snap");
      assert.equal((await cli(la, "snapshot", "save", file)).code, 0);
      const lb = await b.leader();
      const r = await cli(lb, "snapshot", "restore", file);
      assert.equal(r.code, 0, r.out);
      assert.equal(await kvDump(lb), await kvDump(la));
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
