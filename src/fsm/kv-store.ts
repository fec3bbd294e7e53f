/**
 * KvStore: the replicated state for Consul KV. `apply(index, command)` is deterministic: it reads no clock
 * and no randomness, and its result depends only on the state, the command and the SessionView's answers,
 * so every replica that applies the same log reaches the same state and returns the same results.
 *
 * Semantics follow Consul's state store (agent/consul/state/kvs.go), including its corners:
 * - every write sets ModifyIndex to the raft index, except a write that changes nothing (same value, flags,
 *   session and LockIndex), which Consul skips: indexes stay, no watch fires, the result is still true;
 * - a plain set or cas keeps CreateIndex and the lock holder but resets LockIndex to 0, as Consul's
 *   request carries LockIndex 0;
 * - delete of a missing key is true and changes nothing; delete-cas of a missing key is true as well;
 * - delete leaves a tombstone at the key; delete-tree leaves one tombstone at the prefix (none for "");
 * - acquire with an unknown session returns InvalidSessionError (Consul's FSM error), in lock-delay false.
 */
import { assert, unreachable } from "../util/index.js";
import { OrderedMap } from "./btree.js";
import { decodeCommand, type KvCommand, type KvValue } from "./command.js";
import { InvalidSessionError } from "./errors.js";
import { type RestoreItem, Restorer } from "./restore.js";
import { KvSnapshot } from "./snapshot.js";
import {
  type GetResult,
  getEntry,
  type IndexRecordRow,
  type IndexRow,
  type KeysResult,
  type KvEntry,
  type KvTables,
  type ListResult,
  listEntries,
  listKeys,
  NO_OPAQUE,
  type OpaqueRecords,
  sameContent,
  TABLE_KVS,
  TABLE_TOMBSTONES,
  type Tombstone,
} from "./state.js";
import { WATCHES_MAX_DEFAULT, type WatchKind, WatchRegistry } from "./watch.js";

/**
 * What the store asks about sessions, which live elsewhere. Contract: answers must come from replicated
 * state only (the same on every replica at this point of the log), never from a clock.
 */
export interface SessionView {
  /** Whether session `id` exists and may hold locks. */
  isValid(id: string): boolean;
  /** Whether `key` refuses acquires because its holder was invalidated within its lock-delay. */
  isLockDelayed(key: string): boolean;
}

/** No sessions at all: every acquire fails with InvalidSessionError. */
export const NO_SESSIONS: SessionView = { isValid: () => false, isLockDelayed: () => false };

/** Consul's API answer for every verb (true/false), or the error Consul's FSM returns for it. */
export type ApplyResult = boolean | InvalidSessionError;

export interface KvStoreOptions {
  /** Bound on registered blocking-query watches. */
  readonly watchesMax?: number;
}

/** What one apply changed, for the watches: exact keys and whole subtrees. */
interface Touched {
  keys: string[];
  trees: string[];
}

export class KvStore implements KvTables {
  private kvMap = new OrderedMap<KvEntry>();
  private stones = new OrderedMap<Tombstone>();
  /** The own index-table rows (OWN_TABLES). */
  private tables = new Map<string, IndexRow>();
  /** Restored Index records, written back in order (see IndexRecordRow). */
  private indexRows: readonly IndexRecordRow[] = [];
  /** Own tables to write a row for even where no restored row has one: those this store has written. */
  private indexEmit = new Set<string>();
  /** Records of types this store does not serve, kept for the next snapshot. */
  private opaque: OpaqueRecords = NO_OPAQUE;
  /** The restored header's LastIndex and extra fields: a floor for the next header's. */
  private headerFloor = 0;
  /** Invariant: strictly increases with each apply; set by restore to the snapshot's LastIndex. */
  private applied = 0;
  private readonly watches: WatchRegistry;

  constructor(options: KvStoreOptions = {}) {
    this.watches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
  }

  /** The live KV table. Callers read it; iterate a snapshot() instead when writes may interleave. */
  get kv(): OrderedMap<KvEntry> {
    return this.kvMap;
  }

  get tombstones(): OrderedMap<Tombstone> {
    return this.stones;
  }

  get index(): ReadonlyMap<string, IndexRow> {
    return this.tables;
  }

  /** The raft index of the last apply (or the restored snapshot's LastIndex). */
  get appliedIndex(): number {
    return this.applied;
  }

  get(key: string): GetResult {
    return getEntry(this, key);
  }

  list(prefix: string): ListResult {
    return listEntries(this, prefix);
  }

  keys(prefix: string, separator = ""): KeysResult {
    return listKeys(this, prefix, separator);
  }

  /** Registers a one-shot wake for the next write touching `target` (see WatchRegistry). */
  watch(target: string, kind: WatchKind, wake: () => void): () => void {
    return this.watches.watch(target, kind, wake);
  }

  /** Applies the command of raft entry `index` (its bytes, or the decoded command). */
  apply(index: number, command: Uint8Array | KvCommand, sessions: SessionView = NO_SESSIONS): ApplyResult {
    assert(Number.isSafeInteger(index) && index > 0, `apply at a positive raft index, not ${index}`);
    assert(index > this.applied, `apply index ${index} after index ${this.applied}`);
    const cmd = command instanceof Uint8Array ? decodeCommand(command) : command;
    this.applied = index;
    const touched: Touched = { keys: [], trees: [] };
    const result = this.dispatch(index, cmd, sessions, touched);
    for (const key of touched.keys) this.watches.keyChanged(key);
    for (const prefix of touched.trees) this.watches.treeChanged(prefix);
    return result;
  }

  /** An O(1) point-in-time view for snapshots; later applies do not change it. */
  snapshot(): KvSnapshot {
    return new KvSnapshot({
      kv: this.kvMap.clone(),
      tombstones: this.stones.clone(),
      // The index table has one row per Consul table (dozens), so copying it is O(1) in the store's size.
      index: new Map(this.tables),
      indexRows: this.indexRows,
      indexEmit: new Set(this.indexEmit),
      opaque: this.opaque,
      headerFloor: this.headerFloor,
    });
  }

  /** Replaces the whole state with a snapshot's records; wakes every watch. Throws RestoreError. */
  restore(items: Iterable<RestoreItem>): void {
    const r = new Restorer();
    for (const item of items) r.add(item);
    this.install(r);
  }

  /** restore() from a stream, e.g. readStateBin(...). The state changes only once the stream is complete. */
  async restoreAsync(items: AsyncIterable<RestoreItem>): Promise<void> {
    const r = new Restorer();
    for await (const item of items) r.add(item);
    this.install(r);
  }

  private install(r: Restorer): void {
    const s = r.finish();
    this.kvMap = s.kv;
    this.stones = s.tombstones;
    this.tables = s.index;
    this.indexRows = s.indexRows;
    this.indexEmit = s.indexEmit;
    this.opaque = s.opaque;
    this.headerFloor = s.headerFloor;
    this.applied = s.lastIndex;
    this.watches.all();
  }

  private dispatch(idx: number, cmd: KvCommand, sessions: SessionView, t: Touched): ApplyResult {
    switch (cmd.op) {
      case "set":
        this.write(idx, cmd.key, cmd.value, cmd.flags, undefined, 0, t);
        return true;
      case "cas":
        return this.cas(idx, cmd, t);
      case "acquire":
        return this.acquire(idx, cmd, sessions, t);
      case "release":
        return this.release(idx, cmd, t);
      case "delete":
        this.deleteKey(idx, cmd.key, t);
        return true;
      case "delete-cas": {
        const e = this.kvMap.get(cmd.key);
        if (e === undefined || BigInt(e.ModifyIndex) !== cmd.index) return e === undefined;
        this.deleteKey(idx, cmd.key, t);
        return true;
      }
      case "delete-tree":
        this.deleteTree(idx, cmd.prefix, t);
        return true;
      case "tombstone-reap":
        this.reap(cmd.index);
        return true;
      default:
        return unreachable(cmd, "apply command");
    }
  }

  /** Consul's kvsSetTxn. `session` undefined keeps the current holder. */
  private write(
    idx: number,
    key: string,
    value: KvValue,
    flags: bigint,
    session: string | undefined,
    lockIndex: number,
    t: Touched,
  ): void {
    const existing = this.kvMap.get(key);
    const entry: KvEntry = {
      Key: key,
      Flags: flags,
      Value: value,
      CreateIndex: existing?.CreateIndex ?? idx,
      ModifyIndex: idx,
      LockIndex: lockIndex,
      Session: session ?? existing?.Session ?? "",
    };
    if (existing !== undefined && sameContent(existing, entry)) return;
    this.kvMap.set(key, entry);
    this.bump(TABLE_KVS, idx);
    t.keys.push(key);
  }

  private cas(idx: number, cmd: Extract<KvCommand, { op: "cas" }>, t: Touched): boolean {
    const e = this.kvMap.get(cmd.key);
    if (cmd.index === 0n ? e !== undefined : e === undefined || BigInt(e.ModifyIndex) !== cmd.index) {
      return false;
    }
    this.write(idx, cmd.key, cmd.value, cmd.flags, undefined, 0, t);
    return true;
  }

  private acquire(
    idx: number,
    cmd: Extract<KvCommand, { op: "acquire" }>,
    sessions: SessionView,
    t: Touched,
  ): ApplyResult {
    // Consul checks lock-delay on the leader before the write reaches the FSM, so it wins over the
    // session check; the FSM then refuses a missing or unknown session with an error.
    if (sessions.isLockDelayed(cmd.key)) return false;
    if (cmd.session === "" || !sessions.isValid(cmd.session)) return new InvalidSessionError(cmd.session);
    const e = this.kvMap.get(cmd.key);
    let lockIndex = 1;
    if (e !== undefined) {
      if (e.Session !== "" && e.Session !== cmd.session) return false;
      lockIndex = e.Session === cmd.session ? e.LockIndex : e.LockIndex + 1;
    }
    this.write(idx, cmd.key, cmd.value, cmd.flags, cmd.session, lockIndex, t);
    return true;
  }

  private release(idx: number, cmd: Extract<KvCommand, { op: "release" }>, t: Touched): ApplyResult {
    if (cmd.session === "") return new InvalidSessionError("");
    const e = this.kvMap.get(cmd.key);
    if (e === undefined || e.Session !== cmd.session) return false;
    this.write(idx, cmd.key, cmd.value, cmd.flags, "", e.LockIndex, t);
    return true;
  }

  private deleteKey(idx: number, key: string, t: Touched): void {
    if (!this.kvMap.delete(key)) return;
    this.stones.set(key, { index: idx });
    this.bump(TABLE_TOMBSTONES, idx);
    this.bump(TABLE_KVS, idx);
    t.keys.push(key);
  }

  private deleteTree(idx: number, prefix: string, t: Touched): void {
    if (prefix === "") {
      if (this.kvMap.size === 0) return;
      this.kvMap = new OrderedMap<KvEntry>();
    } else {
      // Collect first: a map is not iterated while it is written.
      const doomed = [...this.kvMap.prefix(prefix)].map(([key]) => key);
      if (doomed.length === 0) return;
      for (const key of doomed) this.kvMap.delete(key);
      // One tombstone for the subtree, at the prefix itself, as Consul does.
      this.stones.set(prefix, { index: idx });
      this.bump(TABLE_TOMBSTONES, idx);
    }
    this.bump(TABLE_KVS, idx);
    t.trees.push(prefix);
  }

  /** Drops tombstones deleted at or before `upTo`. Like Consul's reap, it moves no index and wakes nobody. */
  private reap(upTo: bigint): void {
    const doomed: string[] = [];
    for (const [key, stone] of this.stones.entries()) if (BigInt(stone.index) <= upTo) doomed.push(key);
    for (const key of doomed) this.stones.delete(key);
  }

  private bump(table: string, idx: number): void {
    this.indexEmit.add(table);
    const row = this.tables.get(table);
    if (row !== undefined && row.value >= idx) return;
    this.tables.set(table, row?.extra !== undefined ? { value: idx, extra: row.extra } : { value: idx });
  }
}
