import { assert } from "../util/assert.js";
import type { Config } from "./config.js";
import { Raft } from "./raft.js";
import type { ConfChange, ConfState, HardState, Message, NodeId, Ready, SoftState } from "./types.js";

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly role: SoftState["role"];
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly conf: ConfState;
  /** Leader only: each member's match index. */
  readonly matches: ReadonlyMap<NodeId, number>;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * The driver's handle on the core (etcd-io/raft RawNode). Synchronous and single-threaded: the driver calls
 * tick/step/propose as things happen, and whenever hasReady(), takes one Ready, handles it in the documented
 * order (persist, send, apply) and calls advance(ready) before taking the next.
 */
export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | null = null;

  constructor(config: Config) {
    this.raft = new Raft(config);
    this.prevSoft = { leader: this.raft.leader, role: this.raft.role };
    this.prevHard = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    if (!(m.to === this.raft.id)) assert(false, `message for node ${m.to} stepped into node ${this.raft.id}`);
    this.raft.step(m);
  }

  /** Starts an election now (tests and single-server bootstrap). */
  campaign(): void {
    this.raft.hup(false);
  }

  propose(data: Uint8Array): number {
    return this.raft.propose(data);
  }

  proposeConfChange(cc: ConfChange): number {
    return this.raft.proposeConfChange(cc);
  }

  proposeRestore(handle: string): number {
    return this.raft.proposeRestore(handle);
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  readIndex(requestId: number, lease = false): void {
    this.raft.readIndex(requestId, lease);
  }

  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(id, ok);
  }

  private softState(): SoftState {
    return { leader: this.raft.leader, role: this.raft.role };
  }

  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const r = this.raft;
    const soft = this.softState();
    return (
      soft.leader !== this.prevSoft.leader ||
      soft.role !== this.prevSoft.role ||
      !sameHardState(r.hardState(), this.prevHard) ||
      r.log.unstable.snapshot !== null ||
      r.log.unstableEntries().length > 0 ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.hasNextCommitted()
    );
  }

  /** Takes the next batch of work. Invariant: at most one Ready is outstanding until advance(). */
  ready(): Ready {
    assert(this.outstanding === null, "ready() called again before advance()");
    const r = this.raft;
    const soft = this.softState();
    const hard = r.hardState();
    const rd: Ready = {
      softState: soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role ? soft : null,
      hardState: sameHardState(hard, this.prevHard) ? null : hard,
      entries: [...r.log.unstableEntries()],
      snapshot: r.log.unstable.snapshot,
      committed: r.log.nextCommitted(),
      messages: r.msgs,
      readStates: r.readStates,
    };
    r.msgs = [];
    r.readStates = [];
    if (rd.softState !== null) this.prevSoft = rd.softState;
    if (rd.hardState !== null) this.prevHard = rd.hardState;
    this.outstanding = rd;
    return rd;
  }

  /** The driver persisted, sent and applied everything in `rd`. */
  advance(rd: Ready): void {
    assert(this.outstanding === rd, "advance() must be given the outstanding Ready");
    this.outstanding = null;
    const r = this.raft;
    if (rd.snapshot !== null) {
      r.stableSnapshotTo(rd.snapshot.index);
      if (rd.snapshot.index > r.log.applied) r.log.applied = rd.snapshot.index;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) r.stableTo(last.index, last.term);
    const lastCommitted = rd.committed[rd.committed.length - 1];
    if (lastCommitted !== undefined) r.log.appliedTo(lastCommitted.index);
  }

  status(): Status {
    const r = this.raft;
    const matches = new Map<NodeId, number>();
    if (r.role === "leader") for (const [id, pr] of r.prs) matches.set(id, pr.match);
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      leader: r.leader,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      conf: r.confState(),
      matches,
    };
  }
}
