import type { KvEntry } from "../fsm/index.js";
import type { Entry, Message, NodeId, Ready } from "../raft/types.js";
import { NONE } from "../raft/types.js";
import type { Rng } from "../util/rng.js";
import { SeededRng } from "../util/rng.js";
import { Admin } from "./admin.js";
import { Checker, InvariantViolation } from "./checker.js";
import { type Coverage, countElection, noCoverage } from "./coverage.js";
import { SimDisk } from "./disk.js";
import { Faults } from "./faults.js";
import type { Operation } from "./linearizability.js";
import { LockChecker } from "./locks.js";
import { type Applied, type NodeHost, type Proposal, SimNode, type WriteAnswer } from "./node.js";
import type { SimOptions } from "./options.js";
import { EventQueue } from "./queue.js";
import { type Answer, Client, type ClientHost, type PendingOp } from "./workload.js";

const EVENTS_PER_STEP_MAX = 50_000;
/** The servers' wall clocks start here (2026-01-01T00:00:00Z), so command times look like real ones. */
const WALL_EPOCH_MS = 1_767_225_600_000;

type SimEvent =
  | { readonly kind: "tick"; readonly node: NodeId; readonly gen: number }
  | { readonly kind: "deliver"; readonly m: Message; readonly data: Uint8Array | null }
  | { readonly kind: "fsync"; readonly node: NodeId; readonly gen: number }
  | { readonly kind: "crash"; readonly node: NodeId; readonly gen: number }
  | { readonly kind: "client"; readonly client: number }
  | { readonly kind: "request"; readonly node: NodeId; readonly gen: number; readonly op: PendingOp }
  | {
      readonly kind: "answer";
      readonly client: number;
      readonly opId: number;
      readonly output: Answer;
    }
  | {
      readonly kind: "snapReport";
      readonly from: NodeId;
      readonly gen: number;
      readonly to: NodeId;
      readonly ok: boolean;
    };

/**
 * One simulated cluster, driven entirely by one seed: virtual time in microseconds, an event queue, servers
 * with simulated disks, a network that drops, delays, duplicates and partitions, clients, and an admin that
 * changes membership, transfers leadership and restores snapshots. Nothing here reads a clock or Math.random,
 * so a seed replays exactly.
 */
export class World implements NodeHost, ClientHost {
  readonly opts: SimOptions;
  readonly rng: Rng;
  private time = 0;
  private readonly queue = new EventQueue<SimEvent>();
  readonly disks = new Map<NodeId, SimDisk>();
  readonly nodes = new Map<NodeId, SimNode | null>();
  private readonly gens = new Map<NodeId, number>();
  readonly checker = new Checker();
  readonly history: Operation[] = [];
  readonly clients: Client[] = [];
  readonly faults: Faults;
  readonly admin: Admin;
  readonly blobs = new Map<string, Uint8Array>();
  readonly locks: LockChecker;
  readonly coverage: Coverage = noCoverage();
  private readonly traceLines: string[] | null;
  private readonly opOwners = new Map<number, number>();
  messagesSent = 0;

  constructor(opts: SimOptions, trace: boolean) {
    this.opts = opts;
    this.rng = new SeededRng(opts.seed);
    this.traceLines = trace ? [] : null;
    this.locks = new LockChecker(this.history);
    this.faults = new Faults(this, this.rng.fork());
    this.admin = new Admin(this, this.rng.fork());
    const voters = Array.from({ length: opts.voters }, (_, i) => i + 1);
    for (const id of voters) {
      this.disks.set(id, new SimDisk({ voters, learners: [] }));
      this.startNode(id);
    }
    for (let c = 1; c <= opts.clients; c++) {
      this.clients.push(new Client(c, this.rng.fork(), opts.keys, opts.lockKeys, opts.clientTimeoutUs));
      this.scheduleClient(c, this.rng.int(0, 50_000));
    }
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

  /** Starts (or restarts) a server from its disk. A server with no disk starts empty (a new member). */
  startNode(id: NodeId): void {
    let disk = this.disks.get(id);
    if (disk === undefined) {
      disk = new SimDisk(null);
      this.disks.set(id, disk);
    }
    const gen = (this.gens.get(id) ?? 0) + 1;
    this.gens.set(id, gen);
    const node = new SimNode(id, gen, disk, this, this.opts, this.rng.fork());
    this.nodes.set(id, node);
    this.trace(
      `n${id} starts (life ${gen}, term ${node.raw.raft.term}, commit ${node.raw.raft.log.committed})`,
    );
    this.scheduleTick(id, gen);
  }

  crashNode(id: NodeId): void {
    if (this.nodes.get(id) == null) return;
    this.nodes.set(id, null);
    this.disks.get(id)!.crash(this.rng, this.opts.tornWriteRate);
    this.trace(`n${id} crashes`);
  }

  private scheduleTick(id: NodeId, gen: number): void {
    // Each server's clock runs at its own rate (skew), so ticks interleave differently on every seed.
    const skew = 1 + (((id * 7919) % 1000) / 1000) * 2 * this.opts.tickSkew - this.opts.tickSkew;
    this.queue.push(this.time + Math.round(this.opts.tickUs * skew), { kind: "tick", node: id, gen });
  }

  live(id: NodeId, gen?: number): SimNode | undefined {
    const n = this.nodes.get(id);
    if (n == null || (gen !== undefined && n.gen !== gen)) return undefined;
    return n;
  }

  liveNodes(): NodeId[] {
    return [...this.nodes.entries()].filter(([, n]) => n != null).map(([id]) => id);
  }

  /** The live leader with the highest term, or NONE. */
  leaderHint(): NodeId {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n == null || n.raw.raft.role !== "leader") continue;
      if (best === undefined || n.raw.raft.term > best.raw.raft.term) best = n;
    }
    return best?.id ?? NONE;
  }

  // ---- NodeHost ----

  /**
   * A server's wall clock: virtual time sped up by clockScale (sessions' TTLs are at least 10 s), plus a fixed
   * offset per server, so that leaders disagree on the time as real machines do.
   */
  wallMs(node: NodeId): number {
    const offset = (((node * 7919) % 1000) / 1000) * this.opts.clockOffsetMs;
    return WALL_EPOCH_MS + Math.floor((this.time * this.opts.clockScale) / 1000 + offset);
  }

  sendMessage(from: NodeId, m: Message, snapshotData: Uint8Array | null): void {
    this.messagesSent++;
    const copies = this.faults.copies(from, m.to);
    for (let i = 0; i < copies; i++) {
      const delay = this.rng.int(this.opts.delayMinUs, this.opts.delayMaxUs + 1);
      this.queue.push(this.time + delay, { kind: "deliver", m, data: snapshotData });
    }
    if (m.type === "snap") {
      const gen = this.gens.get(from) ?? 0;
      this.queue.push(this.time + this.opts.delayMaxUs, {
        kind: "snapReport",
        from,
        gen,
        to: m.to,
        ok: copies > 0,
      });
    }
  }

  scheduleFsync(node: NodeId, gen: number, delayUs: number): void {
    this.queue.push(this.time + delayUs, { kind: "fsync", node, gen });
  }

  writeDone(opId: number, answer: WriteAnswer): void {
    if (answer !== "lost" && answer.kind === "delayed") this.locks.stats.delayed++;
    this.answer(opId, answer);
  }

  readDone(opId: number, entry: KvEntry | null): void {
    this.answer(opId, { kind: "read", entry });
  }

  onProposed(_node: SimNode, index: number, term: number, p: Proposal): void {
    this.locks.onProposed(index, term, p, this.time);
  }

  private answer(opId: number, output: Answer): void {
    const client = this.opOwners.get(opId);
    if (client === undefined) return;
    this.opOwners.delete(opId);
    const delay = this.rng.int(this.opts.delayMinUs, this.opts.delayMaxUs + 1);
    this.queue.push(this.time + delay, { kind: "answer", client, opId, output });
  }

  onReady(node: SimNode, rd: Ready): void {
    if (rd.softState !== null) {
      this.trace(
        `n${node.id} is ${rd.softState.role} (term ${node.raw.raft.term}, leader n${rd.softState.leader})`,
      );
      if (rd.softState.role === "leader") countElection(this.coverage, node);
    }
    this.checker.onReady(node, rd);
  }

  onDurable(node: SimNode, entries: readonly Entry[]): void {
    this.checker.onDurable(node, entries);
  }

  onApplied(node: SimNode, entry: Entry, applied: Applied | null): void {
    this.checker.onApplied(node, entry);
    this.locks.onApplied(node.kv.kv, entry, applied, this.time);
    if (this.faults.crashAfterApply(node)) {
      this.queue.push(this.time, { kind: "crash", node: node.id, gen: node.gen });
    }
  }

  onSnapshotGone(): void {
    this.coverage.snapshotSendsCompacted++;
  }

  onSnapshotInstalled(node: SimNode, index: number): void {
    this.coverage.snapshotsInstalled++;
    this.trace(`n${node.id} installs a snapshot at ${index}`);
    this.checker.onSnapshotInstalled(node, index);
  }

  onSnapshotSaved(node: SimNode, index: number, data: Uint8Array): void {
    this.checker.onSnapshotSaved(node, index, data);
  }

  blob(handle: string): Uint8Array {
    const b = this.blobs.get(handle);
    if (b === undefined) throw new Error(`unknown restore blob ${handle}`);
    return b;
  }

  // ---- ClientHost ----

  submit(node: NodeId, op: PendingOp): boolean {
    const n = this.live(node);
    if (n === undefined) return false;
    this.opOwners.set(op.opId, op.clientId);
    const delay = this.rng.int(this.opts.delayMinUs, this.opts.delayMaxUs + 1);
    this.queue.push(this.time + delay, { kind: "request", node, gen: n.gen, op });
    return true;
  }

  scheduleClient(clientId: number, delayUs: number): void {
    this.queue.push(this.time + delayUs, { kind: "client", client: clientId });
  }

  private handleRequest(n: SimNode, op: PendingOp): void {
    const ok =
      op.command === null
        ? n.read(op.opId, "key" in op.input ? op.input.key : "")
        : n.propose(op.opId, op.command);
    if (!ok) this.answer(op.opId, "rejected");
  }

  // ---- the run ----

  private dispatch(ev: SimEvent): void {
    switch (ev.kind) {
      case "tick": {
        const n = this.live(ev.node, ev.gen);
        if (n === undefined) return;
        n.tick();
        this.scheduleTick(ev.node, ev.gen);
        return;
      }
      case "deliver":
        if (this.faults.blocked(ev.m.from, ev.m.to)) return;
        this.live(ev.m.to)?.receive(ev.m, ev.data);
        return;
      case "fsync":
        this.live(ev.node, ev.gen)?.fsyncDone();
        return;
      case "crash":
        if (this.live(ev.node, ev.gen) !== undefined) this.crashNode(ev.node);
        return;
      case "client":
        this.clients[ev.client - 1]!.wake(this, this.history);
        return;
      case "request": {
        const n = this.live(ev.node, ev.gen);
        if (n !== undefined) this.handleRequest(n, ev.op);
        return;
      }
      case "answer":
        this.deliverAnswer(ev.client, ev.opId, ev.output);
        return;
      case "snapReport":
        this.live(ev.from, ev.gen)?.raw.reportSnapshot(ev.to, ev.ok);
        this.live(ev.from, ev.gen)?.pump();
        return;
    }
  }

  private deliverAnswer(clientId: number, opId: number, output: Answer): void {
    if (clientId === 0) {
      this.admin.answer(opId, output);
      return;
    }
    const c = this.clients[clientId - 1]!;
    if (output === "rejected") c.rejected(this, opId);
    else c.complete(this, this.history, opId, output);
  }

  /** Registers an admin operation so its answer is routed back to the admin (client 0). */
  ownOp(opId: number): void {
    this.opOwners.set(opId, 0);
  }

  /** Runs events up to virtual time `until`. */
  runUntil(until: number): void {
    // Put a limit on everything: a step is 10 ms of virtual time, in which a healthy cluster handles a few
    // hundred events. Far more means a message storm (a livelock), which is a failure, not a slow run.
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
      this.dispatch(ev.item);
    }
    this.time = until;
  }

  /** One step: faults and admin actions at its start, then its events. */
  step(stepIndex: number, faultsOn: boolean): void {
    if (faultsOn) {
      this.faults.step();
      this.admin.step();
    }
    this.runUntil((stepIndex + 1) * this.opts.stepUs);
  }
}
