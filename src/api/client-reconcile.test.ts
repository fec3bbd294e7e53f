import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ClientReconcileHost, ClientReconciler, clientMembers } from "./client-reconcile.js";
import { MemoryServer } from "./memory-server.js";

const FAILURE_MS = 300;

function host(s: MemoryServer, leader = true): ClientReconcileHost {
  return {
    isLeader: () => leader,
    datacenter: "dc1",
    reads: () => s.store.catalogReads,
    register: (r) => s.catalogRegister(r),
    deregister: (r) => s.catalogDeregister(r),
    log: () => {},
  };
}

const beat = {
  bootId: "boot-1",
  nodeId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
  node: "web-1",
  address: "10.0.0.7",
  taggedAddresses: { lan: "10.0.0.7", wan: "10.0.0.7" },
  meta: { rack: "r1" },
};

function serf(s: MemoryServer, node: string): { Status: string; Output: string } | undefined {
  return s.store.catalogReads.healthNode(node).value.find((c) => c.CheckID === "serfHealth");
}

async function until<T>(what: string, f: () => T | undefined): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never: ${what}`);
}

describe("client agents in the catalog (the leader's ClientReconciler)", () => {
  it("registers a heartbeating client with serfHealth passing, fails it when beats stop, revives it", async () => {
    const s = new MemoryServer();
    const r = new ClientReconciler(host(s), FAILURE_MS);
    r.leadershipChanged(true);
    try {
      r.alive(beat);
      const check = await until("registered", () => serf(s, "web-1"));
      assert.deepEqual([check.Status, check.Output], ["passing", "Agent alive and reachable"]);
      const node = s.store.catalogReads.nodeServices("web-1").value?.Node;
      assert.equal(node?.ID, beat.nodeId);
      assert.equal(node?.Address, "10.0.0.7");
      assert.deepEqual(node?.Meta, { rack: "r1" });
      const failed = await until("critical", () =>
        serf(s, "web-1")?.Status === "critical" ? serf(s, "web-1") : undefined,
      );
      assert.equal(failed.Output, "Agent not live or unreachable");
      assert.deepEqual(
        clientMembers(s.store.catalogReads, "dc1").map((m) => [m.name, m.status, m.tags.role]),
        [["web-1", 4, "node"]],
      );
      r.alive(beat);
      await until("passing again", () => (serf(s, "web-1")?.Status === "passing" ? true : undefined));
      assert.equal(clientMembers(s.store.catalogReads, "dc1")[0]?.status, 1);
    } finally {
      r.stop();
    }
  });

  it("deregisters a client that leaves, with its services", async () => {
    const s = new MemoryServer();
    const r = new ClientReconciler(host(s), 60_000);
    r.leadershipChanged(true);
    try {
      r.alive(beat);
      await until("registered", () => serf(s, "web-1"));
      await s.catalogRegister({
        ID: beat.nodeId,
        Node: "web-1",
        Address: "10.0.0.7",
        Datacenter: "dc1",
        TaggedAddresses: {},
        NodeMeta: {},
        Service: {
          ID: "web",
          Service: "web",
          Tags: [],
          Address: "",
          TaggedAddresses: {},
          Meta: {},
          Port: 80,
          Weights: { Passing: 1, Warning: 1 },
          EnableTagOverride: false,
          Kind: "",
        },
        Checks: [],
        SkipNodeUpdate: true,
      });
      await r.left("WEB-1", "boot-1");
      assert.equal(s.store.catalogReads.nodeServices("web-1").value, null);
      assert.deepEqual(clientMembers(s.store.catalogReads, "dc1"), []);
      // A beat of the process that left, still in flight, brings nothing back; a new process's does.
      r.alive(beat);
      await r.left("nobody", "boot-x");
      assert.equal(s.store.catalogReads.nodeServices("web-1").value, null);
      r.alive({ ...beat, bootId: "boot-2" });
      await until("registered again", () => serf(s, "web-1"));
    } finally {
      r.stop();
    }
  });

  it("a new leader keeps a client's status for failureMs, then fails it unless it heard a beat", async () => {
    const s = new MemoryServer();
    const first = new ClientReconciler(host(s), FAILURE_MS);
    first.leadershipChanged(true);
    first.alive(beat);
    await until("registered", () => serf(s, "web-1"));
    first.leadershipChanged(false);
    first.stop();
    const next = new ClientReconciler(host(s), FAILURE_MS);
    next.leadershipChanged(true);
    try {
      assert.equal(serf(s, "web-1")?.Status, "passing");
      await until("critical", () => (serf(s, "web-1")?.Status === "critical" ? true : undefined));
    } finally {
      next.stop();
    }
  });

  it("reaps a client failed for reconnectMs: critical first, then deregistered; a live one is never reaped", async () => {
    const s = new MemoryServer();
    const r = new ClientReconciler(host(s), FAILURE_MS, 400);
    r.leadershipChanged(true);
    try {
      r.alive(beat);
      r.alive({ ...beat, bootId: "boot-2", node: "db-1", nodeId: "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee" });
      await until("both registered", () => (serf(s, "web-1") && serf(s, "db-1") ? true : undefined));
      // db-1 keeps beating; web-1 stops: failed after FAILURE_MS, reaped reconnectMs later.
      const keep = setInterval(() => r.alive({ ...beat, bootId: "boot-2", node: "db-1" }), 50);
      try {
        await until("web-1 critical", () => (serf(s, "web-1")?.Status === "critical" ? true : undefined));
        await until("web-1 reaped", () =>
          s.store.catalogReads.nodeServices("web-1").value === null ? true : undefined,
        );
        assert.equal(serf(s, "db-1")?.Status, "passing");
      } finally {
        clearInterval(keep);
      }
    } finally {
      r.stop();
    }
  });

  it("a client forced to leave is deregistered, and registered again at its next beat if alive", async () => {
    const s = new MemoryServer();
    const r = new ClientReconciler(host(s), FAILURE_MS);
    r.leadershipChanged(true);
    try {
      r.alive(beat);
      await until("registered", () => serf(s, "web-1"));
      await r.left("web-1", "force-leave");
      assert.equal(s.store.catalogReads.nodeServices("web-1").value, null);
      r.alive(beat);
      await until("registered again", () => (serf(s, "web-1")?.Status === "passing" ? true : undefined));
    } finally {
      r.stop();
    }
  });

  it("does nothing on a follower", async () => {
    const s = new MemoryServer();
    const r = new ClientReconciler(host(s, false), FAILURE_MS);
    r.leadershipChanged(true);
    r.alive(beat);
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(s.store.catalogReads.nodeServices("web-1").value, null);
    r.stop();
  });
});
