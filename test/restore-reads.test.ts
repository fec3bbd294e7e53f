/**
 * Reads during a restore, on real servers: while three servers rebuild their state from a large archive, every
 * `?stale` and default GET on every server answers with the old value or the new one, never a 404 or an empty
 * list (issue 14: a read must not see the half-built or empty tables of the rebuild).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../src/api/memory-server.js";
import { type Agent, Cluster, waitFor } from "./cluster.js";

/** Enough keys that each server's rebuild spans many event-loop turns (hundreds of ms on this machine). */
const KEYS = 120_000;
/** A small subtree whose whole listing is checked: old or new, never partial or empty. */
const FEW = 10;
const READ_DEADLINE_MS = 90_000;
const READS_MAX = 200_000;

const bigKey = (i: number): string => `big/${String(i).padStart(6, "0")}`;

/** A real archive of a state where every key's value is `<tag>-<key>`, as `snapshot save` makes it. */
async function archiveOf(tag: string): Promise<Buffer> {
  const api = new MemoryServer();
  const write = (key: string) =>
    api.kvWrite({ op: "set", key, value: Buffer.from(`${tag}-${key}`), flags: 0n });
  for (let i = 0; i < KEYS; i++) await write(bigKey(i));
  for (let i = 0; i < FEW; i++) await write(`few/${i}`);
  const parts: Buffer[] = [];
  for await (const c of (await api.snapshotSave(false)).archive) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/**
 * Restores `archive` through `a`. An election under a loaded machine may answer Consul's "No cluster leader":
 * restoring the same archive again is harmless (the state ends the same), so that is retried, a few times.
 */
async function restore(a: Agent, archive: Buffer): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await fetch(`${a.http}/v1/snapshot`, {
      method: "PUT",
      body: archive,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await r.text();
    if (r.status === 500 && text.trim() === "No cluster leader" && attempt < 5) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    assert.equal(r.status, 200, text);
    return;
  }
}

const decode = (v: string | null): string => (v === null ? "<nil>" : Buffer.from(v, "base64").toString());

interface Tally {
  reads: number;
  /** Reads answered while the restore request was outstanding. */
  during: number;
  bad: string[];
  /** Default reads refused with "No cluster leader" during an election (see leaderless). */
  leaderless: number;
  /** Servers whose stale reads have seen the new state. */
  readonly sawNew: Set<string>;
}

/**
 * A default read refused with Consul's "No cluster leader" while an election runs (a loaded machine can starve a
 * leader's heartbeats during the rebuild) shows no state at all, neither empty nor mixed: counted, not a failure.
 * Stale reads have no such excuse: they answer from whatever state the server holds.
 */
async function leaderless(r: Response, mode: "stale" | "default", t: Tally): Promise<boolean> {
  if (mode !== "default" || r.status !== 500) return false;
  const text = await r.text();
  if (text.trim() === "No cluster leader") t.leaderless += 1;
  else t.bad.push(`default read: 500 ${text}`);
  return true;
}

/** One read of a random key or of the small subtree; its answer must be wholly old or wholly new. */
async function readOnce(a: Agent, mode: "stale" | "default", n: number, t: Tally): Promise<void> {
  const q = mode === "stale" ? "?stale" : "";
  const where = `${a.name} ${mode}`;
  if (n % 4 === 0) {
    const r = await fetch(`${a.http}/v1/kv/few/${q === "" ? "?recurse" : `${q}&recurse`}`);
    if (await leaderless(r, mode, t)) return;
    if (r.status !== 200) {
      t.bad.push(`${where} list few/: ${r.status} ${await r.text()}`);
      return;
    }
    const values = ((await r.json()) as { Key: string; Value: string | null }[]).map(
      (e) => `${e.Key}=${decode(e.Value)}`,
    );
    const tags = new Set(values.map((v) => v.split("=")[1]?.split("-")[0]));
    if (values.length !== FEW || tags.size !== 1) t.bad.push(`${where} list few/: ${values.join(", ")}`);
    else if (mode === "stale" && tags.has("new")) t.sawNew.add(a.name);
    return;
  }
  const key = bigKey(Math.floor(Math.random() * KEYS));
  const r = await fetch(`${a.http}/v1/kv/${key}${q}`);
  if (await leaderless(r, mode, t)) return;
  if (r.status !== 200) {
    t.bad.push(`${where} get ${key}: ${r.status} ${await r.text()}`);
    return;
  }
  const [e] = (await r.json()) as { Value: string | null }[];
  const value = decode(e?.Value ?? null);
  if (value !== `old-${key}` && value !== `new-${key}`) t.bad.push(`${where} get ${key}: ${value}`);
}

describe("reads during a restore on three servers", { timeout: 240_000 }, () => {
  it("see the old value or the new one on every server, stale and default, never a 404 or an empty list", async () => {
    const [oldArchive, newArchive] = [await archiveOf("old"), await archiveOf("new")];
    const c = await Cluster.start(3);
    try {
      const leader = await c.leader();
      await restore(leader, oldArchive);
      // Every server serves the old state before the readers and the second restore start.
      for (const a of c.agents) {
        await waitFor(`${a.name} to apply the first restore`, 30_000, async () => {
          const r = await fetch(`${a.http}/v1/kv/few/0?stale`).catch(() => null);
          return r?.status === 200 ? true : undefined;
        });
      }
      const t: Tally = { reads: 0, during: 0, bad: [], leaderless: 0, sawNew: new Set() };
      let restoring = true;
      const deadline = Date.now() + READ_DEADLINE_MS;
      let failed = false;
      const stop = () => failed || t.bad.length > 0 || Date.now() > deadline || t.reads >= READS_MAX;
      // Two readers per server and mode: a loop each, until every server's stale reads show the new state.
      const readers = c.agents.flatMap((a) =>
        (["stale", "default", "stale", "default"] as const).map(async (mode) => {
          for (let n = 0; !stop() && !(!restoring && t.sawNew.size === c.agents.length); n++) {
            await readOnce(a, mode, n, t);
            t.reads += 1;
            if (restoring) t.during += 1;
          }
        }),
      );
      const follower = c.agents.find((a) => a !== leader) as Agent;
      try {
        await restore(follower, newArchive);
      } catch (e) {
        // The readers stop before the servers do, so a failed restore is reported as itself.
        failed = true;
        await Promise.allSettled(readers);
        throw e;
      } finally {
        restoring = false;
      }
      await Promise.all(readers);
      assert.deepEqual(t.bad, [], `${t.bad.length} bad answers of ${t.reads}`);
      assert.ok(
        t.during >= 50,
        `reads ran during the restore (${t.during}; ${t.leaderless} refused leaderless)`,
      );
      assert.deepEqual([...t.sawNew].sort(), c.agents.map((a) => a.name).sort(), "every server ends new");
    } finally {
      await c.stop();
    }
  });
});
