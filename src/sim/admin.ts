import type { ConfChange, NodeId } from "../raft/types.js";
import type { Rng } from "../util/rng.js";
import type { KvOutput } from "./linearizability.js";
import { drawRestoredState, restoreStateBin } from "./real-admin.js";
import type { Answer } from "./workload.js";
import type { World } from "./world.js";

interface PendingRestore {
  readonly opId: number;
  readonly call: number;
  readonly deadline: number;
  readonly values: ReadonlyMap<string, string | null>;
}

/**
 * The operator: membership changes one server at a time (add a learner, promote it, remove a voter — the leader
 * included), leadership transfers, and user restores of a snapshot. A restore is a write of every key at once,
 * recorded in each key's history with the same call and return.
 */
export class Admin {
  private readonly world: World;
  private readonly rng: Rng;
  private seq = 0;
  private restore: PendingRestore | null = null;

  constructor(world: World, rng: Rng) {
    this.world = world;
    this.rng = rng;
  }

  step(): void {
    const o = this.world.opts;
    this.expireRestore();
    const leaderId = this.world.leaderHint();
    const leader = this.world.live(leaderId);
    if (leader === undefined) return;
    if (this.rng.chance(o.confChangeRate)) this.changeMembership(leaderId);
    if (this.rng.chance(o.transferRate)) {
      const voters = leader.raw.raft.voters.filter((v) => v !== leaderId);
      const to = voters[this.rng.int(0, Math.max(1, voters.length))];
      if (to !== undefined) {
        this.world.trace(`admin transfers leadership n${leaderId} → n${to}`);
        leader.raw.transferLeadership(to);
        leader.pump();
      }
    }
    if (this.restore === null && this.rng.chance(o.restoreRate)) this.startRestore(leaderId);
  }

  private changeMembership(leaderId: NodeId): void {
    const leader = this.world.live(leaderId)!;
    const raft = leader.raw.raft;
    if (raft.pendingConfIndex > raft.log.applied) return;
    const o = this.world.opts;
    const all = Array.from({ length: o.voters + o.spares }, (_, i) => i + 1);
    const outside = all.filter((id) => !raft.voters.includes(id) && !raft.learners.includes(id));
    const caughtUp = raft.learners.filter((id) => (raft.prs.get(id)?.match ?? 0) + 5 >= raft.log.lastIndex());
    const choices: ConfChange[] = [];
    if (outside.length > 0)
      choices.push({ type: "addLearner", node: outside[this.rng.int(0, outside.length)]! });
    if (caughtUp.length > 0) choices.push({ type: "addVoter", node: caughtUp[0]! });
    if (raft.voters.length > 3)
      choices.push({ type: "remove", node: raft.voters[this.rng.int(0, raft.voters.length)]! });
    if (raft.learners.length > 0) choices.push({ type: "remove", node: raft.learners[0]! });
    const cc = choices[this.rng.int(0, Math.max(1, choices.length))];
    if (cc === undefined) return;
    try {
      leader.raw.proposeConfChange(cc);
    } catch {
      return;
    }
    this.world.trace(`admin proposes ${cc.type} n${cc.node} at n${leaderId}`);
    if (cc.type === "addLearner" && !this.world.nodes.has(cc.node)) this.world.startNode(cc.node);
    leader.pump();
  }

  private startRestore(leaderId: NodeId): void {
    const leader = this.world.live(leaderId)!;
    const n = ++this.seq;
    const { values, pairs } = drawRestoredState(this.rng, n, this.world.opts);
    const handle = `restore-${n}`;
    // The restore entry goes at the leader's next index; the archive's entries carry it as their ModifyIndex,
    // which no write before the restore can have, so a cas by index stays exact across restores.
    this.world.blobs.set(handle, restoreStateBin(pairs, leader.raw.raft.log.lastIndex() + 1));
    const opId = n;
    this.world.ownOp(opId);
    if (!leader.proposeRestore(opId, handle)) return;
    const now = this.world.now();
    this.restore = { opId, call: now, deadline: now + this.world.opts.clientTimeoutUs, values };
    this.world.trace(`admin restores ${handle} at n${leaderId}`);
  }

  private record(r: PendingRestore, ret: number, output: KvOutput | null): void {
    for (const [key, v] of r.values) {
      const input = v === null ? { kind: "delete" as const, key } : { kind: "put" as const, key, value: v };
      this.world.history.push({ clientId: 0, input, call: r.call, ret, output });
    }
  }

  private expireRestore(): void {
    const r = this.restore;
    if (r === null || this.world.now() < r.deadline) return;
    this.restore = null;
    this.record(r, Number.POSITIVE_INFINITY, null);
  }

  /** Records any restore still unanswered as of unknown outcome (end of run). */
  finish(): void {
    const r = this.restore;
    if (r === null) return;
    this.restore = null;
    this.record(r, Number.POSITIVE_INFINITY, null);
  }

  answer(opId: number, output: Answer): void {
    const r = this.restore;
    if (r === null || r.opId !== opId) return;
    this.restore = null;
    if (output === "lost" || output === "rejected") return;
    this.record(r, this.world.now(), { kind: "ok" });
  }
}
