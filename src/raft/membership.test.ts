import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeConfChange } from "./confchange.js";
import { Harness } from "./harness.js";
import type { ConfChange } from "./types.js";

function change(h: Harness, leader: number, cc: ConfChange): number {
  const index = h.node(leader).raw.proposeConfChange(cc);
  h.settle();
  return index;
}

describe("membership changes, one server at a time (thesis §4)", () => {
  it("adds a learner that receives the log but never votes or counts for commit", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.add(4);
    change(h, 1, { type: "addLearner", node: 4 });
    h.propose(1, "a");
    assert.deepEqual(h.appliedTexts(4), ["a"]);
    assert.deepEqual(h.raft(1).learners, [4]);
    h.isolate(2, 3);
    const index = h.propose(1, "b");
    assert.ok(h.raft(1).log.committed < index, "a leader and a learner are no quorum");
    h.heal();
    h.tick([4], 50);
    assert.notEqual(h.raft(4).role, "leader");
  });

  it("promotes a learner to voter; the new voter then counts toward the quorum", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.add(4);
    change(h, 1, { type: "addLearner", node: 4 });
    change(h, 1, { type: "addVoter", node: 4 });
    assert.deepEqual(h.raft(1).voters, [1, 2, 3, 4]);
    h.isolate(3);
    h.drop = (m) => m.to === 3 || m.from === 3 || m.to === 2 || m.from === 2;
    const index = h.propose(1, "c");
    assert.ok(h.raft(1).log.committed < index, "2 of 4 voters are no quorum");
  });

  it("removes a follower, which then receives nothing", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    change(h, 1, { type: "remove", node: 3 });
    assert.deepEqual(h.raft(1).voters, [1, 2]);
    h.propose(1, "x");
    assert.deepEqual(h.appliedTexts(3), []);
  });

  it("removes the leader: it steps down and the rest elect a new one (raft-notes 1.4)", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    change(h, 1, { type: "remove", node: 1 });
    assert.notEqual(h.raft(1).role, "leader");
    h.tick([2, 3], 40);
    const leaders = h.leaders();
    assert.equal(leaders.length, 1);
    assert.notEqual(leaders[0], 1);
    h.propose(leaders[0]!, "after");
    assert.deepEqual(h.appliedTexts(2), ["after"]);
  });

  it("refuses a second change while one is pending, and bad changes", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.isolate(2, 3);
    h.node(1).raw.proposeConfChange({ type: "addLearner", node: 4 });
    assert.throws(() => h.node(1).raw.proposeConfChange({ type: "addLearner", node: 5 }), /still pending/);
    h.heal();
    h.tickAll(2);
    assert.throws(() => h.node(1).raw.proposeConfChange({ type: "addVoter", node: 2 }), /already a voter/);
    assert.throws(() => h.node(1).raw.proposeConfChange({ type: "remove", node: 9 }), /not a member/);
  });

  it("a new leader accepts no change before its own term's entry is applied (raft-notes 1.2)", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.drop = (m) => m.type === "appResp";
    h.node(2).raw.campaign();
    h.settle();
    assert.equal(h.raft(2).role, "leader");
    assert.throws(() => h.node(2).raw.proposeConfChange({ type: "addLearner", node: 4 }), /still pending/);
  });

  it("encodes conf changes as readable entries", () => {
    assert.equal(
      new TextDecoder().decode(encodeConfChange({ type: "remove", node: 3 })),
      '{"type":"remove","node":3}',
    );
  });
});

describe("snapshots and InstallSnapshot (Raft §7, raft-notes 1.11)", () => {
  it("brings a follower behind the compacted log up to date with a snapshot, then appends", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.isolate(3);
    for (let i = 0; i < 5; i++) h.propose(1, `v${i}`);
    const leader = h.node(1);
    const applied = leader.raw.raft.log.applied;
    leader.storage.createSnapshot(applied, leader.raw.raft.confState(), "snap-a");
    h.heal();
    h.tickAll(3);
    assert.ok(
      h.delivered.some((m) => m.type === "snap" && m.to === 3),
      "a snapshot was sent",
    );
    assert.equal(h.node(3).storage.snapshot().index, applied);
    h.propose(1, "after");
    assert.ok(h.appliedTexts(3).includes("after"));
    assert.equal(h.raft(3).log.committed, h.raft(1).log.committed);
  });

  it("sends a newer snapshot at once when the follower installed one the log was compacted past meanwhile", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.isolate(3);
    for (let i = 0; i < 5; i++) h.propose(1, `v${i}`);
    const leader = h.node(1);
    const first = leader.raw.raft.log.applied;
    leader.storage.createSnapshot(first, leader.raw.raft.confState(), "snap-a");
    // Node 3 refuses the append (its log ends before the snapshot) and gets the snapshot; its answer after
    // installing it is held back while the leader moves on and compacts again.
    h.drop = (m) => m.from === 3 && m.type === "appResp" && !m.reject;
    h.tickAll(3);
    const pr = () => leader.raw.raft.prs.get(3)!;
    assert.equal(pr().state, "snapshot");
    assert.equal(pr().pendingSnapshot, first);
    h.isolate(3);
    for (let i = 0; i < 5; i++) h.propose(1, `w${i}`);
    const second = leader.raw.raft.log.applied;
    leader.storage.createSnapshot(second, leader.raw.raft.confState(), "snap-b");
    // Node 3's answer: it installed the first snapshot, which the leader's log no longer reaches past.
    const raft = leader.raw.raft;
    raft.step({
      type: "appResp",
      from: 3,
      to: 1,
      term: raft.term,
      index: first,
      logTerm: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
      snapshot: null,
      context: 0,
      transfer: false,
    });
    assert.equal(pr().state, "snapshot");
    assert.equal(pr().pendingSnapshot, second, "the newer snapshot was sent without waiting for a report");
    assert.ok(raft.msgs.some((m) => m.type === "snap" && m.to === 3 && m.snapshot?.handle === "snap-b"));
  });

  it("ignores a snapshot older than its commit index", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.propose(1, "a");
    const commit = h.raft(2).log.committed;
    h.raft(2).step({
      type: "snap",
      from: 1,
      to: 2,
      term: h.raft(2).term,
      index: 0,
      logTerm: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
      snapshot: { index: 2, term: 1, conf: { voters: [1, 2, 3], learners: [] }, handle: "old" },
      context: 0,
      transfer: false,
    });
    assert.equal(h.raft(2).log.committed, commit);
    assert.equal(h.raft(2).log.unstable.snapshot, null);
  });
});

describe("user restore (raft-notes 1.15)", () => {
  it("commits a restore entry above every index on every server", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.propose(1, "a");
    const last = h.raft(1).log.lastIndex();
    const index = h.node(1).raw.proposeRestore("backup-1");
    h.settle();
    assert.equal(index, last + 1);
    for (const id of [1, 2, 3]) {
      const e = h.node(id).applied.find((x) => x.kind === "restore");
      assert.equal(e?.index, index, `node ${id}`);
      assert.equal(new TextDecoder().decode(e?.data), "backup-1");
    }
  });

  it("is refused on a follower and while a membership change is pending", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    assert.throws(() => h.node(2).raw.proposeRestore("x"), /leader/);
    h.isolate(2, 3);
    h.node(1).raw.proposeConfChange({ type: "addLearner", node: 4 });
    assert.throws(() => h.node(1).raw.proposeRestore("x"), /still pending/);
  });
});
