import type { Entry, NodeId } from "../raft/types.js";
import { fnv1aBytes } from "../util/hash.js";

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
  readonly invariant: string;
  readonly detail: string;
  constructor(invariant: string, detail: string) {
    super(`${invariant}: ${detail}`);
    this.invariant = invariant;
    this.detail = detail;
  }
}

interface EntryFact {
  readonly hash: number;
  readonly kind: string;
  readonly prevTerm: number | undefined;
}

/** What the rules read of a log (a core's in-memory log, or a durable one): the term at each index it holds. */
export interface TermLog {
  firstIndex(): number;
  lastIndex(): number;
  /** The term at `index`, from firstIndex() - 1 (the boundary) to lastIndex(). */
  term(index: number): number | undefined;
}

function fingerprint(e: Entry): number {
  return fnv1aBytes(e.data, e.kind === "normal" ? 1 : e.kind === "conf" ? 2 : 3);
}

/**
 * Raft's safety properties, checked as the run goes (TigerBeetle's state checker idea): one leader per term,
 * log matching over durable logs, leader completeness at each election, state machine safety (one entry per
 * index committed everywhere), identical state machine fingerprints at each index, and commit indexes that never
 * move backwards. The world reads the facts from the shipped driver, from outside, after every event
 * (world-checks.ts).
 */
export class SafetyRules {
  private readonly leaders = new Map<number, NodeId>();
  /** Each durable entry seen, by index then term (a Map per index: no key string per entry made durable). */
  private readonly entries = new Map<number, Map<number, EntryFact>>();
  /**
   * The canonical committed history: index → (term, fingerprint), and `termMax`, the lowest term a server was in
   * when it took the entry as committed: the entry was committed in that term or before.
   */
  private readonly committed = new Map<number, { term: number; hash: number; termMax: number }>();
  private readonly stateHash = new Map<number, number>();
  private readonly commits = new Map<string, number>();
  private readonly durableCommits = new Map<NodeId, number>();
  /** The highest index any server took as committed. */
  maxCommitted = 0;

  /**
   * Election safety and leader completeness, when `id` leads `term` with `log`. Returns false when this (term,
   * leader) was already checked.
   */
  leader(id: NodeId, term: number, log: TermLog): boolean {
    const other = this.leaders.get(term);
    if (other === id) return false;
    if (other !== undefined) {
      throw new InvariantViolation("election safety", `n${other} and n${id} both lead term ${term}`);
    }
    this.leaders.set(term, id);
    // Leader completeness: every entry committed in an earlier term is in the new leader's log, with the same
    // term. An entry first seen committed by servers in this term or later may have been committed after this
    // leader won its election (its votes were on the way): it owes it nothing.
    for (let i = log.firstIndex(); i <= this.maxCommitted; i++) {
      const canon = this.committed.get(i);
      if (canon === undefined || canon.termMax >= term) continue;
      const t = i <= log.lastIndex() ? log.term(i) : undefined;
      if (t !== canon.term) {
        throw new InvariantViolation(
          "leader completeness",
          t === undefined
            ? `n${id} leads term ${term} with last index ${log.lastIndex()}, and index ${i} was committed before`
            : `n${id} leads term ${term} with term ${t} at index ${i}, committed elsewhere with term ${canon.term}`,
        );
      }
    }
    return true;
  }

  /** A server life's commit index (`life` names the life) never moves backwards. */
  commit(life: string, id: NodeId, commit: number): void {
    const prev = this.commits.get(life) ?? 0;
    if (commit < prev)
      throw new InvariantViolation("commit monotonic", `n${id} commit went ${prev} → ${commit}`);
    this.commits.set(life, commit);
  }

  /** Log matching, as `ents` become durable on `log`: an (index, term) pair names one entry, with one predecessor term. */
  durable(id: NodeId, ents: readonly Entry[], log: TermLog): void {
    const first = log.firstIndex();
    for (const e of ents) {
      if (e.index < first) continue;
      const prevTerm = e.index - 1 >= first - 1 ? log.term(e.index - 1) : undefined;
      const hash = fingerprint(e);
      let byTerm = this.entries.get(e.index);
      if (byTerm === undefined) {
        byTerm = new Map();
        this.entries.set(e.index, byTerm);
      }
      const seen = byTerm.get(e.term);
      if (seen === undefined) {
        byTerm.set(e.term, { hash, kind: e.kind, prevTerm });
        continue;
      }
      const samePrev = seen.prevTerm === undefined || prevTerm === undefined || seen.prevTerm === prevTerm;
      if (seen.hash !== hash || seen.kind !== e.kind || !samePrev) {
        throw new InvariantViolation(
          "log matching",
          `n${id} holds a different entry at ${e.index}/${e.term}`,
        );
      }
    }
  }

  /** A server's durable commit index never moves backwards, across its lives. */
  durableCommit(id: NodeId, commit: number): void {
    const prev = this.durableCommits.get(id) ?? 0;
    if (commit < prev) {
      throw new InvariantViolation("commit monotonic", `n${id} durable commit went ${prev} → ${commit}`);
    }
    this.durableCommits.set(id, commit);
  }

  /**
   * State machine safety: every server takes the same entry as committed at each index (so applies the same).
   * `term`: the server's term when it took it as committed.
   */
  committedEntry(id: NodeId, e: Entry, term: number): void {
    const canon = this.committed.get(e.index);
    const hash = fingerprint(e);
    if (canon === undefined) {
      this.committed.set(e.index, { term: e.term, hash, termMax: term });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    } else if (canon.term !== e.term || canon.hash !== hash) {
      throw new InvariantViolation(
        "state machine safety",
        `n${id} committed term ${e.term} at index ${e.index}, another server committed term ${canon.term}`,
      );
    } else if (term < canon.termMax) this.committed.set(e.index, { ...canon, termMax: term });
  }

  /** Replicas at the same applied index hold the same state (`digest`: a fingerprint of it). */
  state(id: NodeId, index: number, digest: number): void {
    const seen = this.stateHash.get(index);
    if (seen === undefined) this.stateHash.set(index, digest);
    else if (seen !== digest) {
      throw new InvariantViolation(
        "replica state",
        `n${id} state at index ${index} differs from another replica`,
      );
    }
  }
}
