import { encodeCommand, type KvCommand } from "../fsm/index.js";
import type { RawNode } from "../raft/node.js";
import { NONE, type NodeId } from "../raft/types.js";
import { BlobStore } from "../server/blobs.js";
import type { ServerRecord } from "../server/members.js";
import { createMetrics } from "../server/metrics.js";
import { RaftServer } from "../server/raft-server.js";
import { CairnError, ProposalDroppedError, UnavailableError } from "../util/errors.js";
import type { Rng } from "../util/rng.js";
import { SeededRng } from "../util/rng.js";
import { Admin, type AdminHost } from "./admin.js";
import { InvariantViolation } from "./checker.js";
import { type Coverage, countElection, noCoverage } from "./coverage.js";
import { type FaultHost, Faults } from "./faults.js";
import type { Operation } from "./linearizability.js";
import type { SimOptions } from "./options.js";
import { EventQueue } from "./queue.js";
import { ServerLocks } from "./server-locks.js";
import { Settler } from "./settle.js";
import { BlobWork, simBlobDisk } from "./sim-blobs.js";
import { Life, type Scheduler, SimClock } from "./sim-clock.js";
import { type NetworkHost, SimNetwork } from "./sim-network.js";
import { SimDurableDisk } from "./sim-storage.js";
import { blobCoverage, countServerLog, putRestoreBlob, snapshotPolicy } from "./snapshots.js";
import { type Answer, Client, type ClientHost, type PendingOp } from "./workload.js";
import { WorldChecks } from "./world-checks.js";

const EVENTS_PER_STEP_MAX = 50_000;
/** An event of the queue; `void` says whether it would do nothing now (Scheduler.at). */
interface SimEvent {
  readonly run: () => void | Promise<void>;
  readonly void: (() => boolean) | undefined;
}

/** One life of a server: the shipped driver over the simulated disk, network and clock. */
export class ServerLife {
  constructor(
    readonly id: NodeId,
    readonly gen: number,
    readonly life: Life,
    readonly server: RaftServer,
  ) {}

  /** The commit index up to which this life's log was checked against the others' (checkCommitted). */
  checkedCommit = 0;
  /** The applied index after the last event (a leader may be crashed right after it applies: Figure 8). */
  appliedSeen = 0;

  get raw(): RawNode {
    return this.server.raw;
  }
}

/**
 * The simulator's world: every server is src/server's RaftServer,
 * unchanged, given a SimClock (its timers and deferred work are events in this world's queue), a SimTransport
 * (the faults' network) and a SimWal and SimStable (lost and torn unsynced writes on a crash). Clients talk
 * to a server as the service's write path does (leaderWrite, then proposeLocal; readBarrier, then a local
 * read). Between two events every microtask runs to its end, so a seed replays exactly.
 */
export class World implements FaultHost, ClientHost, NetworkHost, Scheduler, AdminHost {
  readonly opts: SimOptions;
  readonly rng: Rng;
  readonly sched: Scheduler = this;
  private time = 0;
  private readonly queue = new EventQueue<SimEvent>();
  readonly disks = new Map<NodeId, SimDurableDisk>();
  readonly nodes = new Map<NodeId, ServerLife | null>();
  /** liveNodes(), shared by its callers (who only read it), and running(); null after `nodes` changed. */
  private liveIds: NodeId[] | null = null;
  private liveList: ServerLife[] | null = null;
  private readonly gens = new Map<NodeId, number>();
  private readonly starting = new Set<NodeId>();
  readonly history: Operation[] = [];
  readonly clients: Client[] = [];
  readonly faults: Faults;
  readonly coverage: Coverage = noCoverage();
  private readonly network: SimNetwork;
  /** Raft's safety checks, from outside, after every event (world-checks.ts). */
  private readonly checks = new WorldChecks(this.disks);
  private readonly traceLines: string[] | null;
  private readonly opOwners = new Map<number, number>();
  private readonly records: ServerRecord[];
  private readonly ioRng: Rng;
  private readonly pauseRng: Rng;
  readonly admin: Admin;
  readonly locks: ServerLocks;
  /** The servers' archive encoding and decoding, run to its end after each event (sim-blobs.ts). */
  private readonly blobWork = new BlobWork();
  /** Lets every microtask an event started run to its end (and nothing else of ours: our timers are events). */
  private readonly settler = new Settler();
  messagesSent = 0;

  constructor(opts: SimOptions, trace: boolean) {
    this.opts = opts;
    this.rng = new SeededRng(opts.seed);
    this.traceLines = trace ? [] : null;
    this.faults = new Faults(this, this.rng.fork());
    this.ioRng = this.rng.fork();
    this.pauseRng = this.rng.fork();
    // A stream of its own, so a seed whose admin never acts runs as it did before the admin existed.
    this.admin = new Admin(this, new SeededRng(opts.seed ^ 0xad31));
    this.network = new SimNetwork(this);
    this.locks = new ServerLocks(this, opts.proposerBugs, opts.clockScale);
    this.records = Array.from({ length: opts.voters }, (_, i) => record(i + 1));
    for (const r of this.records) {
      this.disks.set(r.raftId, new SimDurableDisk());
      this.nodes.set(r.raftId, null);
      this.nodesChanged();
      this.startNode(r.raftId);
    }
    for (let c = 1; c <= opts.clients; c++) {
      this.clients.push(new Client(c, this.rng.fork(), opts.keys, opts.lockKeys, opts.clientTimeoutUs));
      this.scheduleClient(c, this.rng.int(0, 50_000));
    }
  }

  // ---- Scheduler ----

  nowUs(): number {
    return this.time;
  }

  at(atUs: number, fn: () => void | Promise<void>, void_?: () => boolean): void {
    this.queue.push(atUs, { run: fn, void: void_ });
  }

  now(): number {
    return this.time;
  }

  trace(line: string): void {
    this.traceLines?.push(`${(this.time / 1000).toFixed(3).padStart(10)}ms ${line}`);
  }

  traceText(): string {
    return (this.traceLines ?? []).join("\n");
  }

  // ---- servers ----

  /** Starts (or restarts) server `id` from its disk, as an event now (opening the driver awaits its start). */
  startNode(id: NodeId): void {
    if (this.nodes.get(id) != null || this.starting.has(id)) return;
    this.starting.add(id);
    this.at(this.time, () => this.boot(id));
  }

  private async boot(id: NodeId): Promise<void> {
    const gen = (this.gens.get(id) ?? 0) + 1;
    this.gens.set(id, gen);
    const life = new Life();
    const o = this.opts;
    // Each server's clock runs at its own rate (skew) and shows its own wall time.
    const spread = ((id * 7919) % 1000) / 1000;
    const shape = {
      rate: 1 + spread * 2 * o.tickSkew - o.tickSkew,
      wallScale: o.clockScale,
      wallOffsetMs: spread * o.clockOffsetMs,
    };
    const clock = new SimClock(this, life, shape, o.proposerBugs.clockStopsWhenPaused === true);
    const fsyncMs = () => this.ioRng.int(o.fsyncMinUs, o.fsyncMaxUs + 1) / 1000;
    let disk = this.disks.get(id);
    if (disk === undefined) {
      disk = new SimDurableDisk();
      this.disks.set(id, disk);
    }
    const fresh = disk.log.lastIndex() === 0 && disk.stable.hardState.term === 0;
    const transport = this.network.attach(id, life);
    const blobFiles = simBlobDisk(disk).open(
      life,
      clock,
      fsyncMs,
      this.blobWork,
      blobCoverage(this.coverage),
    );
    const blobs = new BlobStore(blobFiles, transport);
    const server = await RaftServer.start({
      self: record(id),
      wal: await disk.openWal(life, clock, fsyncMs),
      stable: disk.openStable(life, clock, fsyncMs),
      kv: this.locks.store(),
      transport,
      clock,
      blobs,
      rng: this.rng.fork(),
      metrics: createMetrics(),
      log: (level, msg) => {
        if (level !== "debug") this.trace(`n${id} ${msg}`);
        countServerLog(this.coverage, msg);
      },
      tickMs: o.tickUs / 1000,
      electionTicks: o.electionTicks,
      heartbeatTicks: 1,
      holdTimeoutMs: o.clientTimeoutUs / 1000,
      ...snapshotPolicy(o),
      // The seed's tuning: one entry per append opens Figure 8's window.
      raftTuning: {
        appendBytesMax: o.appendBytesMax,
        inflightMsgsMax: o.inflightMsgsMax,
        preVote: o.preVote,
        checkQuorum: o.checkQuorum,
      },
      raftBugs: o.bugs,
    });
    this.starting.delete(id);
    this.locks.attach(server, (cmd) => write(server, cmd, this.locks));
    this.nodes.set(id, new ServerLife(id, gen, life, server));
    this.nodesChanged();
    this.trace(`n${id} starts (life ${gen}, term ${server.raw.raft.term})`);
    // A brand-new cluster: every first server writes the same configuration (identical entries 1..n of term 1),
    // so no server has to learn it before the first election. Not awaited: it persists on the simulated disk.
    // A spare (an id past the voters) starts empty and learns the cluster from the leader once added.
    if (fresh && gen === 1 && id <= this.records.length) void server.bootstrap(this.records);
  }

  crashNode(id: NodeId): void {
    const n = this.nodes.get(id);
    if (n == null) return;
    n.life.alive = false;
    this.nodes.set(id, null);
    this.nodesChanged();
    this.disks.get(id)!.crash(this.rng, this.opts.tornWriteRate);
    this.trace(`n${id} crashes`);
  }

  private nodesChanged(): void {
    this.liveIds = null;
    this.liveList = null;
  }

  recordOf(id: NodeId): ServerRecord {
    return record(id);
  }

  putRestoreBlob(id: NodeId, handle: string, bytes: Uint8Array): void {
    putRestoreBlob(this, id, handle, bytes);
  }

  live(id: NodeId): ServerLife | undefined {
    return this.nodes.get(id) ?? undefined;
  }

  /** The ids of the running servers, in the order of `nodes`; built again only after a start or crash. */
  liveNodes(): NodeId[] {
    if (this.liveIds === null) this.liveIds = this.running().map((n) => n.id);
    return this.liveIds;
  }

  /** The running servers, in the order of `nodes` (read after every event: built only after a change). */
  private running(): readonly ServerLife[] {
    if (this.liveList === null) {
      const list: ServerLife[] = [];
      for (const n of this.nodes.values()) if (n != null) list.push(n);
      this.liveList = list;
    }
    return this.liveList;
  }

  /** The live leader with the highest term, or NONE. */
  leaderHint(): NodeId {
    let best: ServerLife | undefined;
    for (const n of this.nodes.values()) {
      if (n == null || n.raw.raft.role !== "leader") continue;
      if (best === undefined || n.raw.raft.term > best.raw.raft.term) best = n;
    }
    return best?.id ?? NONE;
  }

  /**
   * Checked after every event: election safety (at most one leader per term) and leader completeness (a new
   * leader holds every entry committed before its term); log matching over the durable logs.
   */
  private checkLeaders(): void {
    this.checks.disksAfterEvent();
    for (const n of this.running()) {
      if (!this.checks.leader(n)) continue;
      this.trace(`n${n.id} leads term ${n.raw.raft.term}`);
      countElection(this.coverage, n);
    }
  }

  private afterEvent(n: ServerLife): void {
    this.checkCommitted(n);
    const applied = n.raw.raft.log.applied;
    if (applied === n.appliedSeen) return;
    n.appliedSeen = applied;
    if (this.faults.crashAfterApply(n)) this.crashNode(n.id);
  }

  /**
   * State machine safety, from the logs: an index commits one entry everywhere; and replicas at one applied
   * index hold the same state.
   */
  private checkCommitted(n: ServerLife): void {
    this.checks.server(n);
  }

  // ---- NetworkHost ----

  copies(from: NodeId, to: NodeId): number {
    return this.faults.copies(from, to);
  }

  blocked(from: NodeId, to: NodeId): boolean {
    return this.faults.blocked(from, to);
  }

  delayUs(): number {
    return this.rng.int(this.opts.delayMinUs, this.opts.delayMaxUs + 1);
  }

  sent(): void {
    this.messagesSent++;
  }

  // ---- ClientHost ----

  submit(node: NodeId, op: PendingOp): boolean {
    const n = this.live(node);
    if (n === undefined) return false;
    this.opOwners.set(op.opId, op.clientId);
    this.at(this.time + this.delayUs(), () => n.life.run(() => void this.serve(n, op), `c${op.clientId}`));
    return true;
  }

  scheduleClient(clientId: number, delayUs: number): void {
    this.at(this.time + delayUs, () => this.clients[clientId - 1]!.wake(this, this.history));
  }

  /** A client's request on server `n`, as the service serves it; the answer travels back unless `n` died. */
  private async serve(n: ServerLife, op: PendingOp): Promise<void> {
    const answer =
      op.command === null ? await read(n.server, op) : await write(n.server, op.command, this.locks);
    if (answer === null || !n.life.alive) return;
    const client = this.opOwners.get(op.opId);
    if (client === undefined) return;
    this.opOwners.delete(op.opId);
    this.at(this.time + this.delayUs(), () => {
      const c = this.clients[client - 1]!;
      if (answer === "rejected") c.rejected(this, op.opId);
      else c.complete(this, this.history, op.opId, answer);
    });
  }

  // ---- the run ----

  /** Runs events up to virtual time `until`, letting each event's microtasks finish before the next. */
  async runUntil(until: number): Promise<void> {
    let budget = EVENTS_PER_STEP_MAX;
    for (;;) {
      const t = this.queue.peekTime();
      if (t === undefined || t > until) break;
      if (--budget < 0) {
        throw new InvariantViolation(
          "bounded work",
          `over ${EVENTS_PER_STEP_MAX} events in one step (a livelock)`,
        );
      }
      const ev = this.queue.pop()!;
      this.time = ev.time;
      // Nothing runs: everything is settled since the last event, so the checks would see what they saw.
      if (ev.item.void?.() === true) continue;
      const started = ev.item.run();
      // A server's start (loading its snapshot) is awaited, so no other event sees it half-done.
      if (started !== undefined) await started;
      await this.settler.settle(started !== undefined);
      if (this.blobWork.busy) await this.blobWork.drain(this.settleBusy);
      this.checkAfterEvent();
    }
    this.time = until;
  }

  /** Settles while the world waits for blob work (Settler.settle's `busy`). */
  private readonly settleBusy = (): Promise<void> => this.settler.settle(true);

  /** Everything checked after an event, once it and its microtasks and blob work are done. */
  private checkAfterEvent(): void {
    this.checkLeaders();
    this.locks.rethrow();
    // A crash after an apply (Faults.crashAfterApply) changes `nodes`: the list of this event stays as it was.
    for (const n of this.running()) this.afterEvent(n);
    const failed = this.failedServer();
    if (failed !== null) throw new InvariantViolation("server failure", failed);
  }

  /** A server that stopped itself (a failed write, a broken invariant in the core): never expected here. */
  private failedServer(): string | null {
    for (const n of this.running()) {
      const e = n.server.failed;
      if (e != null) return `n${n.id}: ${e.message}`;
    }
    return null;
  }

  async step(stepIndex: number, faultsOn: boolean): Promise<void> {
    if (faultsOn) {
      this.faults.step();
      this.pauseSome();
      this.admin.step();
    }
    await this.runUntil((stepIndex + 1) * this.opts.stepUs);
  }

  /**
   * SIGSTOP now and then, SIGCONT after 150 ms to pauseMaxUs (Life says what a pause holds). Mostly the leader,
   * as Jepsen pauses it: a leader that wakes up late is what a lease must survive.
   */
  private pauseSome(): void {
    const o = this.opts;
    if (o.pauseRate === 0 || !this.pauseRng.chance(o.pauseRate)) return;
    const leader = this.live(this.leaderHint());
    const live = this.liveNodes();
    if (live.length === 0) return;
    const n =
      leader !== undefined && this.pauseRng.chance(0.7)
        ? leader
        : this.live(live[this.pauseRng.int(0, live.length)] ?? NONE);
    if (n === undefined || n.life.paused) return;
    const forUs = this.pauseRng.int(150_000, Math.max(150_000, o.pauseMaxUs) + 1);
    n.life.pause(this);
    this.coverage.pauses++;
    const leading = n.raw.raft.role === "leader";
    this.trace(`n${n.id}${leading ? " (leader)" : ""} paused for ${(forUs / 1000).toFixed(0)} ms`);
    // Jepsen's pause with a partition: a leader that wakes to a network that moved on hears of no new leader,
    // so only its own clock can tell it that its lease is over.
    if (leading && this.pauseRng.chance(0.5)) this.faults.isolate(n.id);
    this.at(this.time + forUs, () => this.resume(n));
  }

  private resume(n: ServerLife): void {
    if (!n.life.alive || !n.life.paused) return;
    this.trace(`n${n.id} resumes`);
    n.life.resume(this, this.pauseRng);
  }

  /** The liveness phase: every fault ends, paused servers resume. */
  healAll(): void {
    this.faults.healAll();
    for (const n of this.nodes.values()) if (n != null) this.resume(n);
  }

  /** Proposes a write on the leader for the liveness check; its outcome is read back from every voter. */
  proposeLive(leader: ServerLife, token: string): void {
    const cmd: KvCommand = { op: "set", key: "__live", value: new TextEncoder().encode(token), flags: 0n };
    try {
      leader.server.proposeLocal(encodeCommand(cmd)).catch(() => {});
    } catch {
      // Refused at once (a leadership transfer under way): the liveness loop proposes again later.
    }
  }
}

function record(id: NodeId): ServerRecord {
  return {
    raftId: id,
    nodeId: `00000000-0000-4000-8000-${String(id).padStart(12, "0")}`,
    name: `n${id}`,
    addr: `sim-n${id}:8300`,
  };
}

/** A read as the service's consistent read: a ReadIndex barrier (half of them leased), then the local store. */
async function read(server: RaftServer, op: PendingOp): Promise<Answer | null> {
  const key = "key" in op.input ? op.input.key : "";
  try {
    // Half the reads ask for the lease; without check-quorum the core answers them with a quorum round.
    await server.readBarrier(op.opId % 2 === 0);
  } catch (e) {
    if (e instanceof CairnError) return "rejected";
    throw e;
  }
  return { kind: "read", entry: server.kv.get(key).entry };
}

/** A write as the service's writeHere: the leader's rules, then a proposal; null when the outcome is unknown. */
async function write(server: RaftServer, cmd: KvCommand, locks: ServerLocks): Promise<Answer | null> {
  if (server.raw.raft.role !== "leader") return "rejected";
  const w = locks.judge(server, cmd);
  if ("refused" in w) return { kind: "delayed" };
  try {
    return locks.answer(server, w, await server.proposeLocal(w.data));
  } catch (e) {
    // Overwritten by a new leader's entry: never applied.
    if (e instanceof ProposalDroppedError) return "lost";
    // Timed out or the server stopped: it may yet apply.
    if (e instanceof UnavailableError) return null;
    // Refused before it was proposed (not the leader, backpressure).
    if (e instanceof CairnError) return "rejected";
    throw e;
  }
}
