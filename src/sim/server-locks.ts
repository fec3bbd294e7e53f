/**
 * Sessions and locks in the simulator: the service's own TTL timers on each server
 * life, the leader's write path with the simulator-only broken leaders, and the lock checker (locks.ts, the one
 * implementation of its rules) fed from every replica's store as it applies.
 *
 * The driver does not expose the state before each apply, but the state store is the world's: each server life
 * gets an ObservedStore, the real KvStore whose execute() also reports what it did (the view before a lock
 * command, the command, the result) to the checker, changing nothing of what it does.
 */
import { SessionTimers } from "../api/sessions.js";
import {
  type CommandResult,
  decodeCommand,
  encodeCommand,
  InvalidSessionError,
  type KvCommand,
  KvStore,
  type LeaderWrite,
  type LockDelayState,
  leaderWrite,
  type RestoreItem,
  type SessionView,
} from "../fsm/index.js";
import type { Entry } from "../raft/types.js";
import type { ProposalResult } from "../server/proposals.js";
import type { RaftServer } from "../server/raft-server.js";
import type { Clock, Timer } from "../util/clock.js";
import { CairnError, UnavailableError } from "../util/errors.js";
import { InvariantViolation } from "./checker.js";
import type { Operation } from "./linearizability.js";
import { type Applied, delayedAtApply, LockChecker, type ProposalAt, touchesLocks } from "./locks.js";
import type { ProposerBugs } from "./options.js";
import type { Answer } from "./workload.js";

/** What the lock checker's world provides. */
export interface LocksHost {
  readonly history: Operation[];
  now(): number;
  trace(line: string): void;
}

/** A command as the map keys it: its encoded bytes (an entry's data is exactly what was proposed). */
function bytesKey(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1");
}

/** The real state store, reporting each command it applies; it changes nothing of what the store does. */
class ObservedStore extends KvStore {
  /** The acquires this replica refused for lock-delay at apply, by bytes, until their proposer's answer reads them. */
  readonly refusedAtApply = new Set<string>();

  /**
   * A user restore was installed and the checker has not heard of it yet: it hears at the next command, as the
   * entry just before it (see replaceAsync).
   */
  private restoredUnreported = false;

  /** `dropLockDelays`: the broken variant drop-lock-delays (see replaceAsync). */
  constructor(
    private readonly onApplied: (store: ObservedStore, e: Entry, a: Applied | null) => void,
    private readonly dropLockDelays: boolean,
  ) {
    super();
  }

  /**
   * How the driver installs a snapshot (at a restart and from the leader) and a user restore. The broken variant
   * drop-lock-delays installs snapshots without the lock-delay state they carry beside state.bin, as servers
   * did when lock-delays lived in memory only: the store keeps its clock and starts with no delays, as after a
   * user restore (which carries none either way). Nothing of the shipped driver changes for it.
   *
   * A user restore (the Applier's: the one install without lock-delay state, as every snapshot this driver
   * writes carries its own) ends every session and lock-delay, and the lock checker must hear of it at its
   * place among the commands. The store cannot tell the restore's index (the Applier moves its offset after
   * the swap), so the checker hears of it just before the next command, at that command's index less one: the
   * same on every replica, after every command before the restore and before every one after it.
   */
  override async replaceAsync(
    items: AsyncIterable<RestoreItem | readonly RestoreItem[]>,
    afterSwap?: () => void,
    lock?: LockDelayState,
  ): Promise<void> {
    await super.replaceAsync(items, afterSwap, this.dropLockDelays ? undefined : lock);
    if (lock === undefined) this.restoredUnreported = true;
  }

  override execute(index: number, command: Uint8Array | KvCommand, sessions?: SessionView): CommandResult {
    const cmd = command instanceof Uint8Array ? decodeCommand(command) : command;
    if (this.restoredUnreported) {
      this.restoredUnreported = false;
      this.onApplied(this, { index: index - 1, term: 0, kind: "restore", data: new Uint8Array(0) }, null);
    }
    // An O(1) copy-on-write view, taken only for the commands the checker compares before and after.
    const before = touchesLocks(cmd) ? this.snapshot() : null;
    const result = super.execute(index, cmd, sessions);
    const applied: Applied = { cmd, result, before };
    if (delayedAtApply(applied)) this.refusedAtApply.add(bytesKey(encodeCommand(cmd)));
    // The store's index (the raft index plus the Applier's offset, which only a user restore moves) orders the
    // applies as the raft index does, the same on every replica. The entry's bytes are encoded again only when asked for: the checker reads them to find a timed command's
    // proposal, once per index.
    const entry: Entry = {
      index,
      term: 0,
      kind: "normal",
      get data() {
        return encodeCommand(cmd);
      },
    };
    this.onApplied(this, entry, applied);
    return result;
  }
}

/**
 * The server's Clock with its timers at the rate of its wall clock: sessions' TTLs are wall-clock durations
 * drawn as Consul's (10 s and more), and the simulator's wall clocks run `scale` times faster than virtual time
 * (options.ts clockScale), as lock-delays do. Timers stay events of the server's life (paused, dropped at a crash).
 */
class WallRateClock implements Clock {
  constructor(
    private readonly clock: Clock,
    private readonly scale: number,
  ) {}

  now(): number {
    return this.clock.now();
  }

  monotonicMs(): number {
    return this.clock.monotonicMs() * this.scale;
  }

  setTimeout(fn: () => void, ms: number, background?: boolean): Timer {
    return this.clock.setTimeout(fn, ms / this.scale, background);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.clock.setInterval(fn, ms / this.scale);
  }

  defer(fn: () => void): void {
    this.clock.defer(fn);
  }

  sleep(ms: number): Promise<void> {
    return this.clock.sleep(ms / this.scale);
  }
}

/** A leader's write, judged: the answer it gives without proposing, or the command to propose and its bytes. */
export type JudgedWrite =
  | Extract<LeaderWrite, { refused: unknown }>
  | { readonly propose: KvCommand; readonly data: Uint8Array };

/** Sessions and locks of one run. */
export class ServerLocks {
  readonly checker: LockChecker;
  /** Every proposal by its bytes: the proposer's clock and the virtual time, for the checker's FSM time. */
  private readonly proposals = new Map<string, ProposalAt>();
  private readonly timers = new Map<RaftServer, SessionTimers>();

  constructor(
    private readonly host: LocksHost,
    private readonly bugs: ProposerBugs,
    private readonly clockScale: number,
  ) {
    this.checker = new LockChecker(host.history, (e) => this.proposals.get(bytesKey(e.data)));
  }

  /** The first violation the checker found, thrown by the world after the event (see rethrow). */
  private violation: InvariantViolation | null = null;

  /**
   * A fresh state store for a server life, reporting its applies to the checker. A violation is kept for the
   * world to throw after the event: thrown inside the store, the driver would take it for its own failure.
   */
  store(): KvStore {
    return new ObservedStore((store, e, a) => {
      if (this.violation !== null) return;
      try {
        this.checker.onApplied(store, e, a, this.host.now());
      } catch (err) {
        if (!(err instanceof InvariantViolation)) throw err;
        this.violation = err;
      }
    }, this.bugs.dropLockDelays === true);
  }

  /** Throws the violation the checker found during the last event, if any. */
  rethrow(): void {
    if (this.violation !== null) throw this.violation;
  }

  /**
   * The service's session TTL timers for a server life (as ServerService builds them), following its
   * leadership; an expired session's invalidation goes through `write`, the clients' write path.
   */
  attach(server: RaftServer, write: (cmd: KvCommand) => Promise<Answer | null>): void {
    const timers = new SessionTimers(
      {
        sessions: () => [...server.kv.sessions.entries()].map(([, s]) => s),
        watch: (wake) => server.kv.watchSessions(wake),
        invalidate: async (id) => {
          const a = await write({ op: "session-invalidate", id, time: 0 });
          if (a === null || typeof a === "string" || a.kind !== "result") {
            throw new UnavailableError(
              `session-invalidate ${id}: ${a === null ? "unknown" : JSON.stringify(a)}`,
            );
          }
        },
        log: (level, msg) => this.host.trace(`n${server.self.raftId} ${level} ${msg}`),
      },
      new WallRateClock(server.clock, this.clockScale),
    );
    this.timers.set(server, timers);
    server.leadershipListeners.add((leader) => timers.leadershipChanged(leader));
  }

  /** The leader's rules (fsm/leader-write.ts, with the run's broken leader if any), as the service's writeHere. */
  judge(server: RaftServer, cmd: KvCommand): JudgedWrite {
    const now = server.clock.now();
    const w = leaderWrite(server.kv, cmd, now, this.bugs);
    if ("refused" in w) {
      if (cmd.op === "acquire") this.checker.stats.delayed++;
      return w;
    }
    const data = encodeCommand(w.propose);
    this.proposals.set(bytesKey(data), { node: server.self.raftId, timeMs: now, atUs: this.host.now() });
    return { propose: w.propose, data };
  }

  /**
   * The client's answer to a write `server` committed: a renew restarts the session's TTL period (as writeHere),
   * and an acquire refused for lock-delay at apply is left out of the history as the leader's own refusal.
   * A command the store refused when it applied (every replica alike) changed nothing: "rejected", as a refusal
   * before it; but a lock op's invalid session is the client's answer (it learns its session is gone).
   */
  answer(
    server: RaftServer,
    w: { readonly propose: KvCommand; readonly data: Uint8Array },
    r: ProposalResult,
  ): Answer {
    if (r instanceof CairnError && !(r instanceof InvalidSessionError)) return "rejected";
    const data = w.data;
    if (w.propose.op === "session-renew" && r !== null && typeof r === "object" && "ID" in r) {
      this.timers.get(server)?.renew(r);
    }
    const refused = (server.kv as ObservedStore).refusedAtApply;
    if (r === false && refused.delete(bytesKey(data))) return { kind: "delayed" };
    return { kind: "result", result: r };
  }
}
