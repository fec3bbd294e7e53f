import type { Entry, HardState } from "../raft/types.js";
import {
  type LogBoundary,
  type LogStore,
  MemoryStableStore,
  MemoryWal,
  type StableStore,
} from "../storage/index.js";
import { assert } from "../util/assert.js";
import type { Clock } from "../util/clock.js";
import type { Rng } from "../util/rng.js";
import type { Life } from "./sim-clock.js";

/** How long one fsync takes, in ms of the server's clock (drawn per sync from the seed). */
export type FsyncDelay = () => number;

/**
 * One server's simulated disk: what is durable (`log`, `stable`) survives a crash; what a
 * process appended and has not yet synced lives only in its SimWal, and a crash loses it, or (torn) keeps a
 * prefix of it. The durable parts are the in-memory twins from storage/, so they refuse what the disk would.
 */
export class SimDurableDisk {
  readonly log = new MemoryWal();
  readonly stable = new MemoryStableStore();
  /** The open WAL of the running process, or null while it is down. */
  private open: SimWal | null = null;
  /** Told of each batch once it is on the durable log (the simulator's log matching check, world-checks.ts). */
  onDurable: ((entries: readonly Entry[]) => void) | null = null;

  /** Opens the disk for a new process: its WAL starts as exactly the durable log. */
  async openWal(life: Life, clock: Clock, fsyncMs: FsyncDelay): Promise<SimWal> {
    assert(this.open === null, "a disk is opened by one process at a time");
    const view = new MemoryWal();
    const b = this.log.boundary();
    if (b.index > 0) await view.resetToSnapshot(b.index, b.term);
    if (this.log.lastIndex() > b.index)
      await view.append(await this.log.entries(b.index + 1, this.log.lastIndex() + 1));
    const wal = new SimWal(this, view, life, clock, fsyncMs);
    this.open = wal;
    return wal;
  }

  openStable(life: Life, clock: Clock, fsyncMs: FsyncDelay): SimStable {
    return new SimStable(this.stable, life, clock, fsyncMs);
  }

  /**
   * The process died. Its unsynced appends are lost, or with `tornWriteRate` a prefix of their entries reached
   * the platter (a WAL appends in order, so a torn write keeps a prefix, never a hole).
   */
  crash(rng: Rng, tornWriteRate: number): void {
    const wal = this.open;
    this.open = null;
    if (wal === null) return;
    const unsynced = wal.takeUnsynced();
    const total = unsynced.reduce((n, a) => n + a.length, 0);
    if (total === 0 || !rng.chance(tornWriteRate)) return;
    let keep = rng.int(0, total + 1);
    for (const batch of unsynced) {
      if (keep === 0) break;
      const part = batch.slice(0, keep);
      this.persist(part);
      keep -= part.length;
    }
  }

  /** Makes appended entries durable (in append order, as the process made them). */
  persist(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    // The MemoryWal's append is synchronous work behind an async signature; its checks throw at once.
    void this.log.append(entries);
    this.onDurable?.(entries);
  }
}

/**
 * A process's view of its WAL (LogStore): appends are readable at once and durable after sync(), which takes
 * an fsync's time on the server's clock. A crashed process's WAL is dead: nothing it does reaches the disk.
 */
export class SimWal implements LogStore {
  /** Appends since the last sync, in order, each a batch as appended. */
  private unsynced: Entry[][] = [];

  constructor(
    private readonly disk: SimDurableDisk,
    private readonly view: MemoryWal,
    private readonly life: Life,
    private readonly clock: Clock,
    private readonly fsyncMs: FsyncDelay,
  ) {}

  firstIndex(): number {
    return this.view.firstIndex();
  }

  lastIndex(): number {
    return this.view.lastIndex();
  }

  boundary(): LogBoundary {
    return this.view.boundary();
  }

  term(index: number): number {
    return this.view.term(index);
  }

  entries(lo: number, hi: number, bytesMax?: number): Promise<Entry[]> {
    return this.view.entries(lo, hi, bytesMax);
  }

  async append(entries: readonly Entry[]): Promise<void> {
    await this.view.append(entries);
    if (entries.length > 0) this.unsynced.push([...entries]);
  }

  async sync(): Promise<void> {
    // Mutations are not re-entrant (the contract), so nothing is appended while this sync waits; a crash
    // meanwhile finds the batches still unsynced (crash() may keep a torn prefix).
    const n = this.unsynced.length;
    await this.clock.sleep(this.fsyncMs());
    if (!this.life.alive) return;
    for (const b of this.unsynced.splice(0, n)) this.disk.persist(b);
  }

  async compact(index: number): Promise<void> {
    await this.view.compact(index);
    // Durable at once (the contract); only what the disk already holds can be compacted there.
    const log = this.disk.log;
    if (this.life.alive) await log.compact(Math.min(index, log.lastIndex()));
  }

  async resetToSnapshot(index: number, term: number): Promise<void> {
    await this.view.resetToSnapshot(index, term);
    this.unsynced = [];
    const log = this.disk.log;
    if (this.life.alive && index > log.boundary().index) await log.resetToSnapshot(index, term);
  }

  async close(): Promise<void> {
    await this.sync();
  }

  /** The crash takes what was never synced, a sync under way when the process died included. */
  takeUnsynced(): Entry[][] {
    const u = this.unsynced;
    this.unsynced = [];
    return u;
  }
}

/**
 * A process's stable store: term, vote and commit, written atomically (a crash keeps the old state or the new,
 * never a mix), durable once save() resolves after an fsync's time.
 */
export class SimStable implements StableStore {
  constructor(
    private readonly durable: MemoryStableStore,
    private readonly life: Life,
    private readonly clock: Clock,
    private readonly fsyncMs: FsyncDelay,
  ) {}

  get hardState(): HardState {
    return this.durable.hardState;
  }

  async save(state: HardState): Promise<void> {
    await this.clock.sleep(this.fsyncMs());
    if (this.life.alive) await this.durable.save(state);
  }

  async close(): Promise<void> {}
}
