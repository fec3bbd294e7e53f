import { assert } from "../util/assert.js";
import { ProposalDroppedError } from "../util/errors.js";
import type { NodeId } from "./types.js";

interface PendingRead {
  readonly round: number;
  readonly from: NodeId;
  readonly requestId: number;
  readonly index: number;
}

interface WaitingRead {
  readonly from: NodeId;
  readonly requestId: number;
  readonly lease: boolean;
}

/**
 * The leader's read bookkeeping. Leadership is confirmed by heartbeat rounds numbered by the leader itself
 * (never by client-supplied ids: raft-notes 1.6, etcd-io/etcd#20418): a follower's ack of round r vouches for
 * every read registered at or before r. The same rounds anchor the lease: a quorum acked round r, sent at tick
 * t, so no other leader can be elected before t + electionTicks.
 */
export class ReadOnly {
  /** The newest heartbeat round sent. Monotonic for the life of the node. */
  round = 0;
  private readonly pending: PendingRead[] = [];
  private waiting: WaitingRead[] = [];
  /** Send tick of each recent round not yet confirmed by a quorum; bounded by pruning on confirm. */
  private readonly sentAt = new Map<number, number>();
  private leaseAnchorTick: number | undefined;
  private leaseRevoked = false;
  private readonly readsPendingMax: number;

  constructor(readsPendingMax: number) {
    this.readsPendingMax = readsPendingMax;
  }

  reset(): void {
    this.pending.length = 0;
    this.waiting = [];
    this.sentAt.clear();
    this.leaseAnchorTick = undefined;
    this.leaseRevoked = false;
  }

  newRound(tick: number): number {
    this.round++;
    this.sentAt.set(this.round, tick);
    // Rounds never acked by a quorum (a partitioned leader) must not pile up.
    if (this.sentAt.size > 4096) {
      const oldest = this.sentAt.keys().next().value;
      if (oldest !== undefined) this.sentAt.delete(oldest);
    }
    return this.round;
  }

  private checkRoom(): void {
    if (this.pending.length + this.waiting.length >= this.readsPendingMax) {
      throw new ProposalDroppedError(`too many reads waiting (${this.readsPendingMax})`);
    }
  }

  add(round: number, from: NodeId, requestId: number, index: number): void {
    this.checkRoom();
    const last = this.pending[this.pending.length - 1];
    assert(last === undefined || last.round <= round, "read rounds must not go back");
    this.pending.push({ round, from, requestId, index });
  }

  wait(from: NodeId, requestId: number, lease: boolean): void {
    this.checkRoom();
    this.waiting.push({ from, requestId, lease });
  }

  takeWaiting(): WaitingRead[] {
    const w = this.waiting;
    this.waiting = [];
    return w;
  }

  /** A quorum has acked every round up to `round`: returns the reads that are now confirmed. */
  confirm(round: number): PendingRead[] {
    const sent = this.sentAt.get(round);
    if (sent !== undefined && !this.leaseRevoked) {
      this.leaseAnchorTick = Math.max(this.leaseAnchorTick ?? sent, sent);
    }
    for (const r of [...this.sentAt.keys()]) if (r <= round) this.sentAt.delete(r);
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.round <= round) n++;
    return this.pending.splice(0, n);
  }

  leaseValid(nowTick: number, leaseTicks: number): boolean {
    if (this.leaseRevoked || this.leaseAnchorTick === undefined) return false;
    return nowTick - this.leaseAnchorTick < leaseTicks;
  }

  /** After a leadership transfer starts, the target may win before our lease ends: stop trusting it. */
  revokeLease(): void {
    this.leaseRevoked = true;
    this.leaseAnchorTick = undefined;
  }

  pendingCount(): number {
    return this.pending.length + this.waiting.length;
  }
}
