import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, getJson, runCairn, sleep } from "./cluster.js";

/** `cairn lock` and a lock holder killed with -9, against three real agents. */

const LOCK_FLAG = "3304740253564472344"; // api.LockFlagValue, 0x2ddccbc058a50c18

interface Held {
  Session?: string;
  Flags?: number;
}

async function lockHolder(a: Agent, key: string): Promise<string | null> {
  const r = await fetch(`${a.http}/v1/kv/${key}?consistent`, { signal: AbortSignal.timeout(10_000) });
  if (r.status === 404) return null;
  return ((await r.json()) as Held[])[0]?.Session ?? "";
}

/**
 * A lock holder as its own process (Node, plain fetch): a session with TTL 10 s (Consul's minimum) and a 1 s
 * lock-delay, the lock key taken with Consul's lock flag, renewed every 3 s; it prints its session id once held.
 */
const HOLDER = `
const [http, key] = process.argv.slice(1);
const put = (p, body) => fetch(http + p, { method: "PUT", body }).then((r) => r.text());
const { ID } = JSON.parse(await put("/v1/session/create", JSON.stringify({ TTL: "10s", LockDelay: "1s", Name: "holder" })));
if ((await put("/v1/kv/" + key + "?flags=${LOCK_FLAG}&acquire=" + ID, "")) !== "true") process.exit(3);
console.log(ID);
setInterval(() => void put("/v1/session/renew/" + ID), 3000);
`;

describe("cairn lock", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let follower: Agent;

  before(async () => {
    cluster = await Cluster.start(3);
    const leader = await cluster.leader();
    follower = cluster.agents.find((a) => a !== leader) as Agent;
  });

  after(async () => {
    await cluster.stop();
  });

  it("runs children one at a time, passes CONSUL_LOCK_HELD, releases and cleans up the key", async () => {
    const log = join(cluster.dir, "lock.log");
    const child = `echo start $CONSUL_LOCK_HELD >> ${log}; sleep 1; echo end >> ${log}`;
    const runs = await Promise.all(
      [0, 1, 2].map(() => runCairn(["lock", `-http-addr=${follower.http}`, "jobs", child], 60_000)),
    );
    for (const r of runs) assert.equal(r.code, 0, r.out);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.deepEqual(lines, ["start true", "end", "start true", "end", "start true", "end"]);
    // The last holder deletes the key when nobody waits (Lock.Destroy).
    assert.equal(await lockHolder(follower, "jobs/.lock"), null);
  });

  it("refuses bad input in words and changes nothing", async () => {
    const noChild = await runCairn(["lock", `-http-addr=${follower.http}`, "jobs"]);
    assert.equal(noChild.code, 1);
    assert.match(noChild.out, /Key prefix and child command must be specified/);
    const sem = await runCairn(["lock", `-http-addr=${follower.http}`, "-n=2", "jobs", "true"]);
    assert.equal(sem.code, 1);
    assert.match(sem.out, /Semaphore mode/);
    await fetch(`${follower.http}/v1/kv/plain/.lock`, { method: "PUT", body: "mine" });
    const conflict = await runCairn(["lock", `-http-addr=${follower.http}`, "plain", "true"]);
    assert.equal(conflict.code, 1);
    assert.match(conflict.out, /Lock acquisition failed: Existing key does not match lock use/);
    const kept = (await getJson(follower, "/v1/kv/plain/.lock")) as { Value: string; Session?: string }[];
    assert.equal(Buffer.from(kept[0]?.Value ?? "", "base64").toString(), "mine");
    const sessions = (await getJson(follower, "/v1/session/list")) as unknown[];
    assert.deepEqual(sessions, [], "a failed lock leaves no session behind");
  });

  it("a child's failure is exit 2 with -child-exit-code; -timeout gives up on a held lock", async () => {
    const failed = await runCairn(["lock", `-http-addr=${follower.http}`, "-child-exit-code", "x", "exit 7"]);
    assert.equal(failed.code, 2, failed.out);
    assert.match(failed.out, /Error running handler: exit status 7/);
    const holder = spawn(
      process.execPath,
      ["--input-type=module", "-e", HOLDER, follower.http, "busy/.lock"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    try {
      await new Promise((r) => holder.stdout.once("data", r));
      const t0 = Date.now();
      const r = await runCairn(["lock", `-http-addr=${follower.http}`, "-timeout=1500ms", "busy", "true"]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /Shutdown triggered or timeout during lock acquisition/);
      assert.ok(Date.now() - t0 < 15_000);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("a holder killed with -9 loses the lock within 2xTTL + lock-delay and a waiting cairn lock gets it", async () => {
    const holder = spawn(
      process.execPath,
      ["--input-type=module", "-e", HOLDER, follower.http, "dead/.lock"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const session = await new Promise<string>((r) =>
      holder.stdout.once("data", (d: Buffer) => r(d.toString().trim())),
    );
    assert.equal(await lockHolder(follower, "dead/.lock"), session);
    const marker = join(cluster.dir, "dead.got");
    const waiter = runCairn(
      ["lock", `-http-addr=${follower.http}`, "-timeout=60s", "dead", `date +%s%3N > ${marker}`],
      70_000,
    );
    await sleep(1000);
    holder.kill("SIGKILL");
    const killedAt = Date.now();
    // Never two holders: until the old session is invalidated the key names it; after, the waiter or nobody.
    let freedAt = 0;
    while (Date.now() - killedAt < 30_000) {
      const h = await lockHolder(follower, "dead/.lock");
      if (h !== session) {
        freedAt = Date.now();
        break;
      }
      await sleep(200);
    }
    assert.ok(freedAt > 0, "the dead holder's session was never invalidated");
    assert.ok(
      freedAt - killedAt <= 2 * 10_000 + 1_000 + 1_500,
      `lock freed ${freedAt - killedAt} ms after kill`,
    );
    const r = await waiter;
    assert.equal(r.code, 0, r.out);
    const gotAt = Number(readFileSync(marker, "utf8").trim());
    assert.ok(gotAt >= freedAt - 1000, "the waiter ran its child before the dead holder's lock was freed");
    // Lock-delay 1 s, then api.Lock's 5 s retry pause at most.
    assert.ok(
      gotAt - killedAt <= 2 * 10_000 + 1_000 + 5_000 + 3_000,
      `waiter got it ${gotAt - killedAt} ms after kill`,
    );
  });
});
