import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRng } from "../util/rng.js";
import { Harness } from "./harness.js";
import { RawNode } from "./node.js";
import { MemoryStorage } from "./storage.js";
import type { Entry, Message } from "./types.js";

const BLANK = {
  index: 0,
  logTerm: 0,
  entries: [],
  commit: 0,
  reject: false,
  rejectHint: 0,
  hintTerm: 0,
  snapshot: null,
  context: 0,
  transfer: false,
} as const;

function msg(fields: Partial<Message> & Pick<Message, "type" | "from" | "to" | "term">): Message {
  return { ...BLANK, ...fields };
}

/** A lone node (no network) whose log holds `terms` at indexes 1.., for vote and append tests. */
function nodeWithLog(terms: readonly number[], term: number): RawNode {
  const storage = new MemoryStorage();
  storage.bootstrap({ voters: [1, 2, 3], learners: [] });
  const ents: Entry[] = terms.map((t, i) => ({
    term: t,
    index: 4 + i,
    kind: "normal",
    data: new Uint8Array([i]),
  }));
  storage.append(ents);
  storage.setHardState({ term, vote: 0, commit: 3 });
  const raw = new RawNode({
    id: 1,
    storage,
    rng: new SeededRng(1),
    electionTicks: 10,
    heartbeatTicks: 1,
    preVote: false,
    checkQuorum: false,
  });
  const rd = raw.ready();
  raw.advance(rd);
  return raw;
}

describe("elections (Raft §5.2)", () => {
  it("elects exactly one leader, which every follower then knows", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    assert.deepEqual(h.leaders(), [1]);
    for (const id of [2, 3]) assert.equal(h.raft(id).leader, 1);
    assert.equal(h.raft(1).term, 2);
  });

  it("elects a leader by timeout alone, with randomized timeouts", () => {
    const h = new Harness([1, 2, 3, 4, 5], { seed: 7 });
    h.tickAll(40);
    assert.equal(h.leaders().length, 1);
  });

  it("adopts a higher term and reverts to follower (§5.1)", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.raft(1).step(msg({ type: "heartbeat", from: 2, to: 1, term: 9 }));
    assert.equal(h.raft(1).role, "follower");
    assert.equal(h.raft(1).term, 9);
  });

  it("grants one vote per term, first come first served", () => {
    const raw = nodeWithLog([], 1);
    raw.step(msg({ type: "vote", from: 2, to: 1, term: 2, index: 3, logTerm: 1 }));
    raw.step(msg({ type: "vote", from: 3, to: 1, term: 2, index: 3, logTerm: 1 }));
    const votes = raw.ready().messages.filter((m) => m.type === "voteResp");
    assert.deepEqual(
      votes.map((m) => [m.to, m.reject]),
      [
        [2, false],
        [3, true],
      ],
    );
    assert.equal(raw.raft.vote, 2);
  });

  it("denies a vote to a candidate whose log is less up to date (§5.4.1)", () => {
    const cases = [
      { name: "lower last term", index: 10, logTerm: 2, reject: true },
      { name: "same last term, shorter log", index: 5, logTerm: 3, reject: true },
      { name: "same last term, same length", index: 6, logTerm: 3, reject: false },
      { name: "higher last term, shorter log", index: 4, logTerm: 4, reject: false },
    ];
    for (const c of cases) {
      const raw = nodeWithLog([2, 3, 3], 3); // indexes 4..6
      raw.step(msg({ type: "vote", from: 2, to: 1, term: 5, index: c.index, logTerm: c.logTerm }));
      const resp = raw.ready().messages.find((m) => m.type === "voteResp");
      assert.equal(resp?.reject, c.reject, c.name);
    }
  });

  it("votes for a stale log when the log check is deliberately broken (the sim must catch this)", () => {
    const storage = new MemoryStorage();
    storage.bootstrap({ voters: [1, 2, 3], learners: [] });
    storage.append([{ term: 3, index: 4, kind: "normal", data: new Uint8Array() }]);
    const raw = new RawNode({
      id: 1,
      storage,
      rng: new SeededRng(1),
      electionTicks: 10,
      heartbeatTicks: 1,
      preVote: false,
      checkQuorum: false,
      bugs: { voteWithoutLogCheck: true },
    });
    raw.advance(raw.ready());
    raw.step(msg({ type: "vote", from: 2, to: 1, term: 5, index: 1, logTerm: 1 }));
    assert.equal(raw.ready().messages.find((m) => m.type === "voteResp")?.reject, false);
  });

  it("a candidate steps down on an append from a leader of its own term", () => {
    const h = new Harness([1, 2, 3]);
    h.isolate(1);
    h.node(1).raw.campaign();
    h.settle();
    assert.equal(h.raft(1).role, "candidate");
    const term = h.raft(1).term;
    h.raft(1).step(msg({ type: "app", from: 2, to: 1, term, index: 3, logTerm: 1 }));
    assert.equal(h.raft(1).role, "follower");
    assert.equal(h.raft(1).leader, 2);
  });
});

describe("pre-vote and check-quorum (thesis §9.6, raft-notes 1.5)", () => {
  it("a partitioned server rejoining with pre-vote does not disrupt the leader", () => {
    const h = new Harness([1, 2, 3], { preVote: true, checkQuorum: true });
    h.campaign(1);
    const term = h.raft(1).term;
    h.isolate(3);
    h.tick([3], 100);
    assert.equal(h.raft(3).term, term, "pre-vote never raises the term");
    h.heal();
    h.tickAll(3);
    assert.equal(h.raft(1).role, "leader");
    assert.equal(h.raft(1).term, term);
  });

  it("without pre-vote the same rejoining server forces a new election (why pre-vote exists)", () => {
    const h = new Harness([1, 2, 3], { preVote: false, checkQuorum: false });
    h.campaign(1);
    const term = h.raft(1).term;
    h.isolate(3);
    h.tick([3], 100);
    assert.ok(h.raft(3).term > term);
    h.heal();
    h.tickAll(20);
    assert.ok(h.raft(1).term > term);
  });

  it("a leader that cannot hear a quorum steps down after an election timeout", () => {
    const h = new Harness([1, 2, 3], { checkQuorum: true });
    h.campaign(1);
    h.isolate(1);
    // The first check after the cut still counts the followers heard before it; the second finds none.
    h.tick([1], 10);
    assert.equal(h.raft(1).role, "leader");
    h.tick([1], 10);
    assert.equal(h.raft(1).role, "follower");
  });

  it("followers that hear their leader ignore vote requests (leader lease)", () => {
    const h = new Harness([1, 2, 3], { checkQuorum: true });
    h.campaign(1);
    const term = h.raft(2).term;
    h.raft(2).step(msg({ type: "vote", from: 3, to: 2, term: term + 5, index: 99, logTerm: 99 }));
    assert.equal(h.raft(2).term, term);
    assert.equal(h.raft(2).leader, 1);
  });

  it("a stale-term leader learns the newer term from an append response", () => {
    const h = new Harness([1, 2, 3], { checkQuorum: true, preVote: true });
    h.campaign(1);
    h.raft(2).becomeFollower(h.raft(2).term + 3, 0);
    h.tickAll(2);
    assert.notEqual(h.raft(1).role, "leader");
  });
});

describe("leadership transfer (thesis §3.10)", () => {
  it("hands leadership to a caught-up voter at once", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.propose(1, "x");
    h.node(1).raw.transferLeadership(3);
    h.settle();
    assert.deepEqual(h.leaders(), [3]);
  });

  it("refuses proposals while transferring and aborts after an election timeout", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.isolate(3);
    h.node(1).raw.transferLeadership(3);
    h.settle();
    assert.throws(() => h.node(1).raw.propose(new Uint8Array([1])), /leadership is being transferred/);
    h.tick([1, 2], 10);
    assert.equal(h.raft(1).leadTransferee, 0);
    assert.equal(h.raft(1).role, "leader");
  });

  it("ignores a transfer to itself or to a non-member", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.node(1).raw.transferLeadership(1);
    h.node(1).raw.transferLeadership(9);
    assert.equal(h.raft(1).leadTransferee, 0);
  });
});
