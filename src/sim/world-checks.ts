import type { NodeId } from "../raft/types.js";
import { InvariantViolation, SafetyRules } from "./checker.js";
import { stateDigest } from "./machine.js";
import type { SimDurableDisk } from "./sim-storage.js";
import type { ServerLife } from "./world.js";

/**
 * Raft's safety checks (checker.ts's SafetyRules) for the shipped driver, which the world sees only from
 * outside: after every event it reads each server's core (its log, commit and applied
 * index, its store) and each disk (its durable log, as batches reach it, and its hard state).
 */
export class WorldChecks {
  private readonly rules = new SafetyRules();
  private readonly watched = new Set<NodeId>();
  /** The watched disks in the order of `disks`, each with the durable commit index last judged. */
  private readonly watchedDisks: { id: NodeId; disk: SimDurableDisk; commit: number }[] = [];
  /**
   * A number per core: the driver builds its core again within a life when it drops a snapshot whose archive is
   * gone everywhere (raft-server.ts dropSnapshot), from the durable state as a restart would, so the commit index
   * it relearns starts again like a new life's.
   */
  private readonly cores = new WeakMap<object, number>();
  private coresMade = 0;
  /** A violation found while a disk persisted, inside a server's write: thrown after the event instead. */
  private found: InvariantViolation | null = null;

  constructor(private readonly disks: ReadonlyMap<NodeId, SimDurableDisk>) {}

  /** Election safety and leader completeness when `n` leads; true when this is a new (term, leader). */
  leader(n: ServerLife): boolean {
    const raft = n.raw.raft;
    return raft.role === "leader" && this.rules.leader(n.id, raft.term, raft.log);
  }

  /**
   * State machine safety over what `n` took as committed since the last event (its commit index never going
   * back in one core of a life), and, when its applied index moved, its store's fingerprint at that index.
   */
  server(n: ServerLife): void {
    const raft = n.raw.raft;
    const log = raft.log;
    // Most events change neither index of most servers: those cost two comparisons.
    if (log.committed !== n.checkedCommit) {
      let core = this.cores.get(n.raw);
      if (core === undefined) {
        core = ++this.coresMade;
        this.cores.set(n.raw, core);
      }
      this.rules.commit(`${n.id}/${n.gen}/${core}`, n.id, log.committed);
      // A broken core may take as committed entries it no longer holds (truncate-without-conflict): the rules
      // judge what it holds, and its next leader's log.
      const lo = Math.max(n.checkedCommit + 1, log.firstIndex());
      const hi = Math.min(log.committed, log.lastIndex());
      if (lo <= hi) {
        for (const e of log.slice(lo, hi + 1, Number.MAX_SAFE_INTEGER))
          this.rules.committedEntry(n.id, e, raft.term);
      }
      n.checkedCommit = Math.max(n.checkedCommit, log.committed);
    }
    if (log.applied !== n.appliedSeen)
      this.rules.state(n.id, log.applied, stateDigest(n.server.kv, log.applied));
  }

  /** Log matching as batches reach each disk, and its durable commit index never going back. */
  disksAfterEvent(): void {
    if (this.watched.size !== this.disks.size) this.watch();
    if (this.found !== null) throw this.found;
    // Most events save no hard state: a commit seen before was judged then.
    for (const w of this.watchedDisks) {
      const commit = w.disk.stable.hardState.commit;
      if (commit === w.commit) continue;
      this.rules.durableCommit(w.id, commit);
      w.commit = commit;
    }
  }

  private watch(): void {
    for (const [id, disk] of this.disks) {
      if (this.watched.has(id)) continue;
      this.watched.add(id);
      // -1: never judged yet (a disk's first commit, 0 included, is judged once like any other).
      this.watchedDisks.push({ id, disk, commit: -1 });
      disk.onDurable = (entries) => {
        try {
          this.rules.durable(id, entries, disk.log);
        } catch (e) {
          if (!(e instanceof InvariantViolation)) throw e;
          this.found ??= e;
        }
      };
    }
  }
}
