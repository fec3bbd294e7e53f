import { KvStore } from "../fsm/index.js";
import { decodeConfChange } from "../raft/confchange.js";
import { NONE, type NodeId } from "../raft/types.js";
import { encodeMemberContext, type ServerRecord } from "../server/members.js";
import { restoreOnLeader } from "../server/snapshots.js";
import { NotLeaderError, ProposalDroppedError } from "../util/errors.js";
import type { Rng } from "../util/rng.js";
import type { Coverage } from "./coverage.js";
import type { KvOutput, Operation } from "./linearizability.js";
import { encodeStateBin } from "./machine.js";
import type { SimOptions } from "./options.js";
import { LOCK_PREFIX, lockValue } from "./workload.js";
import type { ServerLife } from "./world.js";

/**
 * How far a restored archive's index is ahead of the leader's state store when the admin makes it: past every
 * index a write can take before the restore entry lands (a restore waits for a quorum to fetch its blob first),
 * so a cas by a ModifyIndex read before the restore never matches a restored key (as a real archive from a
 * busier cluster; the Applier moves the store's index past it).
 */
const RESTORE_INDEX_AHEAD = 1_000_000;

/** What the operator needs of the world: its servers, and a way to start a new one. */
export interface AdminHost {
  readonly opts: SimOptions;
  readonly coverage: Coverage;
  readonly nodes: ReadonlyMap<NodeId, ServerLife | null>;
  live(id: NodeId): ServerLife | undefined;
  leaderHint(): NodeId;
  /** Starts server `id` (a spare starts empty: it joins as the leader adds it). */
  startNode(id: NodeId): void;
  /** The identity server `id` runs under (its address rides in the conf entry that adds it). */
  recordOf(id: NodeId): ServerRecord;
  /** Puts a verified restore blob in server `id`'s store, durably, as an operator's file copied in. */
  putRestoreBlob(id: NodeId, handle: string, bytes: Uint8Array): void;
  /** The clients' history, where a restore is recorded as a write of every key. */
  readonly history: Operation[];
  now(): number;
  trace(line: string): void;
}

/** A restore asked of a leader and not yet answered. */
interface PendingRestore {
  readonly handle: string;
  readonly call: number;
  readonly deadline: number;
  /** Every key's value after the restore (null: absent). */
  readonly values: ReadonlyMap<string, string | null>;
}

/** A transfer asked of a leader: it worked if `to` leads a later term. */
interface PendingTransfer {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/**
 * The simulator's operator, acting only through what the shipped server offers its operator
 * endpoints (api/operator.ts, server/boot.ts): a join adds a spare as a learner (proposeConfChange with its
 * record as context, as handleJoin does) and the leader promotes it itself once caught up (RaftServer's tick);
 * remove-peer removes a voter (the leader included) or a learner; transfer-leader hands leadership to a chosen
 * voter (raw.transferLeadership, then kick) or, with no id, to the best one (transferIfLeader). One change at a
 * time: the core refuses a second while one is pending, as it refuses the operator's.
 */
export class Admin {
  private transfer: PendingTransfer | null = null;
  private restore: PendingRestore | null = null;
  private restores = 0;
  /** The highest index whose committed conf entries were counted. */
  private confCounted: number;

  constructor(
    private readonly world: AdminHost,
    private readonly rng: Rng,
  ) {
    // The bootstrap configuration (entries 1..voters) is no change.
    this.confCounted = world.opts.voters;
  }

  /** Once per step while faults run: maybe a membership change and a transfer, on the leader of the moment. */
  step(): void {
    this.countCommittedChanges();
    this.followTransfer();
    const o = this.world.opts;
    const leader = this.world.live(this.world.leaderHint());
    if (leader === undefined) return;
    this.expireRestore();
    const change = this.rng.chance(o.confChangeRate);
    const transfer = this.rng.chance(o.transferRate);
    const restore = this.restore === null && this.rng.chance(o.restoreRate);
    // The operator's request reaches a paused leader when it resumes, as a request on its HTTP connection.
    if (change) leader.life.run(() => this.changeMembership(leader), "admin");
    if (transfer) leader.life.run(() => this.transferLeadership(leader), "admin");
    if (restore) leader.life.run(() => this.startRestore(leader), "admin");
  }

  /** As a join or a remove-peer sent to the leader: one server added as a learner, or one member removed. */
  private changeMembership(leader: ServerLife): void {
    const raft = leader.raw.raft;
    // The operator endpoints refuse when this server no longer leads.
    if (raft.role !== "leader") return;
    const o = this.world.opts;
    const all = Array.from({ length: o.voters + o.spares }, (_, i) => i + 1);
    const outside = all.filter((id) => !raft.voters.includes(id) && !raft.learners.includes(id));
    const choices: { readonly what: "join" | "remove"; readonly node: NodeId }[] = [];
    if (outside.length > 0) choices.push({ what: "join", node: outside[this.rng.int(0, outside.length)]! });
    // Never below three voters, so the faults (one server down, a partition) still leave a quorum.
    if (raft.voters.length > 3)
      choices.push({ what: "remove", node: raft.voters[this.rng.int(0, raft.voters.length)]! });
    if (raft.learners.length > 0)
      choices.push({ what: "remove", node: raft.learners[this.rng.int(0, raft.learners.length)]! });
    const c = choices[this.rng.int(0, Math.max(1, choices.length))];
    if (c === undefined) return;
    const cc =
      c.what === "join"
        ? {
            type: "addLearner" as const,
            node: c.node,
            context: encodeMemberContext(this.world.recordOf(c.node)),
          }
        : { type: "remove" as const, node: c.node };
    try {
      leader.server.proposeConfChange(cc);
    } catch {
      // Refused by the core (a change or restore still pending): the operator sees an error and moves on.
      return;
    }
    this.world.trace(`admin: ${c.what} n${c.node} at n${leader.id} (${cc.type})`);
    // The new server runs before it is added (an agent started with -join), empty: it learns everything from the log.
    if (c.what === "join") this.world.startNode(c.node);
  }

  /** As `operator raft transfer-leader`: to a voter chosen by id, or (no id) to the best caught-up voter. */
  private transferLeadership(leader: ServerLife): void {
    const raft = leader.raw.raft;
    if (raft.role !== "leader") return;
    const others = raft.voters.filter((v) => v !== leader.id);
    if (others.length === 0) return;
    if (this.rng.chance(0.5)) {
      const to = others[this.rng.int(0, others.length)]!;
      leader.raw.transferLeadership(to);
      leader.server.kick();
    } else {
      // With no wait: it returns once the transfer is under way, as the endpoint does.
      void leader.server.transferIfLeader(0);
    }
    const to = raft.leadTransferee;
    if (to === NONE) return;
    this.world.trace(`admin: transfer leadership n${leader.id} → n${to}`);
    this.transfer = { from: leader.id, to, term: raft.term };
  }

  /** A transfer worked once its target leads a later term; another leader of a later term ends it unmet. */
  private followTransfer(): void {
    const t = this.transfer;
    if (t === null) return;
    const leader = this.world.live(this.world.leaderHint());
    if (leader === undefined || leader.raw.raft.term <= t.term) return;
    this.transfer = null;
    if (leader.id !== t.to) return;
    this.world.coverage.leadershipTransfers++;
    this.world.trace(`admin: leadership moved n${t.from} → n${t.to} (term ${leader.raw.raft.term})`);
  }

  /**
   * Counts the membership changes committed since the last step (joins, the leader's promotions, removals),
   * read from the log of the server that has committed the most: committed entries are the same everywhere.
   */
  private countCommittedChanges(): void {
    let best: ServerLife | undefined;
    for (const n of this.world.nodes.values()) {
      if (n != null && (best === undefined || n.raw.raft.log.committed > best.raw.raft.log.committed))
        best = n;
    }
    if (best === undefined) return;
    const log = best.raw.raft.log;
    const from = Math.max(this.confCounted + 1, log.firstIndex());
    if (from > log.committed) return;
    for (const e of log.slice(from, log.committed + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.kind !== "conf") continue;
      const cc = decodeConfChange(e.data);
      this.world.coverage.membershipChanges++;
      this.world.trace(`admin: ${cc.type} n${cc.node} committed at index ${e.index}`);
    }
    this.confCounted = log.committed;
  }

  /**
   * As `consul snapshot restore` sent to the leader: an archive of a state the admin draws (each key a new value
   * or absent), its verified state.bin put in the leader's blob store, then the endpoint's leader half
   * (restoreOnLeader: a quorum fetches it, the restore is proposed and applied). Recorded as a write of every
   * key with one call and return; an answer that never comes is an outcome unknown at the deadline.
   */
  private startRestore(leader: ServerLife): void {
    const raft = leader.raw.raft;
    if (raft.role !== "leader" || this.restore !== null) return;
    const n = ++this.restores;
    const o = this.world.opts;
    const { values, pairs } = drawRestoredState(this.rng, n, o);
    const archiveIndex = raft.log.lastIndex() + leader.server.indexOffset + RESTORE_INDEX_AHEAD;
    const handle = `restore-sim-${n}`;
    this.world.putRestoreBlob(leader.id, handle, restoreStateBin(pairs, archiveIndex));
    const now = this.world.now();
    const r: PendingRestore = { handle, call: now, deadline: now + o.clientTimeoutUs, values };
    this.restore = r;
    this.world.trace(`admin: restore ${handle} at n${leader.id}`);
    restoreOnLeader(leader.server, { handle, archiveIndex }, []).then(
      () => this.answered(r),
      (e: unknown) => this.failed(r, e),
    );
  }

  private answered(r: PendingRestore): void {
    this.world.coverage.restoresApplied++;
    this.world.trace(`admin: restore ${r.handle} applied`);
    if (this.restore !== r) return;
    this.restore = null;
    this.record(r, this.world.now(), { kind: "ok" });
  }

  private failed(r: PendingRestore, e: unknown): void {
    this.world.trace(`admin: restore ${r.handle} failed: ${e instanceof Error ? e.message : String(e)}`);
    // Overwritten by a new leader's entry, or refused before it was proposed (another change pending, a
    // transfer under way, no longer the leader): it never applies. Anything else (a timeout, the server
    // stopping) may yet apply: the deadline records it as unknown.
    if (!(e instanceof ProposalDroppedError || e instanceof NotLeaderError)) return;
    if (this.restore === r) this.restore = null;
  }

  private record(r: PendingRestore, ret: number, output: KvOutput | null): void {
    for (const [key, v] of r.values) {
      const input = v === null ? { kind: "delete" as const, key } : { kind: "put" as const, key, value: v };
      this.world.history.push({ clientId: 0, input, call: r.call, ret, output });
    }
  }

  /** A restore unanswered by its deadline: recorded as of unknown outcome (it may have applied, or may yet). */
  private expireRestore(): void {
    const r = this.restore;
    if (r === null || this.world.now() < r.deadline) return;
    this.restore = null;
    this.record(r, Number.POSITIVE_INFINITY, null);
  }

  /** Records any restore still unanswered as of unknown outcome (the end of a run, before the check). */
  finish(): void {
    const r = this.restore;
    if (r === null) return;
    this.restore = null;
    this.record(r, Number.POSITIVE_INFINITY, null);
  }
}

/**
 * The state restore `n` brings: each key (lock keys included) a value of its own or absent, as `values` (what
 * the history records) and `pairs` (what the archive holds).
 */
export function drawRestoredState(
  rng: Rng,
  n: number,
  o: Pick<SimOptions, "keys" | "lockKeys">,
): { values: Map<string, string | null>; pairs: [string, string][] } {
  const keys = [
    ...Array.from({ length: o.keys }, (_, k) => `k${k}`),
    ...Array.from({ length: o.lockKeys }, (_, k) => `${LOCK_PREFIX}${k}`),
  ];
  const values = new Map<string, string | null>();
  const pairs: [string, string][] = [];
  for (const key of keys) {
    const v = rng.chance(0.7) ? `r${n}-${key}` : null;
    // A restored lock key has no holder: the archive holds no sessions.
    values.set(key, v === null || !key.startsWith(LOCK_PREFIX) ? v : lockValue(v, ""));
    if (v !== null) pairs.push([key, v]);
  }
  return { values, pairs };
}

/** A Consul state.bin whose KV table holds `pairs`, all written at store index `index`, and nothing else. */
export function restoreStateBin(pairs: readonly [string, string][], index: number): Uint8Array {
  const store = new KvStore();
  if (pairs.length > 0) {
    const enc = new TextEncoder();
    const ops = pairs.map(([key, v]) => ({
      verb: "set" as const,
      key,
      value: enc.encode(v),
      flags: 0n,
      index: 0n,
      session: "",
    }));
    store.execute(index, { op: "txn", ops, time: 0 });
  }
  return encodeStateBin(store.snapshot());
}
