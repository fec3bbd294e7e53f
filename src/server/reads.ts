import type { Clock } from "../util/clock.js";
import type { Rng } from "../util/rng.js";
import type { ServerHandle } from "./server-parts.js";
import { Waiters } from "./waiters.js";

/** Request ids are drawn from [0, 2^48): far from MAX_SAFE_INTEGER, so a long-lived server never runs out. */
const REQUEST_ID_SPACE = 2 ** 48;

/**
 * ReadIndex reads (thesis §6.4, docs/raft-notes.md 1.6): a read first has the core confirm leadership with a
 * quorum round (or, leased, from the leader's lease), which yields the commit index at the time of asking; it
 * then waits until this server has applied that index, so reading the local state store is linearizable.
 */
export class ReadBarriers {
  /** Reads waiting for the core to confirm leadership, by request id. */
  private readonly confirming: Waiters<number, number>;
  /** Confirmed reads waiting for their read index to be applied here. */
  private readonly applying: { index: number; resolve: () => void }[] = [];
  private seq: number;

  /**
   * `rng` draws where this incarnation's request ids start. A follower's read is answered by the leader with
   * the request's id, and the answer can outlive the process that asked: the leader's transport queues it
   * while the follower is down and delivers it to the restarted process. Ids counted from 1 in every process
   * would then match that old answer to a new read, which would be served at the old read index: a stale
   * read, caught by the torture (seed 710165, a get answered null 0.5 s after a killed follower restarted).
   */
  constructor(
    private readonly server: Pick<ServerHandle, "raw" | "kick">,
    private readonly holdTimeoutMs: number,
    rng: Rng,
    clock: Clock,
  ) {
    this.confirming = new Waiters(clock);
    this.seq = rng.int(0, REQUEST_ID_SPACE);
  }

  /** Confirms leadership (with `lease`, the leader's lease may answer at once), then waits for the apply. */
  async barrier(lease: boolean): Promise<void> {
    const id = ++this.seq;
    const raw = this.server.raw();
    const timedOut = "timed out confirming leadership for a consistent read";
    const confirmed = this.confirming.wait(id, raw.raft.term, this.holdTimeoutMs, timedOut);
    try {
      raw.readIndex(id, lease);
      this.server.kick();
    } catch (e) {
      this.confirming.take(id)?.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const index = await confirmed;
    if (this.server.raw().raft.log.applied >= index) return;
    await new Promise<void>((resolve) => this.applying.push({ index, resolve }));
  }

  /** A read state from the Ready batch: request `requestId` may read once `index` is applied. */
  confirmed(requestId: number, index: number): void {
    this.confirming.take(requestId)?.resolve(index);
  }

  /** Lets go the confirmed reads whose index is now applied (after each advance). */
  releaseApplied(applied: number): void {
    for (let i = this.applying.length - 1; i >= 0; i--) {
      const r = this.applying[i]!;
      if (r.index <= applied) {
        this.applying.splice(i, 1);
        r.resolve();
      }
    }
  }

  /** Fails every read still waiting for confirmation (on stop). */
  rejectAll(e: Error): void {
    this.confirming.rejectAll(e);
  }
}
