/**
 * Restore drills with real processes: backups of a real datacenter (KV, a session holding a lock, an external
 * node with a service) in a LocalStore, drilled into a real throwaway server. A good backup passes with the
 * archive's counts; a corrupted one fails with the reason; an encrypted one passes with its key and fails without
 * it; every drill leaves no temp dir and no process behind. Last, the daemon runs drills on its own schedule and
 * says so on /metrics, /health and in its log.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { ConsulClient } from "../src/client/index.js";
import { encryptStream, generateKey } from "../src/snapshot/index.js";
import { type DrillReport, runDrill } from "../src/snapshot-agent/drill.js";
import { objectName, snapshotId } from "../src/snapshot-agent/naming.js";
import { saveVerified } from "../src/snapshot-agent/save.js";
import { LocalStore } from "../src/snapshot-agent/store-local.js";
import { makeLogger } from "../src/util/logger.js";
import { Cluster, freePort, waitFor } from "./cluster.js";
import { get, startAgent, stopAgent } from "./support/snapshot-agent-proc.js";

const log = makeLogger({ level: "error", json: false, component: "drill-test" });

/** Processes (of any parent) whose command line mentions `dir`: a drill server left running would. */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(dir)) found.push(`${pid}: ${cmd}`);
    } catch {
      // exited since readdir
    }
  }
  return found;
}

describe("restore drills", { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let client: ConsulClient;
  let addr: string;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), "cairn-drill-test-"));
    dirs.push(d);
    return d;
  };

  before(async () => {
    cluster = await Cluster.start(1);
    const leader = await cluster.leader(30_000);
    addr = leader.http.replace("http://", "");
    client = new ConsulClient({ address: addr });
    for (const k of ["a", "b", "c", "d", "e"]) await client.kvPut(`drill/${k}`, Buffer.from(k));
    const session = await client.sessionCreate({ name: "drill-test" });
    assert.equal(await client.kvPut("drill/lock", Buffer.from("held"), 0n, { acquire: session }), true);
    await client.catalogRegister({
      Node: "ext1",
      Address: "10.0.0.1",
      Service: { ID: "web1", Service: "web", Port: 80 },
    });
    // The name a drill server would take first: the drill must choose another and still count this one.
    await client.catalogRegister({ Node: "cairn-drill", Address: "10.0.0.2" });
  });
  after(async () => {
    client.close();
    await cluster.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Saves a verified snapshot of the datacenter into `store` (sealed with `key` when given); its name and index. */
  async function backup(
    store: LocalStore,
    key: Uint8Array | null = null,
  ): Promise<{ name: string; index: number }> {
    const dir = tmp();
    const plain = join(dir, "s.snap");
    const saved = await saveVerified(client, plain);
    if ("error" in saved) throw new Error(saved.error);
    let file = plain;
    if (key !== null) {
      file = join(dir, "s.snap.enc");
      await pipeline(createReadStream(plain), encryptStream(key), createWriteStream(file));
    }
    const bytes = await readFile(file);
    const name = objectName(snapshotId(Date.now()), key !== null);
    await store.put(name, createReadStream(file), {
      index: saved.meta.Index,
      term: saved.meta.Term,
      size: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      version: "test",
    });
    return { name, index: saved.meta.Index };
  }

  /** Flips one byte in the middle of a stored backup. */
  async function corrupt(store: LocalStore, name: string): Promise<void> {
    const path = join(store.dir, name);
    const bytes = await readFile(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
  }

  /** Asserts the drill left nothing: its scratch dir is empty and no process mentions it. */
  function assertNothingLeft(scratch: string): void {
    assert.deepEqual(readdirSync(scratch), [], "the scratch dir is empty");
    assert.deepEqual(processesUsing(scratch), [], "no drill server is left running");
  }

  it("a good backup restores with the archive's counts; the newest backup of the first store that has one", async () => {
    const empty = new LocalStore(tmp());
    const store = new LocalStore(tmp());
    const older = await backup(store);
    await corrupt(store, older.name); // never drilled: a newer one follows
    const { name, index } = await backup(store);
    const scratch = tmp();
    const r = await runDrill({ stores: [empty, store], encryptionKey: null, scratchDir: scratch, log });
    assert.equal(r.ok, true, r.error);
    assert.equal(r.name, name);
    assert.equal(r.store, store.label);
    assert.equal(r.index, index);
    assert.equal(r.keys, 6, "five keys and the lock");
    assert.equal(r.sessions, 1);
    assert.equal(r.nodes, 3, "the server, ext1 and cairn-drill");
    assert.equal(r.services, 2, "consul and web");
    assert.ok(r.seconds > 0);
    assertNothingLeft(scratch);
  });

  it("a corrupted backup fails with the reason, and leaves nothing behind", async () => {
    const store = new LocalStore(tmp());
    const { name } = await backup(store);
    await corrupt(store, name);
    const scratch = tmp();
    const changed = await runDrill({ stores: [store], encryptionKey: null, scratchDir: scratch, log });
    assert.equal(changed.ok, false);
    assert.equal(changed.name, name);
    assert.match(
      changed.error ?? "",
      /^downloading consul-\d+\.snap from local:.*: the body of backup "consul-\d+\.snap" has sha256 [0-9a-f]{64}, its metadata says [0-9a-f]{64}$/,
    );
    assertNothingLeft(scratch);

    // Without the metadata sidecar (an object another tool wrote, say), the archive's own hashes catch it.
    rmSync(join(store.dir, `${name}.meta.json`));
    const bad = await runDrill({ stores: [store], encryptionKey: null, scratchDir: scratch, log });
    assert.equal(bad.ok, false);
    assert.match(bad.error ?? "", /^verifying consul-\d+\.snap: \S/);
    assertNothingLeft(scratch);

    const none = await runDrill({
      stores: [new LocalStore(tmp())],
      encryptionKey: null,
      scratchDir: scratch,
      log,
    });
    assert.equal(none.ok, false);
    assert.match(none.error ?? "", /^no backup to drill in local:/);
  });

  it("an encrypted backup restores with its key; without it, or with another, the drill says why", async () => {
    const key = generateKey();
    const store = new LocalStore(tmp());
    const { name } = await backup(store, key);
    assert.match(name, /\.snap\.enc$/);
    const scratch = tmp();
    const r = await runDrill({ stores: [store], encryptionKey: key, scratchDir: scratch, log });
    assert.equal(r.ok, true, r.error);
    assert.equal(r.keys, 6);
    assertNothingLeft(scratch);

    const noKey = await runDrill({ stores: [store], encryptionKey: null, scratchDir: scratch, log });
    assert.equal(noKey.ok, false);
    assert.match(noKey.error ?? "", /is encrypted and no encryption_key_file is configured/);
    const wrong = await runDrill({ stores: [store], encryptionKey: generateKey(), scratchDir: scratch, log });
    assert.equal(wrong.ok, false);
    assert.match(wrong.error ?? "", /^downloading consul-\d+\.snap\.enc from local:.*: \S/);
    assertNothingLeft(scratch);
  });

  it("a drill whose server does not come up in time, or that is aborted, stops its server and cleans up", async () => {
    const store = new LocalStore(tmp());
    await backup(store);
    const scratch = tmp();
    const slow = await runDrill({
      stores: [store],
      encryptionKey: null,
      scratchDir: scratch,
      log,
      readyTimeoutMs: 1,
    });
    assert.equal(slow.ok, false);
    assert.match(
      slow.error ?? "",
      /^starting the drill server: the drill server did not become ready within 1 ms/,
    );
    assertNothingLeft(scratch);

    const stop = new AbortController();
    const running = runDrill({
      stores: [store],
      encryptionKey: null,
      scratchDir: scratch,
      log,
      signal: stop.signal,
    });
    await waitFor("the drill server running", 30_000, () =>
      processesUsing(scratch).length > 0 ? true : undefined,
    );
    stop.abort();
    const r: DrillReport = await running;
    assert.equal(r.ok, false);
    assert.match(r.error ?? "", /^aborted/);
    assertNothingLeft(scratch);
  });

  it("the daemon drills on its schedule: /metrics, /health, the log and the history say it passed", async () => {
    const historyKey = `drill-test/history-${Date.now()}`;
    const dir = tmp();
    const scratch = tmp();
    const listen = `127.0.0.1:${await freePort()}`;
    const agent = startAgent(
      [
        "-interval",
        "1s",
        "-drill-interval",
        "2s",
        "-http-addr",
        addr,
        "-local-path",
        dir,
        "-local-scratch-path",
        scratch,
        "-lock-key",
        `drill-test/lock-${Date.now()}`,
        "-history-key",
        historyKey,
      ],
      listen,
    );
    try {
      const metrics = await waitFor("a passed drill on /metrics", 120_000, async () => {
        const m = (await get(`http://${listen}/metrics`))?.body ?? "";
        const n = Number(
          /^cairn_snapshot_agent_restore_drills_total\{result="success"\} (\d+)/m.exec(m)?.[1] ?? 0,
        );
        return n >= 1 ? m : undefined;
      }).catch((e: unknown) => {
        throw new Error(`${String(e)}\n${agent.output}`);
      });
      assert.match(metrics, /^cairn_snapshot_agent_last_drill_success_timestamp_seconds \d/m);
      assert.doesNotMatch(metrics, /^cairn_snapshot_agent_restore_drills_total\{result="failure"\}/m);
      // Only the reason: with a 1 s interval, the time a drill takes can make the next backup late for /health.
      const health = await get(`http://${listen}/health`);
      assert.match(health?.body ?? "", /; restore drill of consul-\d+\.snap passed \d+s ago/);
      assert.match(
        agent.output,
        /Restore drill of consul-\d+\.snap passed: \d+ keys, index \d+, in \d+\.\d s/,
      );
      // The history the web UI shows carries the drill on the backup it restored.
      const drilled = await waitFor("the drill in the history", 20_000, async () => {
        const r = await fetch(`http://${addr}/v1/kv/${historyKey}?raw`, {
          signal: AbortSignal.timeout(5000),
        });
        if (r.status !== 200) return undefined;
        const doc = (await r.json()) as {
          entries: { name: string; drill?: { ok: boolean; keys: number } }[];
        };
        return doc.entries.find((e) => e.drill !== undefined);
      });
      assert.equal(drilled.drill?.ok, true);
      assert.ok((drilled.drill?.keys ?? 0) > 0, JSON.stringify(drilled));
      assert.match(drilled.name, /^consul-\d+\.snap$/);
    } finally {
      // The drill server in flight, if any, stops within its own grace period (10 s).
      await stopAgent(agent, 30_000);
    }
    assert.deepEqual(
      readdirSync(scratch).filter((n) => n.startsWith("cairn-drill-")),
      [],
      "no drill dir left after the agent stopped",
    );
    assert.deepEqual(processesUsing(scratch), [], "no drill server left after the agent stopped");
  });
});
