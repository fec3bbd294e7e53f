import { assert } from "../util/assert.js";
import type { NodeId } from "./types.js";

/**
 * A bounded window of in-flight AppendEntries (flow control): each message is remembered by its last index and
 * size until acknowledged. Full when either count or bytes reach their limit.
 */
export class Inflights {
  private readonly items: { index: number; bytes: number }[] = [];
  private bytes = 0;
  private readonly countMax: number;
  private readonly bytesMax: number;

  constructor(countMax: number, bytesMax: number) {
    assert(countMax > 0, "inflight count limit must be positive");
    this.countMax = countMax;
    this.bytesMax = bytesMax;
  }

  add(index: number, bytes: number): void {
    assert(!this.full(), "cannot add to a full inflights window");
    const last = this.items[this.items.length - 1];
    if (!(last === undefined || index > last.index)) assert(false, `inflight index ${index} must increase`);
    this.items.push({ index, bytes });
    this.bytes += bytes;
  }

  /** Frees every message whose last index is <= index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.items.length && this.items[n]!.index <= index) {
      this.bytes -= this.items[n]!.bytes;
      n++;
    }
    if (n > 0) this.items.splice(0, n);
  }

  /** Frees the oldest message: a heartbeat answer shows the follower is alive, so a lost append must not
   * stall the window forever (etcd frees one the same way). */
  freeFirstOne(): void {
    const first = this.items[0];
    if (first !== undefined) this.freeLE(first.index);
  }

  full(): boolean {
    return this.items.length >= this.countMax || (this.bytesMax > 0 && this.bytes >= this.bytesMax);
  }

  count(): number {
    return this.items.length;
  }

  reset(): void {
    this.items.length = 0;
    this.bytes = 0;
  }
}

/**
 * The leader's view of one follower (etcd-io/raft tracker.Progress).
 * - probe: send one append per heartbeat until the follower's match is found;
 * - replicate: stream appends optimistically, bounded by the inflights window;
 * - snapshot: a snapshot is in flight; appends pause until it lands or fails.
 * Invariant: match < next.
 */
export class Progress {
  match = 0;
  next: number;
  state: "probe" | "replicate" | "snapshot" = "probe";
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In probe state: an append was sent this heartbeat interval, so wait. */
  probeSent = false;
  /** The highest heartbeat round this follower acknowledged (read confirmations and the lease). */
  ackedRound = 0;
  learner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, learner: boolean, inflightCountMax: number, inflightBytesMax: number) {
    this.next = next;
    this.learner = learner;
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax);
  }

  private resetState(state: Progress["state"]): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState("probe");
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = index;
  }

  /** A successful append response up to n. Returns whether match moved. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** After sending entries up to lastIndex: optimistic in replicate state, one at a time in probe state. */
  sentEntries(lastIndex: number, count: number, bytes: number): void {
    if (this.state === "replicate") {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /**
   * A rejected append for `rejected`, with the follower's hint of where logs may match. Returns false when the
   * rejection is stale (already superseded) and must be ignored.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}

/** The size of a majority of n voters. */
export function quorumSize(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The largest value that a majority of voters have reached: sort descending and take the quorum-th. Used for
 * the commit index (values = match indexes) and for read rounds (values = acknowledged rounds).
 */
export function quorumValue(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => b - a);
  return sorted[quorumSize(values.length) - 1]!;
}

/** Whether the granted votes form a majority ("won"), cannot anymore ("lost"), or neither yet ("pending"). */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): "won" | "lost" | "pending" {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return "won";
  if (voters.length - rejected < q) return "lost";
  return "pending";
}
