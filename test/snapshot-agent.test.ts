/**
 * `cairn snapshot agent` as real processes against a real datacenter: one-shot runs and their exit codes, a
 * daemon that fills its store on every tick, three agents where a kill -9 of the active one hands over to a
 * standby within 30 s with exactly one backup per tick, and /metrics and /health telling what happened.
 */
import assert from "node:assert/strict";
import { createReadStream, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decryptStream, generateKey, readKeyFile, verifyArchive } from "../src/snapshot/index.js";
import { Cluster, freePort, put, runCairn, sleep, waitFor } from "./cluster.js";
import { type AgentProc, get, startAgent, stopAgent } from "./support/snapshot-agent-proc.js";

const NAME = /^consul-(\d{19})\.snap$/;

function backups(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => NAME.test(n))
      .sort();
  } catch {
    return [];
  }
}

describe("cairn snapshot agent", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let addr: string;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), "cairn-agent-"));
    dirs.push(d);
    return d;
  };

  before(async () => {
    cluster = await Cluster.start(3);
    const leader = await cluster.leader(30_000);
    addr = leader.http.replace("http://", "");
    assert.equal((await put(leader, "agent/k", "v")).status, 200);
  });
  after(async () => {
    await cluster.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("one shot (-interval 0): one verified backup, exit 0; a bad store or no server: exit 1 and nothing left", async () => {
    const dir = tmp();
    const ok = await runCairn(
      ["snapshot", "agent", "-interval", "0", "-http-addr", addr, "-local-path", dir],
      60_000,
    );
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /Saved snapshot \d{19}/);
    const files = backups(dir);
    assert.equal(files.length, 1, readdirSync(dir).join(","));
    await verifyArchive(createReadStream(join(dir, files[0]!)));

    const notADir = join(tmp(), "file");
    writeFileSync(notADir, "x");
    const bad = await runCairn([
      "snapshot",
      "agent",
      "-interval",
      "0",
      "-http-addr",
      addr,
      "-local-path",
      notADir,
    ]);
    assert.equal(bad.code, 1, bad.out);
    assert.match(bad.out, /Snapshot failed/);

    const dead = await freePort();
    const dir2 = tmp();
    const down = await runCairn([
      "snapshot",
      "agent",
      "-interval",
      "0",
      "-http-addr",
      `127.0.0.1:${dead}`,
      "-local-path",
      dir2,
    ]);
    assert.equal(down.code, 1, down.out);
    assert.deepEqual(readdirSync(dir2), []);
  });

  it("refuses a bad configuration before doing anything (exit 1, the key named)", async () => {
    const dir = tmp();
    const cfg = join(dir, "agent.json");
    writeFileSync(cfg, JSON.stringify({ snapshot_agent: { snapshot: { interval: "5" } } }));
    const r = await runCairn(["snapshot", "agent", "-config-file", cfg, "-http-addr", addr]);
    assert.equal(r.code, 1);
    assert.match(r.out, /interval/);
  });

  it("three agents: one active, a backup per tick; kill -9 of the active one hands over within 30 s, one backup per tick", async () => {
    const dir = tmp();
    const intervalS = 2;
    const lockKey = `agent-test/lock-${Date.now()}`;
    const historyKey = `agent-test/history-${Date.now()}`;
    const agents: AgentProc[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const listen = `127.0.0.1:${await freePort()}`;
        const args = [
          "-interval",
          `${intervalS}s`,
          "-http-addr",
          addr,
          "-local-path",
          dir,
          "-lock-key",
          lockKey,
          "-history-key",
          historyKey,
          "-retain",
          "0",
        ];
        agents.push(startAgent(args, listen));
      }
      await waitFor("three backups", 60_000, () => (backups(dir).length >= 3 ? true : undefined));
      const active = await waitFor("the active agent", 10_000, async () => {
        for (const a of agents) {
          const m = await get(`http://${a.listen}/metrics`);
          if (m !== null && /^cairn_snapshot_agent_is_active 1$/m.test(m.body)) return a;
        }
        return undefined;
      });
      for (const a of agents) {
        const health = await get(`http://${a.listen}/health`);
        assert.equal(health?.status, 200, `${a === active ? "active" : "standby"}: ${health?.body}`);
      }
      const metrics = (await get(`http://${active.listen}/metrics`))?.body ?? "";
      assert.match(metrics, /cairn_snapshot_agent_snapshots_total\{result="success"\} [1-9]/);

      active.proc.kill("SIGKILL");
      const killedAt = Date.now();
      const before = backups(dir).length;
      await waitFor("a standby taking over", 30_000, () => (backups(dir).length > before ? true : undefined));
      assert.ok(Date.now() - killedAt <= 30_000);
      await sleep(3 * intervalS * 1000);
      const ticks = backups(dir).map((n) =>
        Math.floor(Number(BigInt(NAME.exec(n)![1]!) / 1_000_000n) / (intervalS * 1000)),
      );
      assert.equal(new Set(ticks).size, ticks.length, `one backup per tick: ${ticks.join(",")}`);
      const activeNow = [];
      for (const a of agents.filter((x) => x !== active)) {
        const m = await get(`http://${a.listen}/metrics`);
        if (m !== null && /^cairn_snapshot_agent_is_active 1$/m.test(m.body)) activeNow.push(a);
      }
      assert.equal(activeNow.length, 1, "exactly one active agent");
      // The history key (docs/ui.md, Backups) lists every backup in the store, the killed agent's included,
      // with the new active agent as its writer; the ones it took carry their duration.
      const leader = await cluster.leader();
      const history = await waitFor("the history of every backup", 20_000, async () => {
        const r = await fetch(`${leader.http}/v1/kv/${historyKey}?raw`, {
          signal: AbortSignal.timeout(5000),
        });
        if (r.status !== 200) return undefined;
        const doc = (await r.json()) as {
          status: { agent: string };
          entries: { name: string; durationMs: number | null; verified: boolean; destinations: string[] }[];
        };
        const names = doc.entries.map((e) => e.name);
        return backups(dir).every((n) => names.includes(n)) ? doc : undefined;
      });
      assert.ok(history.entries.every((e) => e.verified && e.destinations.length === 1));
      assert.ok(history.entries.some((e) => e.durationMs !== null && e.durationMs > 0));
      assert.match(history.status.agent, /^consul-snapshot-/);
    } finally {
      await Promise.all(agents.map(stopAgent));
    }
  });

  it("retention keeps the newest N; encryption stores .snap.enc that decrypts to a verified archive", async () => {
    const dir = tmp();
    const keyFile = join(tmp(), "key");
    writeFileSync(keyFile, `${generateKey().toString("base64")}\n`, { mode: 0o600 });
    const lockKey = `agent-test/enc-${Date.now()}`;
    const listen = `127.0.0.1:${await freePort()}`;
    const args = [
      "-interval",
      "1s",
      "-http-addr",
      addr,
      "-local-path",
      dir,
      "-lock-key",
      lockKey,
      "-retain",
      "2",
    ];
    const a = startAgent([...args, "-encryption-key-file", keyFile], listen);
    try {
      const enc = /^consul-\d{19}\.snap\.enc$/;
      await waitFor("four encrypted backups taken", 60_000, async () => {
        const m = (await get(`http://${listen}/metrics`))?.body ?? "";
        const n = Number(
          /^cairn_snapshot_agent_snapshots_total\{result="success"\} (\d+)/m.exec(m)?.[1] ?? 0,
        );
        return n >= 4 ? true : undefined;
      });
      const kept = readdirSync(dir).filter((f) => enc.test(f));
      assert.ok(
        kept.length >= 2 && kept.length <= 3,
        `retain 2 (a third while one is being written): ${kept}`,
      );
      const m = (await get(`http://${listen}/metrics`))?.body ?? "";
      assert.match(m, /cairn_snapshot_agent_retention_deletions_total\{store="local:[^"]+"\} [1-9]/);
      const key = (await readKeyFile(keyFile)).key;
      const newest = kept.sort().at(-1)!;
      await verifyArchive(createReadStream(join(dir, newest)).pipe(decryptStream(key)));
    } finally {
      await stopAgent(a);
    }
  });

  it("max_failures: an agent whose store keeps failing steps down and a healthy one takes over", async () => {
    const good = tmp();
    const broken = join(tmp(), "not-a-dir");
    writeFileSync(broken, "x");
    const lockKey = `agent-test/failover-${Date.now()}`;
    const common = ["-interval", "1s", "-http-addr", addr, "-lock-key", lockKey, "-max-failures", "2"];
    const bad = startAgent([...common, "-local-path", broken], `127.0.0.1:${await freePort()}`);
    let ok: AgentProc | null = null;
    try {
      await waitFor("the failing agent to be active and fail", 30_000, () =>
        /Snapshot failed/.test(bad.output) ? true : undefined,
      );
      ok = startAgent([...common, "-local-path", good], `127.0.0.1:${await freePort()}`);
      await waitFor("the bad agent giving up leadership", 60_000, () =>
        /giving up leadership/.test(bad.output) ? true : undefined,
      );
      await waitFor("a backup by the healthy agent", 60_000, () =>
        backups(good).length > 0 ? true : undefined,
      );
    } finally {
      await stopAgent(bad);
      if (ok !== null) await stopAgent(ok);
    }
  });

  it("/health turns 503 with the reason once the datacenter is gone for 2 × interval", async () => {
    const one = await Cluster.start(1);
    const dir = tmp();
    const listen = `127.0.0.1:${await freePort()}`;
    let a: AgentProc | null = null;
    try {
      const l = await one.leader(30_000);
      const args = ["-interval", "1s", "-http-addr", l.http.replace("http://", ""), "-local-path", dir];
      a = startAgent(args, listen);
      await waitFor("a healthy agent", 30_000, async () =>
        backups(dir).length > 0 && (await get(`http://${listen}/health`))?.status === 200 ? true : undefined,
      );
      await one.stop();
      const h = await waitFor("/health 503", 30_000, async () => {
        const r = await get(`http://${listen}/health`);
        return r?.status === 503 ? r : undefined;
      });
      assert.match(h.body, /unhealthy .*more than 2 × interval.*last error: /s);
    } finally {
      if (a !== null) await stopAgent(a);
      await one.stop();
    }
  });
});
