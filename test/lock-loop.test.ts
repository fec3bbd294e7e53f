import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, waitFor } from "./cluster.js";

/**
 * The leader-lock loop of an application that keeps its leadership in Consul (a database HA manager, say),
 * against a real 1-server datacenter: it holds a key through a session bound to its node, and when an acquire
 * answers 500 `invalid session "<id>"` it knows the session is gone (expired, destroyed, its node failed),
 * creates another and takes the lock again. Any other code there, a 400 included, breaks that failover.
 */

interface Answer {
  readonly status: number;
  readonly text: string;
}

async function send(a: Agent, method: string, path: string, body?: string): Promise<Answer> {
  const init = { method, signal: AbortSignal.timeout(10_000) };
  const r = await fetch(a.http + path, body === undefined ? init : { ...init, body });
  return { status: r.status, text: await r.text() };
}

/** A session on the agent's node, bound to its serfHealth; no lock-delay, so a new session may retake at once. */
async function createSession(a: Agent): Promise<string> {
  const spec = { Name: "leader", Node: a.name, Checks: ["serfHealth"], TTL: "15s", LockDelay: "0s" };
  const r = await send(a, "PUT", "/v1/session/create", JSON.stringify(spec));
  assert.equal(r.status, 200, r.text);
  return (JSON.parse(r.text) as { ID: string }).ID;
}

async function holder(a: Agent, key: string): Promise<string | undefined> {
  const r = await send(a, "GET", `/v1/kv/${key}?consistent`);
  assert.equal(r.status, 200, r.text);
  return (JSON.parse(r.text) as { Session?: string }[])[0]?.Session;
}

describe("an application's lock loop over a gone session", { timeout: 60_000 }, () => {
  let cluster: Cluster;
  let agent: Agent;

  before(async () => {
    cluster = await Cluster.start(1);
    agent = await cluster.leader();
    // The leader registers its own node, with serfHealth, before a session can be bound to it.
    await waitFor("the node's serfHealth in the catalog", 20_000, async () => {
      const r = await send(agent, "GET", `/v1/health/node/${agent.name}`);
      return r.status === 200 && r.text.includes('"CheckID":"serfHealth"') ? true : undefined;
    });
  });

  after(async () => {
    await cluster.stop();
  });

  it("acquire with the gone session is 500 invalid session; a new session retakes the lock in one step", async () => {
    const key = "service/db/leader";
    const first = await createSession(agent);
    const info = JSON.parse((await send(agent, "GET", `/v1/session/info/${first}`)).text) as {
      Node: string;
      NodeChecks: string[];
    }[];
    assert.deepEqual([info[0]?.Node, info[0]?.NodeChecks], [agent.name, ["serfHealth"]]);
    assert.deepEqual(await send(agent, "PUT", `/v1/kv/${key}?acquire=${first}`, "node-a"), {
      status: 200,
      text: "true",
    });
    assert.equal(await holder(agent, key), first);

    // The session ends (as if its TTL ran out): the lock is released, the key stays.
    assert.equal((await send(agent, "PUT", `/v1/session/destroy/${first}`)).text, "true");
    assert.equal(await holder(agent, key), undefined);

    // The application's next acquire, with the session it still has: Consul's 500 and text, nothing changes.
    const gone = await send(agent, "PUT", `/v1/kv/${key}?acquire=${first}`, "node-a");
    assert.deepEqual(gone, { status: 500, text: `invalid session "${first}"` });
    assert.equal(await holder(agent, key), undefined);

    // It reads that as "my session is gone": a new session, and one acquire takes the lock.
    const second = await createSession(agent);
    assert.notEqual(second, first);
    assert.deepEqual(await send(agent, "PUT", `/v1/kv/${key}?acquire=${second}`, "node-a"), {
      status: 200,
      text: "true",
    });
    assert.equal(await holder(agent, key), second);
  });
});
