import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, sleep } from "./cluster.js";

/** Sessions, locks and txns against three real agents; requests go to a follower to exercise forwarding. */

async function req(
  a: Agent,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(10_000) };
  if (body !== undefined) init.body = body;
  const r = await fetch(a.http + path, init);
  return { status: r.status, text: await r.text() };
}

async function createSession(a: Agent, body: object): Promise<string> {
  const r = await req(a, "PUT", "/v1/session/create", JSON.stringify(body));
  assert.equal(r.status, 200, r.text);
  return (JSON.parse(r.text) as { ID: string }).ID;
}

async function holder(a: Agent, key: string): Promise<string | null> {
  const r = await req(a, "GET", `/v1/kv/${key}?consistent`);
  if (r.status === 404) return null;
  return (JSON.parse(r.text) as { Session?: string }[])[0]?.Session ?? "";
}

describe("sessions and locks on a real cluster", () => {
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

  it("a lock passes to a second session after destroy, once the lock-delay is over", async () => {
    const a = await createSession(follower, { TTL: "10s", LockDelay: "1s", Name: "first" });
    const b = await createSession(follower, { TTL: "10s" });
    assert.equal((await req(follower, "PUT", `/v1/kv/svc/lock?acquire=${a}`, "A")).text, "true");
    assert.equal((await req(follower, "PUT", `/v1/kv/svc/lock?acquire=${b}`, "B")).text, "false");
    assert.equal(await holder(follower, "svc/lock"), a);
    assert.equal((await req(follower, "PUT", `/v1/session/destroy/${a}`)).text, "true");
    assert.equal(await holder(follower, "svc/lock"), "");
    const t0 = Date.now();
    let acquired = false;
    while (!acquired && Date.now() - t0 < 5000) {
      acquired = (await req(follower, "PUT", `/v1/kv/svc/lock?acquire=${b}`, "B")).text === "true";
      if (!acquired) await sleep(100);
    }
    assert.ok(acquired, "the second session never acquired");
    // Destroy was acknowledged before t0, so the lock-delay of 1s had not run out much before now.
    assert.ok(Date.now() - t0 >= 700, `acquired ${Date.now() - t0} ms after destroy, inside the lock-delay`);
    const info = JSON.parse((await req(follower, "GET", `/v1/session/info/${a}`)).text) as unknown[];
    assert.deepEqual(info, []);
    const unknown = await req(follower, "PUT", "/v1/kv/x?acquire=00000000-0000-0000-0000-000000000000", "v");
    assert.equal(unknown.status, 500); // Consul's state/kvs.go kvsLockTxn: a plain error, so a 500
    assert.equal(unknown.text, 'invalid session "00000000-0000-0000-0000-000000000000"');
  });

  it("a txn whose second op fails applies nothing (409)", async () => {
    const body = JSON.stringify([
      { KV: { Verb: "set", Key: "txn/a", Value: Buffer.from("1").toString("base64") } },
      { KV: { Verb: "check-index", Key: "txn/missing", Index: 5 } },
    ]);
    const r = await req(follower, "PUT", "/v1/txn", body);
    assert.equal(r.status, 409, r.text);
    assert.deepEqual(JSON.parse(r.text), {
      Results: null,
      Errors: [{ OpIndex: 1, What: 'failed to check index, key "txn/missing" doesn\'t exist' }],
    });
    assert.equal(await holder(follower, "txn/a"), null);
    const ok = await req(follower, "PUT", "/v1/txn", JSON.stringify([{ KV: { Verb: "set", Key: "txn/a" } }]));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(await holder(follower, "txn/a"), "");
  });

  it("txns stay all or nothing under concurrent writers: a failing op leaves nothing of its txn applied", async () => {
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const agents = cluster.agents;
    const writers: Promise<void>[] = [];
    for (let writer = 0; writer < 6; writer++) {
      writers.push(
        (async () => {
          for (let round = 0; round < 15; round++) {
            const failing = (writer + round) % 3 === 0;
            const tag = `${writer}-${round}`;
            const ops = [
              { KV: { Verb: "set", Key: "conc/a", Value: b64(tag) } },
              { KV: { Verb: "set", Key: "conc/b", Value: b64(tag) } },
              { KV: { Verb: "set", Key: `conc/log/${tag}`, Value: b64(tag) } },
              // The failing txns end with a check that cannot hold, after their writes.
              ...(failing ? [{ KV: { Verb: "check-not-exists", Key: "conc/a" } }] : []),
            ];
            const r = await req(
              agents[(writer + round) % agents.length] as Agent,
              "PUT",
              "/v1/txn",
              JSON.stringify(ops),
            );
            assert.equal(r.status, failing ? 409 : 200, r.text);
          }
        })(),
      );
    }
    await Promise.all(writers);
    const read = await req(
      follower,
      "PUT",
      "/v1/txn?consistent",
      JSON.stringify([{ KV: { Verb: "get", Key: "conc/a" } }, { KV: { Verb: "get", Key: "conc/b" } }]),
    );
    const [a, b] = (JSON.parse(read.text) as { Results: { KV: { Value: string } }[] }).Results;
    assert.equal(a?.KV.Value, b?.KV.Value, "a and b come from different txns");
    const keys = JSON.parse(
      (await req(follower, "GET", "/v1/kv/conc/log/?keys&consistent")).text,
    ) as string[];
    const expected: string[] = [];
    for (let writer = 0; writer < 6; writer++)
      for (let round = 0; round < 15; round++)
        if ((writer + round) % 3 !== 0) expected.push(`conc/log/${writer}-${round}`);
    assert.deepEqual(
      keys.sort(),
      expected.sort(),
      "a failed txn left a write behind, or a good one lost one",
    );
  });

  it("a TTL session not renewed is invalidated within 2xTTL (Behavior delete deletes its key); a renewed one lives", async () => {
    const doomed = await createSession(follower, { TTL: "10s", Behavior: "delete", LockDelay: 0 });
    const kept = await createSession(follower, { TTL: "10s" });
    assert.equal((await req(follower, "PUT", `/v1/kv/ttl/lock?acquire=${doomed}`, "x")).text, "true");
    const t0 = Date.now();
    let gone = -1;
    while (Date.now() - t0 < 26_000) {
      const renew = await req(follower, "PUT", `/v1/session/renew/${kept}`);
      assert.equal(renew.status, 200, renew.text);
      const info = JSON.parse((await req(follower, "GET", `/v1/session/info/${doomed}`)).text) as unknown[];
      if (info.length === 0) {
        gone = Date.now() - t0;
        break;
      }
      await sleep(1000);
    }
    assert.ok(gone >= 0, "the unrenewed session was never invalidated");
    // Never before TTL (the TTL is a lower bound), at the latest 2xTTL plus slack.
    assert.ok(gone >= 9_000, `invalidated after ${gone} ms`);
    assert.equal(await holder(follower, "ttl/lock"), null);
    const renew = await req(follower, "PUT", `/v1/session/renew/${kept}`);
    assert.equal(renew.status, 200);
    const gone404 = await req(follower, "PUT", `/v1/session/renew/${doomed}`);
    assert.equal(gone404.status, 404);
    assert.equal(gone404.text, `Session id '${doomed}' not found`);
  });
});
