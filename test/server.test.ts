import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Agent, Cluster, freePort, getJson, put, runCairn, sleep } from "./cluster.js";

/** `cairn agent` on a data dir with free ports (Consul refuses port 0). */
async function agentOn(dataDir: string) {
  const ports = [
    "-http-port",
    String(await freePort()),
    "-server-port",
    String(await freePort()),
    "-dns-port=-1",
  ];
  return runCairn([
    "agent",
    "-server",
    "-data-dir",
    dataDir,
    "-bind",
    "127.0.0.1",
    "-client",
    "127.0.0.1",
    ...ports,
  ]);
}

/** Writes keys `${prefix}${i}` in a loop until told to stop; returns the keys acknowledged with 200 true. */
function writer(a: Agent, prefix: string, acked: Set<string>, stop: () => boolean): Promise<void> {
  return (async () => {
    for (let i = 0; !stop(); i++) {
      const key = `${prefix}${i}`;
      try {
        const r = await put(a, key, key);
        if (r.status === 200 && (await r.text()).trim() === "true") acked.add(key);
      } catch {
        await sleep(50);
      }
    }
  })();
}

async function keysUnder(a: Agent, prefix: string, consistency = "consistent"): Promise<Set<string>> {
  const r = await fetch(`${a.http}/v1/kv/${prefix}?keys&${consistency}`, {
    signal: AbortSignal.timeout(10_000),
  });
  if (r.status === 404) return new Set();
  assert.equal(r.status, 200, await r.clone().text());
  return new Set((await r.json()) as string[]);
}

async function until<T>(what: string, timeoutMs: number, f: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v !== null) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (${String(last)})`);
}

describe("server agents as real processes", { timeout: 120_000 }, () => {
  it("never loses an acknowledged write when the leader is killed with -9, and the killed server catches up", async () => {
    const c = await Cluster.start(3);
    try {
      const leader = await c.leader();
      const acked = new Set<string>();
      let stop = false;
      const writers = c.agents.map((a, i) => writer(a, `w${i}/`, acked, () => stop));
      await sleep(1500);
      c.kill9(leader);
      const t0 = Date.now();
      const next = await c.leader(10_000);
      assert.ok(Date.now() - t0 < 10_000);
      await sleep(1000);
      stop = true;
      await Promise.all(writers);
      assert.ok(acked.size > 20, `only ${acked.size} writes were acknowledged`);
      const found = new Set<string>();
      for (const p of ["w0/", "w1/", "w2/"]) for (const k of await keysUnder(next, p)) found.add(k);
      const lost = [...acked].filter((k) => !found.has(k));
      assert.deepEqual(lost, [], "acknowledged writes missing after kill -9");
      c.launch(leader, 3);
      const last = [...acked].at(-1)!;
      await until("the restarted server catches up", 20_000, async () => {
        const r = await fetch(`${leader.http}/v1/kv/${last}?stale`);
        return r.status === 200 ? true : null;
      });
    } finally {
      await c.stop();
    }
  });

  it("a 5-server datacenter serves with 2 down, refuses writes clearly with 3 down, and recovers with peers.json", async () => {
    const c = await Cluster.start(5);
    try {
      await c.leader();
      c.kill9(c.agents[0]!);
      c.kill9(c.agents[1]!);
      const alive = c.agents[4]!;
      await until("a write with 2 of 5 down", 15_000, async () =>
        (await put(alive, "two-down", "ok")).status === 200 ? true : null,
      );
      c.kill9(c.agents[2]!);
      const t0 = Date.now();
      const r = await put(alive, "three-down", "no");
      const elapsed = Date.now() - t0;
      assert.equal(r.status, 500);
      assert.match(await r.text(), /No cluster leader|timed out/);
      assert.ok(elapsed < 9_000, `refused after ${elapsed} ms`);
      // Manual recovery (Consul's peers.json): the two survivors restart with a configuration of just them.
      const survivors = [c.agents[3]!, c.agents[4]!];
      for (const a of survivors) await c.stopAgent(a);
      const peers = survivors.map((a) => ({
        id: readFileSync(join(a.dataDir, "node-id"), "utf8").trim(),
        address: `127.0.0.1:${a.rpcPort}`,
        non_voter: false,
      }));
      for (const a of survivors) writeFileSync(join(a.dataDir, "raft", "peers.json"), JSON.stringify(peers));
      for (const a of survivors) c.launch(a, 0);
      const leader = await c.leader(20_000);
      const two = await fetch(`${leader.http}/v1/kv/two-down?consistent`);
      assert.equal(two.status, 200, "the write acknowledged before the loss survives recovery");
      assert.equal((await put(leader, "recovered", "yes")).status, 200);
    } finally {
      await c.stop();
    }
  });

  it("a 4th server joins a running datacenter through InstallSnapshot, catches up and becomes a voter", async () => {
    // A small snapshot threshold, so the log is compacted behind a snapshot before the 4th server arrives.
    const conf = join(mkdtempSync(join(tmpdir(), "cairn-conf-")), "raft.json");
    writeFileSync(conf, JSON.stringify({ raft: { snapshot_threshold: 50 } }));
    const c = await Cluster.start(3, 3, ["-config-file", conf]);
    try {
      const leader = await c.leader();
      for (let i = 0; i < 200; i++) assert.equal((await put(leader, `pre/${i}`, "v")).status, 200);
      const fourth = await c.addServer("s3");
      await until("the 4th server is a voter", 30_000, async () => {
        const cfg = (await getJson(leader, "/v1/operator/raft/configuration")) as {
          Servers: { Node: string; Voter: boolean }[];
        };
        return cfg.Servers.some((s) => s.Node === "s3" && s.Voter) ? true : null;
      });
      const keys = await keysUnder(fourth, "pre/", "stale");
      assert.equal(keys.size, 200);
      assert.match(fourth.output, /installed snapshot at index \d+ from the leader/);
    } finally {
      await c.stop();
    }
  });
});

describe("leaving", { timeout: 60_000 }, () => {
  it("cairn leave removes a server from the configuration and stops it; the rest keep serving", async () => {
    const c = await Cluster.start(3);
    try {
      const leader = await c.leader();
      const leaving = c.agents.find((a) => a !== leader)!;
      const r = await runCairn(["leave", `-http-addr=${leaving.http}`]);
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out, "Graceful leave complete\n");
      await until("the agent exits", 15_000, async () => (leaving.proc === null ? true : null));
      const cfg = (await getJson(leader, "/v1/operator/raft/configuration")) as {
        Servers: { Node: string }[];
      };
      assert.deepEqual(
        cfg.Servers.map((s) => s.Node).sort(),
        c.agents
          .filter((a) => a !== leaving)
          .map((a) => a.name)
          .sort(),
      );
      assert.equal((await put(leader, "after-leave", "ok")).status, 200);
    } finally {
      await c.stop();
    }
  });
});

describe("the data dir", { timeout: 60_000 }, () => {
  function walFiles(dataDir: string): string[] {
    const dir = join(dataDir, "raft", "wal");
    return readdirSync(dir)
      .filter((f) => f.endsWith(".wal"))
      .sort()
      .map((f) => join(dir, f));
  }

  it("refuses a second agent on the same data dir, naming the holder's pid", async () => {
    const c = await Cluster.start(1);
    try {
      await c.leader();
      const a = c.agents[0]!;
      const r = await agentOn(a.dataDir);
      assert.equal(r.code, 1);
      assert.match(r.out, new RegExp(`in use by another cairn agent \\(pid ${a.proc?.pid}\\)`));
    } finally {
      await c.stop();
    }
  });

  it("recovers from a torn WAL tail, and refuses a flipped byte in the middle with file and offset", async () => {
    const c = await Cluster.start(1);
    try {
      const a = c.agents[0]!;
      await c.leader();
      for (let i = 0; i < 30; i++) assert.equal((await put(a, `t/${i}`, "x".repeat(100))).status, 200);
      c.kill9(a);
      await sleep(200);
      const seg = walFiles(a.dataDir).at(-1)!;
      truncateSync(seg, statSync(seg).size - 7);
      c.launch(a, 1);
      await c.leader();
      assert.equal((await fetch(`${a.http}/v1/kv/t/0`)).status, 200);
      c.kill9(a);
      await sleep(200);
      const bytes = readFileSync(seg);
      bytes[Math.floor(bytes.length / 3)]! ^= 0xff;
      writeFileSync(seg, bytes);
      const r = await agentOn(a.dataDir);
      assert.equal(r.code, 1);
      assert.match(r.out, /checksum|corrupt/i);
      assert.ok(r.out.includes(seg), `the message names the file: ${r.out}`);
      assert.match(r.out, /offset \d+/);
    } finally {
      await c.stop();
    }
  });
});
