import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Harness } from "./harness.js";

describe("ReadIndex (thesis §6.4, raft-notes 1.6)", () => {
  it("answers a leader's read after a quorum confirmed leadership, at the commit index", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.propose(1, "a");
    const commit = h.raft(1).log.committed;
    h.node(1).raw.readIndex(7);
    h.settle();
    assert.deepEqual(h.node(1).reads, [{ index: commit, requestId: 7 }]);
    assert.ok(
      h.delivered.some((m) => m.type === "heartbeatResp" && m.context > 0),
      "the answer came from a heartbeat round",
    );
  });

  it("never answers on a leader cut off from its quorum", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.isolate(1);
    h.node(1).raw.readIndex(1);
    h.tick([1], 5);
    assert.deepEqual(h.node(1).reads, []);
  });

  it("confirms only with heartbeats sent after the read was registered", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    // Heartbeat answers of an earlier round arrive after the read: they must not confirm it.
    h.node(1).raw.tick();
    const early = h.node(1).raw.ready();
    h.node(1).raw.advance(early);
    const hbs = early.messages.filter((m) => m.type === "heartbeat");
    assert.ok(hbs.length > 0);
    h.isolate(1);
    h.node(1).raw.readIndex(3);
    h.settle();
    for (const hb of hbs) {
      h.raft(1).step({ ...hb, type: "heartbeatResp", from: hb.to, to: 1 });
    }
    assert.deepEqual(h.node(1).reads, []);
  });

  it("a new leader waits for its own no-op to commit before answering (etcd-io/etcd#7331)", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.drop = (m) => m.type === "app" || m.type === "appResp";
    h.node(2).raw.campaign();
    h.settle();
    assert.equal(h.raft(2).role, "leader");
    h.node(2).raw.readIndex(9);
    h.tickAll(1);
    assert.deepEqual(h.node(2).reads, [], "no answer before the no-op commits");
    h.heal();
    h.tickAll(2);
    assert.equal(h.node(2).reads.length, 1);
    assert.ok(h.node(2).reads[0]!.index >= h.raft(2).log.committed - 1);
  });

  it("forwards a follower's read to the leader and answers it there", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.propose(1, "a");
    h.node(3).raw.readIndex(5);
    h.settle();
    assert.deepEqual(h.node(3).reads, [{ index: h.raft(1).log.committed, requestId: 5 }]);
  });

  it("the broken variant answers without a round, even when cut off (the simulator must catch it)", () => {
    const h = new Harness([1, 2, 3], { bugs: { readWithoutQuorum: true } });
    h.campaign(1);
    h.isolate(1);
    h.node(1).raw.readIndex(1);
    h.settle();
    assert.equal(h.node(1).reads.length, 1);
  });
});

describe("leader lease (thesis §6.4.1, raft-notes 1.7)", () => {
  it("answers at once while a quorum acknowledged a recent heartbeat, and not after the lease runs out", () => {
    const h = new Harness([1, 2, 3], { checkQuorum: true });
    h.campaign(1);
    h.tickAll(1);
    const before = h.delivered.length;
    h.node(1).raw.readIndex(1, true);
    h.settle();
    assert.equal(h.node(1).reads.length, 1, "answered from the lease");
    assert.equal(h.delivered.length, before, "without a round of messages");
    h.isolate(1);
    h.tick([1], 9);
    h.node(1).raw.readIndex(2, true);
    h.settle();
    assert.equal(h.node(1).reads.length, 1, "the expired lease does not answer");
  });

  it("stops trusting the lease once a leadership transfer starts", () => {
    const h = new Harness([1, 2, 3], { checkQuorum: true });
    h.campaign(1);
    h.tickAll(1);
    h.drop = (m) => m.type === "timeoutNow";
    h.node(1).raw.transferLeadership(2);
    h.settle();
    h.isolate(1);
    h.node(1).raw.readIndex(4, true);
    h.settle();
    assert.deepEqual(h.node(1).reads, []);
  });
});
