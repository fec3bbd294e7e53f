import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRng } from "../util/rng.js";
import { Harness } from "./harness.js";
import { RawNode } from "./node.js";
import { MemoryStorage } from "./storage.js";
import type { Entry, Message } from "./types.js";

const text = (s: string) => new TextEncoder().encode(s);
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

function ent(index: number, term: number, data = ""): Entry {
  return { index, term, kind: "normal", data: text(data) };
}

function follower(terms: readonly number[]): { raw: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.bootstrap({ voters: [1, 2, 3], learners: [] });
  storage.append(terms.map((t, i) => ent(4 + i, t, `e${4 + i}`)));
  storage.setHardState({ term: 5, vote: 0, commit: 3 });
  const raw = new RawNode({
    id: 2,
    storage,
    rng: new SeededRng(2),
    electionTicks: 10,
    heartbeatTicks: 1,
    preVote: false,
    checkQuorum: false,
  });
  raw.advance(raw.ready());
  return { raw, storage };
}

function append(
  f: { raw: RawNode; storage: MemoryStorage },
  prevIndex: number,
  prevTerm: number,
  entries: Entry[],
  commit = 3,
): Message {
  const { raw, storage } = f;
  raw.step({
    ...BLANK,
    type: "app",
    from: 1,
    to: 2,
    term: 5,
    index: prevIndex,
    logTerm: prevTerm,
    entries,
    commit,
  });
  const rd = raw.ready();
  storage.append(rd.entries);
  raw.advance(rd);
  const resp = rd.messages.find((m) => m.type === "appResp");
  assert.ok(resp !== undefined, "an append is always answered");
  return resp;
}

describe("log replication (Raft §5.3)", () => {
  it("replicates and commits on a majority, and every server applies in order", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.propose(1, "a");
    h.propose(1, "b");
    for (const id of [1, 2, 3]) assert.deepEqual(h.appliedTexts(id), ["a", "b"]);
  });

  it("commits with one follower down, not with two", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.isolate(3);
    h.propose(1, "a");
    assert.deepEqual(h.appliedTexts(1), ["a"]);
    h.isolate(2, 3);
    const index = h.propose(1, "b");
    assert.ok(h.raft(1).log.committed < index);
  });

  it("rejects an append whose previous entry does not match, with a back-off hint", () => {
    const resp = append(follower([1, 1, 4, 4]), 7, 5, [ent(8, 5)]); // 4..7
    assert.equal(resp.reject, true);
    assert.equal(resp.rejectHint, 7, "the hint skips to the last index whose term is <= the leader's");
    assert.equal(resp.hintTerm, 4);
  });

  it("truncates a conflicting suffix and appends the leader's entries", () => {
    const f = follower([1, 1, 4, 4]);
    const raw = f.raw;
    const resp = append(f, 5, 1, [ent(6, 5, "new6"), ent(7, 5, "new7")]);
    assert.equal(resp.reject, false);
    assert.equal(resp.index, 7);
    assert.equal(raw.raft.log.term(6), 5);
    assert.equal(raw.raft.log.lastIndex(), 7);
  });

  it("a duplicate or stale append never truncates entries it already matches (raft-notes 1.8)", () => {
    const f = follower([1, 1, 4, 4]);
    const raw = f.raw;
    const resp = append(f, 4, 1, [ent(5, 1, "e5")]);
    assert.equal(resp.reject, false);
    assert.equal(raw.raft.log.lastIndex(), 7, "entries after the duplicate stay");
  });

  it("answers an append behind its commit index with the commit index", () => {
    const f = follower([1, 1]);
    append(f, 5, 1, [], 5);
    const resp = append(f, 2, 1, []);
    assert.equal(resp.index, 5);
    assert.equal(resp.reject, false);
  });

  it("repairs a follower whose log diverged over several terms", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    h.propose(1, "a");
    h.isolate(1);
    for (let i = 0; i < 5; i++) h.node(1).raw.propose(text(`lost${i}`));
    h.settle();
    h.campaign(2);
    h.propose(2, "b");
    h.heal();
    h.tickAll(3);
    h.campaign(2); // no-op if still leader
    h.propose(2, "c");
    for (const id of [1, 2, 3]) assert.deepEqual(h.appliedTexts(id), ["a", "b", "c"], `node ${id}`);
  });

  it("throttles a follower with a full in-flight window and recovers a lost append on heartbeat", () => {
    const h = new Harness([1, 2, 3]);
    h.campaign(1);
    let dropped = 0;
    h.drop = (m) => m.type === "app" && m.to === 3 && m.entries.length > 0 && dropped++ < 1;
    h.propose(1, "a");
    h.heal();
    h.propose(1, "b");
    h.tickAll(3);
    assert.deepEqual(h.appliedTexts(3), ["a", "b"]);
  });
});

describe("Figure 8: only current-term entries commit by counting (Raft §5.4.2)", () => {
  /**
   * S1 leads term 2 and writes e@2 on S1,S2 only; S5 leads term 3 with another entry at that index on S5 only;
   * S1 leads again in term 4 and copies e@2 (one entry per append) to S3 and S4, but not its term-4 no-op.
   * A majority holds e@2, but S1 must not commit it until an entry of term 4 is also on a majority.
   */
  function figure8(bugs: { commitPreviousTerm?: boolean }) {
    const h = new Harness([1, 2, 3, 4, 5], { bugs, appendBytesMax: 1 });
    h.campaign(1);
    const base = h.raft(1).log.lastIndex();
    h.drop = (m) => m.from === 1 && m.to !== 2;
    h.node(1).raw.propose(text("e2"));
    h.settle();
    h.isolate(1, 2);
    h.drop = (m) => [1, 2].includes(m.from) || [1, 2].includes(m.to) || (m.from === 5 && m.type === "app");
    h.campaign(5);
    h.node(5).raw.propose(text("e3"));
    h.settle();
    // S1 comes back and wins term 4 with S2, S3, S4 (S5 is now cut off). Appends carrying its term-4 no-op
    // are dropped once the follower holds e@2, so only e@2 spreads.
    const index = base + 1;
    const holdsE2 = (id: number) => h.raft(id).log.term(index) === 2;
    h.drop = (m) =>
      m.from === 5 ||
      m.to === 5 ||
      (m.type === "app" && m.entries.some((e) => e.index > index) && holdsE2(m.to));
    h.raft(1).becomeFollower(h.raft(1).term, 0);
    // Term 3 is S5's (S3 and S4 voted for it), so S1 needs a second campaign to win term 4.
    for (let i = 0; i < 3 && h.raft(1).role !== "leader"; i++) h.campaign(1);
    return { h, index };
  }

  it("S1 does not commit the term-2 entry though a majority holds it", () => {
    const { h, index } = figure8({});
    assert.equal(h.raft(1).role, "leader");
    assert.equal(h.raft(3).log.term(index), 2, "S3 received e@2");
    assert.equal(h.raft(4).log.term(index), 2, "S4 received e@2");
    assert.ok(h.raft(1).log.committed < index, `commit ${h.raft(1).log.committed} must stay below ${index}`);
  });

  it("the deliberately broken variant commits it (and the simulator must catch that)", () => {
    const { h, index } = figure8({ commitPreviousTerm: true });
    assert.ok(h.raft(1).log.committed >= index);
  });
});
