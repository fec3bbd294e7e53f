import type { CommandResult } from "../fsm/index.js";
import type { Entry } from "../raft/index.js";
import type { Clock } from "../util/clock.js";
import { type CairnError, ProposalDroppedError } from "../util/errors.js";
import { Waiters } from "./waiters.js";

/** What a proposal resolves with: the command's full result (txn results, sessions) or its refusal. */
export type ProposalResult = CommandResult | CairnError;

/**
 * Proposals made on this server, waiting for their entries to apply. The entry applied at a proposal's
 * index settles it only if it carries the proposal's term: an entry of another term there means a new leader
 * replaced the write, which was then never applied.
 */
export class PendingProposals {
  private readonly waiters: Waiters<number, ProposalResult>;

  constructor(clock: Clock) {
    this.waiters = new Waiters(clock);
  }

  /** Resolves with the apply result of the entry proposed at `index` in `term`; fails after `timeoutMs`. */
  wait(index: number, term: number, what: string, timeoutMs: number): Promise<ProposalResult> {
    const timedOut = `timed out waiting for the ${what} at index ${index} to commit`;
    return this.waiters.wait(index, term, timeoutMs, timedOut);
  }

  /** Settles the proposal this server made at the applied entry's index, if any. */
  applied(e: Entry, result: ProposalResult): void {
    const w = this.waiters.take(e.index);
    if (w === undefined) return;
    if (w.term === e.term) w.resolve(result);
    else
      w.reject(new ProposalDroppedError("leadership changed before the write committed; it was not applied"));
  }

  rejectAll(e: Error): void {
    this.waiters.rejectAll(e);
  }
}
