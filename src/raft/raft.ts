import { assert } from "../util/assert.js";
import { CompactedError, NotLeaderError, ProposalDroppedError } from "../util/errors.js";
import type { Rng } from "../util/rng.js";
import { encodeConfChange } from "./confchange.js";
import { type Config, type ResolvedConfig, resolveConfig } from "./config.js";
import { RaftLog } from "./log.js";
import { Progress, quorumValue, voteResult } from "./progress.js";
import { ReadOnly } from "./read-only.js";
import { entryBytes } from "./storage.js";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type EntryKind,
  type HardState,
  type Message,
  NONE,
  type NodeId,
  type ReadState,
  type Role,
  type SnapshotMeta,
} from "./types.js";

const NO_ENTRIES: readonly Entry[] = [];

export type MessageFields = Partial<Omit<Message, "from">> & Pick<Message, "type" | "to">;

/**
 * The Raft protocol as a pure state machine (etcd-io/raft style). Inputs: tick(), step(message), propose*(),
 * readIndex(); outputs are collected in `msgs`, `readStates` and the log, and handed out by RawNode's Ready.
 * No I/O, no timers, no clock: time is ticks, randomness comes from the injected Rng.
 * It stays one file past the ~600-line rule, as etcd-io/raft's raft.go does: the protocol's rules (terms,
 * elections, replication, commit) read together, and its parts, the log (log.ts), progress (progress.ts),
 * read-only reads (read-only.ts) and configuration changes (confchange.ts), are already in their own files.
 */
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  private readonly rng: Rng;

  term = 0;
  vote: NodeId = NONE;
  role: Role = "follower";
  leader: NodeId = NONE;
  /** Invariant: sorted, disjoint from learners. */
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  /** The leader's view of every member, itself included (rebuilt on every role change; read only when leading). */
  readonly prs = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  msgs: Message[] = [];
  readStates: ReadState[] = [];

  /** Ticks since this node started: the leader's clock for its lease. */
  ticks = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  leadTransferee: NodeId = NONE;
  /** Index of the newest conf or restore entry; no other may be proposed until it is applied. */
  pendingConfIndex = 0;
  readonly readOnly: ReadOnly;

  constructor(config: Config) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.rng = config.rng;
    this.log = new RaftLog(config.storage, this.cfg.committedBytesMax);
    this.log.truncateWithoutConflict = this.cfg.bugs.truncateWithoutConflict === true;
    this.readOnly = new ReadOnly(this.cfg.readsPendingMax);
    const { hardState, conf } = config.storage.initialState();
    this.loadHardState(hardState);
    this.setConf(conf);
    if (config.applied !== undefined && config.applied > 0) this.log.appliedTo(config.applied);
    this.becomeFollower(this.term, NONE);
  }

  private loadHardState(hs: HardState): void {
    const last = this.log.lastIndex();
    assert(hs.commit <= last, `hard state commit ${hs.commit} is past the last index ${last}`);
    // A snapshot holds only committed state, so a commit behind it (a crash between writing the snapshot and
    // the hard state) is raised to it.
    this.log.committed = Math.max(hs.commit, this.log.committed);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Can this node campaign: a voter with no snapshot waiting to be persisted. */
  promotable(): boolean {
    return this.isVoter(this.id) && this.log.unstable.snapshot === null;
  }

  send(f: MessageFields): void {
    if (f.to === this.id) assert(false, `message ${f.type} addressed to self`);
    // Every field spelled out: one object shape for all messages keeps this hot path fast in V8.
    this.msgs.push({
      type: f.type,
      from: this.id,
      to: f.to,
      term: f.term ?? this.term,
      index: f.index ?? 0,
      logTerm: f.logTerm ?? 0,
      entries: f.entries ?? NO_ENTRIES,
      commit: f.commit ?? 0,
      reject: f.reject ?? false,
      rejectHint: f.rejectHint ?? 0,
      hintTerm: f.hintTerm ?? 0,
      snapshot: f.snapshot ?? null,
      context: f.context ?? 0,
      transfer: f.transfer ?? false,
    });
  }

  // ---- role transitions ----

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leader = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.rng.int(0, this.cfg.electionTicks);
    this.leadTransferee = NONE;
    this.votes.clear();
    this.pendingConfIndex = 0;
    this.readOnly.reset();
    this.resetProgress();
  }

  private resetProgress(): void {
    this.prs.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of this.voters) this.prs.set(id, this.newProgress(next, false));
    for (const id of this.learners) this.prs.set(id, this.newProgress(next, true));
    const self = this.prs.get(this.id);
    if (self !== undefined) {
      // Only durable entries count toward a quorum (raft-notes 1.9, §6: the leader counts itself after its
      // fsync).
      self.match = this.log.unstable.offset - 1;
      self.next = next;
    }
  }

  private newProgress(next: number, learner: boolean): Progress {
    return new Progress(next, learner, this.cfg.inflightMsgsMax, 0);
  }

  becomeFollower(term: number, leader: NodeId): void {
    this.reset(term);
    this.role = "follower";
    this.leader = leader;
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader cannot become a pre-candidate");
    // The term stays: a pre-vote must not disrupt anyone. Forgetting the leader lets peers see we are not in
    // its lease any more (etcd-io/etcd#9586).
    this.votes.clear();
    this.role = "preCandidate";
    this.leader = NONE;
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader cannot become a candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.role = "leader";
    this.leader = this.id;
    const self = this.prs.get(this.id);
    assert(self !== undefined, "a leader must be a member");
    self.becomeReplicate();
    // The start-of-term no-op lets this leader commit (Figure 8) and serve reads (raft-notes 1.6). No conf
    // change until it is applied: stricter than etcd (which waits for the entries before it), as hashicorp,
    // so a change never follows a leader that has not committed in its own term (raft-notes 1.2).
    this.pendingConfIndex = this.appendEntries([{ kind: "normal", data: new Uint8Array() }]);
  }

  // ---- ticks ----

  tick(): void {
    this.ticks++;
    if (this.role === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.checkQuorumActive()) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** Whether a quorum of voters was heard from this election timeout; clears the marks for the next one. */
  private checkQuorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) {
      const pr = this.prs.get(id)!;
      if (id === this.id || pr.recentActive) active++;
      pr.recentActive = false;
    }
    return active >= Math.floor(this.voters.length / 2) + 1;
  }

  // ---- elections ----

  /** Starts an election if allowed. `transfer`: asked by the leader (TimeoutNow), so skip the pre-vote. */
  hup(transfer: boolean): void {
    if (this.role === "leader" || !this.promotable()) return;
    if (this.hasUnappliedConf()) return;
    if (this.cfg.preVote && !transfer) this.campaign("pre", false);
    else this.campaign("real", transfer);
  }

  /** A conf change committed but not applied would change who votes: wait for it (etcd does the same). */
  private hasUnappliedConf(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    let ents: Entry[];
    try {
      ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    } catch (e) {
      if (e instanceof CompactedError) return false;
      throw e;
    }
    return ents.some((e) => e.kind === "conf");
  }

  private campaign(kind: "pre" | "real", transfer: boolean): void {
    let term: number;
    if (kind === "pre") {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    this.votes.set(this.id, true);
    if (voteResult(this.voters, this.votes) === "won") {
      this.winElection(kind);
      return;
    }
    const type = kind === "pre" ? "preVote" : "vote";
    for (const id of this.voters) {
      if (id === this.id) continue;
      this.send({ type, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), transfer });
    }
  }

  private winElection(kind: "pre" | "real"): void {
    if (kind === "pre") this.campaign("real", false);
    else {
      this.becomeLeader();
      this.bcastAppend();
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === "preVote";
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.leader === NONE) || (pre && m.term > this.term);
    const upToDate = this.cfg.bugs.voteWithoutLogCheck === true || this.log.isUpToDate(m.index, m.logTerm);
    const type = pre ? "preVoteResp" : "voteResp";
    if (canVote && upToDate) {
      // A pre-vote answer carries the candidate's term so it can count it; it changes nothing here.
      this.send({ type, to: m.from, term: m.term });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type, to: m.from, term: this.term, reject: true });
    }
  }

  private handleVoteResponse(m: Message): void {
    const expected = this.role === "preCandidate" ? "preVoteResp" : "voteResp";
    if (m.type !== expected) return;
    if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
    const result = voteResult(this.voters, this.votes);
    if (result === "won") this.winElection(this.role === "preCandidate" ? "pre" : "real");
    else if (result === "lost") this.becomeFollower(this.term, NONE);
  }

  // ---- step ----

  step(m: Message): void {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === "vote" || m.type === "preVote") {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  /** Returns false when the message must be dropped. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === "vote" || m.type === "preVote") {
      const inLease =
        this.cfg.checkQuorum && this.leader !== NONE && this.electionElapsed < this.cfg.electionTicks;
      // A server that hears from its leader ignores campaigns, so a partitioned server cannot depose it.
      if (inLease && !m.transfer) return false;
    }
    if (m.type === "preVote") return true;
    if (m.type === "preVoteResp" && !m.reject) return true;
    const isLeaderMsg = m.type === "app" || m.type === "heartbeat" || m.type === "snap";
    this.becomeFollower(m.term, isLeaderMsg ? m.from : NONE);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === "heartbeat" || m.type === "app")) {
      // Tell a stale leader our term: it may be a node stuck at a lower term that would never learn it
      // otherwise, because lease checks make us ignore its campaigns (etcd's TestFreeStuckCandidate).
      this.send({ type: "appResp", to: m.from });
    } else if (m.type === "preVote") {
      this.send({ type: "preVoteResp", to: m.from, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        break;
      case "heartbeat":
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        break;
      case "snap":
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        break;
      case "timeoutNow":
        this.hup(true);
        break;
      case "readIndexResp":
        this.readStates.push({ index: m.index, requestId: m.context });
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
      case "heartbeat":
      case "snap":
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        break;
      case "voteResp":
      case "preVoteResp":
        this.handleVoteResponse(m);
        break;
      default:
        break;
    }
  }

  // ---- follower side of replication ----

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: "appResp", to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: "appResp", to: m.from, index: lastNew });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: "appResp",
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      hintTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: "heartbeatResp", to: m.from, context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    assert(snap !== null, "a snap message carries snapshot metadata");
    if (this.restore(snap)) this.send({ type: "appResp", to: m.from, index: this.log.lastIndex() });
    else this.send({ type: "appResp", to: m.from, index: this.log.committed });
  }

  /** Installs a leader's snapshot. Returns false when it brings nothing new (raft-notes 1.11). */
  private restore(snap: SnapshotMeta): boolean {
    if (snap.index <= this.log.committed) return false;
    // A snapshot taken before this server was added does not list it (etcd refuses those and waits for a newer
    // one, which may never come on an idle cluster). Safety does not need the check: the log after the snapshot
    // holds the change that added this server, and until it applies here this server is not promotable.
    if (this.log.matchTerm(snap.index, snap.term)) {
      // Our log already holds the snapshot's last entry: keep the suffix, just commit up to it.
      this.log.commitTo(snap.index);
      return false;
    }
    this.log.restore(snap);
    this.setConf(snap.conf);
    return true;
  }

  // ---- leader side of replication ----

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    switch (m.type) {
      case "appResp":
        if (pr !== undefined) this.handleAppendResponse(m, pr);
        break;
      case "heartbeatResp":
        if (pr !== undefined) this.handleHeartbeatResponse(m, pr);
        break;
      case "readIndex":
        this.handleReadRequest(m.from, m.context, false);
        break;
      default:
        break;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from, false);
      return;
    }
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
      // The follower installed the snapshot sent, but this log was compacted past it meanwhile. Our driver never
      // reports a finished send (the follower fetches the archive itself: its answer is the report), so without
      // this the follower would wait for the send's 30 s probe; probing now sends it a newer snapshot at once.
      pr.becomeProbe();
    } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);

    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.sendAppend(m.from, false);
    for (let i = 0; i < this.cfg.inflightMsgsMax && this.sendAppend(m.from, false); i++) {}
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
    if (m.context > pr.ackedRound) {
      pr.ackedRound = m.context;
      this.releaseConfirmedReads();
    }
  }

  /**
   * Sends entries (or a snapshot when they are compacted) to a follower. Returns whether a message was sent.
   * `sendIfEmpty`: send even with no new entries (to probe or to carry the commit index).
   */
  sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: Entry[] | undefined;
    try {
      ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.appendBytesMax);
    } catch (e) {
      if (!(e instanceof CompactedError)) throw e;
    }
    if (prevTerm === undefined || ents === undefined) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: "app",
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    const bytes = ents.reduce((n, e) => n + entryBytes(e), 0);
    pr.sentEntries(prevIndex + ents.length, ents.length, bytes);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only to a follower we hear from: a snapshot is expensive (etcd does the same).
    if (!pr.recentActive) return false;
    const snap = this.log.storage.snapshot();
    if (snap.index === 0) return false;
    this.send({ type: "snap", to, snapshot: snap });
    pr.becomeSnapshot(snap.index);
    return true;
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    const round = this.readOnly.newRound(this.ticks);
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: "heartbeat", to: id, commit, context: round });
    }
  }

  /** Advances the commit index to what a quorum of voters holds, counting only current-term entries. */
  maybeCommit(): boolean {
    const matches = this.voters.map((id) => this.prs.get(id)?.match ?? 0);
    const index = quorumValue(matches);
    if (index <= this.log.committed) return false;
    const term = this.log.term(index);
    if (term !== this.term && this.cfg.bugs.commitPreviousTerm !== true) return false;
    this.log.commitTo(index);
    if (this.committedInCurrentTerm()) this.releaseWaitingReads();
    return true;
  }

  committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ---- proposals ----

  private appendEntries(items: readonly { kind: EntryKind; data: Uint8Array }[]): number {
    let index = this.log.lastIndex();
    const ents: Entry[] = items.map((it) => ({
      term: this.term,
      index: ++index,
      kind: it.kind,
      data: it.data,
    }));
    return this.log.append(ents);
  }

  private checkProposal(): void {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    if (this.leadTransferee !== NONE) {
      throw new ProposalDroppedError(`leadership is being transferred to node ${this.leadTransferee}`);
    }
    const uncommitted = this.log.lastIndex() - this.log.committed;
    if (uncommitted >= this.cfg.uncommittedEntriesMax) {
      throw new ProposalDroppedError(`too many uncommitted entries (${uncommitted})`);
    }
  }

  /** Appends a command; returns its index. It is committed once a Ready hands it out in `committed`. */
  propose(data: Uint8Array): number {
    this.checkProposal();
    const index = this.appendEntries([{ kind: "normal", data }]);
    this.bcastAppend();
    return index;
  }

  private checkSingleChange(what: string): void {
    this.checkProposal();
    if (this.pendingConfIndex > this.log.applied) {
      throw new ProposalDroppedError(`cannot ${what}: a configuration change or restore is still pending`);
    }
  }

  proposeConfChange(cc: ConfChange): number {
    this.checkSingleChange(`${cc.type} node ${cc.node}`);
    const voter = this.voters.includes(cc.node);
    const learner = this.learners.includes(cc.node);
    if (cc.type === "addVoter" && voter) throw new ProposalDroppedError(`node ${cc.node} is already a voter`);
    if (cc.type === "addLearner" && learner)
      throw new ProposalDroppedError(`node ${cc.node} is already a learner`);
    if (cc.type === "remove" && !voter && !learner) {
      throw new ProposalDroppedError(`node ${cc.node} is not a member`);
    }
    if (cc.type !== "addVoter" && voter && this.voters.length === 1) {
      throw new ProposalDroppedError(`cannot remove or demote node ${cc.node}: it is the last voter`);
    }
    const index = this.appendEntries([{ kind: "conf", data: encodeConfChange(cc) }]);
    this.pendingConfIndex = index;
    this.bcastAppend();
    return index;
  }

  /**
   * A user restore (raft-notes 1.15): an entry that replaces the whole state machine state with the snapshot
   * named by `handle`, at an index above every index in the log. One at a time, never beside a conf change.
   */
  proposeRestore(handle: string): number {
    this.checkSingleChange("restore a snapshot");
    const index = this.appendEntries([{ kind: "restore", data: new TextEncoder().encode(handle) }]);
    this.pendingConfIndex = index;
    this.bcastAppend();
    return index;
  }

  // ---- membership ----

  private setConf(conf: ConfState): void {
    this.voters = [...conf.voters].sort((a, b) => a - b);
    this.learners = [...conf.learners].filter((id) => !conf.voters.includes(id)).sort((a, b) => a - b);
    if (this.role === "leader") this.syncProgress();
  }

  /** Keeps the leader's progress map in step with the membership after a change. */
  private syncProgress(): void {
    const members = new Set([...this.voters, ...this.learners]);
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    for (const id of members) {
      const learner = this.learners.includes(id);
      const pr = this.prs.get(id);
      if (pr === undefined) this.prs.set(id, this.newProgress(this.log.lastIndex() + 1, learner));
      else pr.learner = learner;
    }
  }

  /** Called by the driver when it applies a conf entry. Returns the membership now in force. */
  applyConfChange(cc: ConfChange): ConfState {
    const voters = this.voters.filter((id) => id !== cc.node);
    const learners = this.learners.filter((id) => id !== cc.node);
    if (cc.type === "addVoter") voters.push(cc.node);
    else if (cc.type === "addLearner") learners.push(cc.node);
    this.setConf({ voters, learners });
    if (this.role === "leader") {
      if (!this.isVoter(this.id)) {
        // Removed (or demoted) leader steps down (raft-notes 1.4); its term's entries keep replicating via
        // the next leader.
        this.becomeFollower(this.term, NONE);
      } else {
        if (this.leadTransferee !== NONE && !this.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
        if (this.maybeCommit()) this.bcastAppend();
        this.releaseConfirmedReads();
      }
    }
    return this.confState();
  }

  // ---- leadership transfer ----

  /** Hands leadership to `to` (thesis §3.10). Ignored for self, non-voters, or a transfer already under way. */
  transferLeadership(to: NodeId): void {
    if (this.role !== "leader") throw new NotLeaderError(this.leader);
    if (to === this.id || !this.isVoter(to) || this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer must finish within one election timeout, or it is aborted.
    this.electionElapsed = 0;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
  }

  private sendTimeoutNow(to: NodeId): void {
    // The target campaigns without waiting for leases to lapse, so ours can no longer vouch for reads.
    this.readOnly.revokeLease();
    this.send({ type: "timeoutNow", to });
  }

  // ---- reads ----

  /**
   * Asks for a linearizable read (ReadIndex, thesis §6.4). The answer comes as a ReadState with this
   * requestId once a quorum confirmed leadership; serve it when the state machine has applied its index.
   * `lease`: answer at once while the leader lease holds (thesis §6.4.1; needs check-quorum).
   */
  readIndex(requestId: number, lease: boolean): void {
    if (this.role === "leader") this.handleReadRequest(this.id, requestId, lease);
    else if (this.leader !== NONE) this.send({ type: "readIndex", to: this.leader, context: requestId });
    else throw new NotLeaderError(NONE);
  }

  private handleReadRequest(from: NodeId, requestId: number, lease: boolean): void {
    if (!this.committedInCurrentTerm()) {
      // A new leader's commit index may lag the previous leader's (etcd-io/etcd#7331): wait for the no-op.
      this.readOnly.wait(from, requestId, lease);
      return;
    }
    const index = this.log.committed;
    const quorumOfOne = this.voters.length === 1 && this.isVoter(this.id);
    const leaseOk = lease && this.cfg.checkQuorum && this.readOnly.leaseValid(this.ticks, this.leaseTicks());
    if (quorumOfOne || leaseOk || this.cfg.bugs.readWithoutQuorum === true) {
      this.answerRead(from, requestId, index);
      return;
    }
    const round = this.readOnly.newRound(this.ticks);
    this.readOnly.add(round, from, requestId, index);
    for (const id of this.prs.keys()) {
      if (id === this.id) continue;
      this.send({
        type: "heartbeat",
        to: id,
        commit: Math.min(this.prs.get(id)!.match, index),
        context: round,
      });
    }
  }

  private leaseTicks(): number {
    // One tick for the phase between servers' tick schedules, plus the configured drift.
    return this.cfg.electionTicks - 1 - this.cfg.leaseDriftTicks;
  }

  private answerRead(from: NodeId, requestId: number, index: number): void {
    if (from === this.id) this.readStates.push({ index, requestId });
    else this.send({ type: "readIndexResp", to: from, index, context: requestId });
  }

  private releaseConfirmedReads(): void {
    const rounds = this.voters.map((id) =>
      id === this.id ? this.readOnly.round : (this.prs.get(id)?.ackedRound ?? 0),
    );
    for (const r of this.readOnly.confirm(quorumValue(rounds))) this.answerRead(r.from, r.requestId, r.index);
  }

  private releaseWaitingReads(): void {
    for (const w of this.readOnly.takeWaiting()) this.handleReadRequest(w.from, w.requestId, w.lease);
  }

  // ---- driver feedback ----

  /** The leader learns that a message to `id` failed: stop streaming and probe again. */
  reportUnreachable(id: NodeId): void {
    const pr = this.prs.get(id);
    if (this.role === "leader" && pr !== undefined && pr.state === "replicate") pr.becomeProbe();
  }

  /** The leader's driver finished sending a snapshot to `id`; on failure, probe again after a heartbeat. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.prs.get(id);
    if (this.role !== "leader" || pr === undefined || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true;
  }

  /** Entries up to (index, term) are durable: the leader may now count itself for them. */
  stableTo(index: number, term: number): void {
    this.log.unstable.stableTo(index, term);
    if (this.role !== "leader" || this.log.term(index) !== term) return;
    const self = this.prs.get(this.id);
    if (self?.maybeUpdate(index) && this.maybeCommit()) this.bcastAppend();
  }

  stableSnapshotTo(index: number): void {
    this.log.unstable.stableSnapTo(index);
  }
}
