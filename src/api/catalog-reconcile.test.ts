import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CatalogRegisterRequest, KvStore } from "../fsm/index.js";
import { CatalogReconciler, type ReconcileHost, type ServerMember } from "./catalog-reconcile.js";

/** A host over a real KvStore: writes apply at once, one index each; `heard` is the liveness signal. */
function host(members: ServerMember[], heard: Map<string, number>) {
  const kv = new KvStore();
  const writes: string[] = [];
  let leader = true;
  const h: ReconcileHost = {
    isLeader: () => leader,
    selfName: "s0",
    datacenter: "dc1",
    version: "0.1.0",
    members: () => members,
    unknownMembers: () => 0,
    lastHeardMs: (name) => heard.get(name),
    reads: () => kv.catalogReads,
    register: async (req: CatalogRegisterRequest) => {
      writes.push(`register ${req.Node} ${req.Checks[0]?.Status}`);
      const r = kv.execute(kv.appliedIndex + 1, { op: "catalog-register", req, time: Date.now() });
      assert.equal(r, true);
    },
    deregister: async (req) => {
      writes.push(`deregister ${req.Node}`);
      kv.execute(kv.appliedIndex + 1, { op: "catalog-deregister", req, time: Date.now() });
    },
    log: () => {},
  };
  return { h, kv, writes, stepDown: () => (leader = false) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const member = (name: string, port: number): ServerMember => ({
  nodeId: `0000000${port}-0000-0000-0000-000000000000`.slice(-36),
  name,
  addr: `127.0.0.1:${port}`,
  voter: true,
});

describe("CatalogReconciler", () => {
  it("registers each server once, turns a silent one critical, deregisters one that left", async () => {
    const members = [member("s0", 8300), member("s1", 8301), member("s2", 8302)];
    const heard = new Map([
      ["s1", Date.now()],
      ["s2", Date.now()],
    ]);
    const { h, kv, writes, stepDown } = host(members, heard);
    const r = new CatalogReconciler(h, { failureMs: 150, tickMs: 10, fullIntervalMs: 30 });
    r.leadershipChanged(true);
    await r.reconciled(1000);
    assert.deepEqual(writes.sort(), ["register s0 passing", "register s1 passing", "register s2 passing"]);
    const consul = kv.catalogReads.service("consul", []).value;
    assert.deepEqual(
      consul.map((s) => [s.Node, s.ServicePort, s.ServiceMeta.raft_version]),
      [
        ["s0", 8300, "3"],
        ["s1", 8301, "3"],
        ["s2", 8302, "3"],
      ],
    );
    // Full passes run every 30 ms; with nothing different they propose nothing.
    writes.length = 0;
    for (let i = 0; i < 10; i++) {
      heard.set("s1", Date.now());
      heard.set("s2", Date.now());
      await sleep(10);
    }
    assert.equal(writes.length, 0, writes.join(", "));
    // s2 falls silent: critical after failureMs; s1 keeps being heard.
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !writes.includes("register s2 critical")) {
      heard.set("s1", Date.now());
      await sleep(10);
    }
    assert.deepEqual(writes, ["register s2 critical"]);
    const s2 = kv.catalogReads.healthNode("s2").value[0];
    assert.deepEqual([s2?.Status, s2?.Output], ["critical", "Agent not live or unreachable"]);
    members.pop();
    for (let i = 0; i < 100 && !writes.includes("deregister s2"); i++) {
      heard.set("s1", Date.now());
      await sleep(10);
    }
    assert.equal(kv.catalogReads.nodeServices("s2").value, null);
    stepDown();
    r.leadershipChanged(false);
  });
});
