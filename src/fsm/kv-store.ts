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
 *
 * Sessions (session.ts), txns (txn.ts) and the catalog (catalog.ts: nodes, services, checks, which end the
 * sessions bound to them) live here too. `execute` returns every command's full result;
 * `apply` keeps the older boolean contract for callers that only write KV: it maps a full result to
 * true/false and throws the typed error of a refused session or txn command (nothing applied), which
 * callers already treat as the command's deterministic refusal.
 */
import { assert, unreachable } from "../util/index.js";
import { OrderedMap } from "./btree.js";
import { Catalog, type CatalogEffects, type CatalogIndex, cloneTrees, emptyTrees } from "./catalog.js";
import { CatalogReads } from "./catalog-reads.js";
import { sessionCatalogError, sessionsEnded } from "./catalog-sessions.js";
import { decodeCommand, type KvCommand, type KvValue } from "./command.js";
import {
  type CatalogError,
  type InvalidBehaviorError,
  InvalidSessionError,
  SessionIdError,
  type SessionTtlError,
  TxnFailedError,
  type TxnTooLargeError,
} from "./errors.js";
import { type RestoreItem, Restorer } from "./restore.js";
import {
  emptySessions,
  lockDelayUntil,
  nodeSessions,
  normalizeBehavior,
  type SessionEntry,
  type SessionGetResult,
  type SessionListResult,
  type SessionSpec,
  type SessionTables,
  sessionEntry,
  sessionGet,
  sessionList,
  validateSessionTtl,
} from "./session.js";
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
  TABLE_SESSIONS,
  TABLE_TOMBSTONES,
  type Tombstone,
} from "./state.js";
import {
  precheckTxn,
  runTxn,
  TXN_OPS_MAX,
  type TxnContext,
  type TxnOp,
  type TxnSuccess,
  txnTooLarge,
} from "./txn.js";
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

/**
 * The full result of a command: ApplyResult for KV verbs; true or a typed error for session-create;
 * true for destroy/invalidate (also of an unknown session, as Consul); the session or null for renew;
 * TxnSuccess or the rolled-back txn's errors for txn.
 */
export type CommandResult =
  | ApplyResult
  | SessionTtlError
  | InvalidBehaviorError
  | SessionIdError
  | SessionEntry
  | null
  | TxnSuccess
  | TxnFailedError
  | TxnTooLargeError
  | CatalogError;

export interface KvStoreOptions {
  /** Bound on registered blocking-query watches. */
  readonly watchesMax?: number;
}

/** What one apply changed, for the watches: exact keys and whole subtrees. */
interface Touched {
  keys: string[];
  trees: string[];
  sessions: boolean;
  catalog: boolean;
}

export class KvStore implements KvTables, SessionTables {
  private kvMap = new OrderedMap<KvEntry>();
  private sessionMap = emptySessions();
  /** Nodes, services and checks (catalog.ts); written only through `catalog()`. */
  private catalogTrees = emptyTrees();
  /** key → ms until which acquires are refused. In memory only, as Consul's lockDelay (see restore). */
  private delays = new Map<string, number>();
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
  /** Session reads watch the whole table under the target "" (a wake is a hint to re-read). */
  private readonly sessionWatches: WatchRegistry;
  /** Catalog reads watch the whole catalog under the target "" (a wake is a hint to re-read). */
  private readonly catalogWatches: WatchRegistry;

  constructor(options: KvStoreOptions = {}) {
    this.watches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
    this.sessionWatches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
    this.catalogWatches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
  }

  /** Catalog and health reads over the live tables, with Consul's index rules. */
  get catalogReads(): CatalogReads {
    return new CatalogReads(this.catalogTrees, (t) => this.tables.get(t)?.value ?? 0);
  }

  /** A one-shot wake for the next catalog write (or session end by one) or restore. */
  watchCatalog(wake: () => void): () => void {
    return this.catalogWatches.watch("", "prefix", wake);
  }

  private catalog(): Catalog {
    const index: CatalogIndex = {
      value: (t) => this.tables.get(t)?.value ?? 0,
      bump: (t, i) => this.bump(t, i),
      drop: (t) => void [this.tables.delete(t), this.indexEmit.delete(t)],
    };
    return new Catalog(this.catalogTrees, index);
  }

  get sessions(): OrderedMap<SessionEntry> {
    return this.sessionMap;
  }

  get sessionsIndex(): number {
    return this.tables.get(TABLE_SESSIONS)?.value ?? 0;
  }

  /** The lock-delays in force (key → ms), for the leader's pre-checks and for tests. */
  get lockDelays(): ReadonlyMap<string, number> {
    return this.delays;
  }

  sessionInfo(id: string): SessionGetResult {
    return sessionGet(this, id);
  }

  sessionList(): SessionListResult {
    return sessionList(this);
  }

  nodeSessions(node: string): SessionListResult {
    return nodeSessions(this, node);
  }

  /** A one-shot wake for the next session write (create, destroy, invalidate) or restore. */
  watchSessions(wake: () => void): () => void {
    return this.sessionWatches.watch("", "prefix", wake);
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

  private restores = 0;

  /**
   * How many times a restore has replaced the state. A blocking query that sees it change returns at once, as
   * Consul's do when the state store's abandon channel closes: its index may have gone backwards.
   */
  get restoreCount(): number {
    return this.restores;
  }

  /** Watches registered now (KV, session and catalog), for tests that check none is left behind. */
  get watchCount(): number {
    return this.watches.size + this.sessionWatches.size + this.catalogWatches.size;
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

  /**
   * Applies the command of raft entry `index` (its bytes, or the decoded command) and answers as KV writes
   * always have: true/false or InvalidSessionError. A refused session or txn command throws its typed error
   * (after the index has been consumed, with nothing else applied). Use execute() for full results.
   * `sessions` overrides the store's own session table (callers that keep sessions elsewhere).
   */
  apply(index: number, command: Uint8Array | KvCommand, sessions?: SessionView): ApplyResult {
    const r = this.execute(index, command, sessions);
    if (typeof r === "boolean" || r instanceof InvalidSessionError) return r;
    if (r instanceof Error) throw r;
    return r !== null;
  }

  /** Applies the command of raft entry `index` and returns its full result (see CommandResult). */
  execute(index: number, command: Uint8Array | KvCommand, sessions?: SessionView): CommandResult {
    assert(Number.isSafeInteger(index) && index > 0, `apply at a positive raft index, not ${index}`);
    assert(index > this.applied, `apply index ${index} after index ${this.applied}`);
    const cmd = command instanceof Uint8Array ? decodeCommand(command) : command;
    this.applied = index;
    const touched: Touched = { keys: [], trees: [], sessions: false, catalog: false };
    const result = this.dispatch(index, cmd, sessions, touched);
    for (const key of touched.keys) this.watches.keyChanged(key);
    for (const prefix of touched.trees) this.watches.treeChanged(prefix);
    if (touched.sessions) this.sessionWatches.all();
    if (touched.catalog) this.catalogWatches.all();
    return result;
  }

  /** The store's own sessions as a SessionView, judging lock-delays at `time` (none: no lock-delay applies). */
  private viewAt(time: number | undefined): SessionView {
    return {
      isValid: (id) => this.sessionMap.has(id),
      isLockDelayed: (key) => {
        // Judging never forgets a delay: the leader passes acquires with a time past every deadline, and the
        // delay must outlive them for its own later judgments (expired ones go in destroySession).
        const until = this.delays.get(key);
        return until !== undefined && time !== undefined && time < until;
      },
    };
  }

  /** An O(1) point-in-time view for snapshots; later applies do not change it. */
  snapshot(): KvSnapshot {
    return new KvSnapshot({
      kv: this.kvMap.clone(),
      tombstones: this.stones.clone(),
      sessions: this.sessionMap.clone(),
      catalog: cloneTrees(this.catalogTrees),
      lockDelays: new Map(this.delays),
      // The index table has one row per Consul table (dozens), so copying it is O(1) in the store's size.
      index: new Map(this.tables),
      indexRows: this.indexRows,
      indexEmit: new Set(this.indexEmit),
      opaque: this.opaque,
      headerFloor: this.headerFloor,
    });
  }

  /**
   * Replaces the whole state with a snapshot's records; wakes every watch. Throws RestoreError.
   * Lock-delays are not in state.bin (Consul keeps them in memory); pass a KvSnapshot's `lockDelays` to
   * carry them over, otherwise the restored store starts with none, as a restored Consul server does.
   */
  restore(items: Iterable<RestoreItem>, lockDelays?: ReadonlyMap<string, number>): void {
    const r = new Restorer();
    for (const item of items) r.add(item);
    this.install(r, lockDelays);
  }

  /**
   * restore() from a stream, e.g. readStateBin(...), or readStateBinBatches(...) (batches of items: one await
   * per batch, not per record). The state changes only once the stream is complete.
   */
  async restoreAsync(items: AsyncIterable<RestoreItem | readonly RestoreItem[]>): Promise<void> {
    const r = new Restorer();
    for await (const x of items) {
      if (isBatch(x)) for (const item of x) r.add(item);
      else r.add(x);
    }
    this.install(r);
  }

  /**
   * restoreAsync for a restore that must complete (a committed restore entry, a snapshot from the leader):
   * the old tables are dropped before the new ones are built, so memory holds one state and not two
   * (docs/snapshot-format.md §8.3: a restore's peak stays bounded whatever the state's size). Until the build
   * ends, reads see empty tables at the old index (no watch fires and no index moves backwards); a failure
   * leaves them empty, which the caller treats as fatal, as Consul does for a failed restore. Point-in-time
   * views taken before keep theirs.
   */
  async replaceAsync(
    items: AsyncIterable<RestoreItem | readonly RestoreItem[]>,
    afterDrop?: () => void,
  ): Promise<void> {
    this.kvMap = new OrderedMap<KvEntry>();
    this.stones = new OrderedMap<Tombstone>();
    this.sessionMap = emptySessions();
    this.catalogTrees = emptyTrees();
    this.opaque = NO_OPAQUE;
    afterDrop?.(); // e.g. a collection, so the new state reuses the old one's memory
    await this.restoreAsync(items);
  }

  private install(r: Restorer, lockDelays?: ReadonlyMap<string, number>): void {
    const s = r.finish();
    this.kvMap = s.kv;
    this.sessionMap = s.sessions;
    this.catalogTrees = s.catalog;
    this.delays = new Map(lockDelays ?? []);
    this.stones = s.tombstones;
    this.tables = s.index;
    this.indexRows = s.indexRows;
    this.indexEmit = s.indexEmit;
    this.opaque = s.opaque;
    this.headerFloor = s.headerFloor;
    this.applied = s.lastIndex;
    this.restores += 1;
    this.watches.all();
    this.sessionWatches.all();
    this.catalogWatches.all();
  }

  private dispatch(
    idx: number,
    cmd: KvCommand,
    sessions: SessionView | undefined,
    t: Touched,
  ): CommandResult {
    switch (cmd.op) {
      case "set":
        this.write(idx, cmd.key, cmd.value, cmd.flags, undefined, 0, t);
        return true;
      case "cas":
        return this.cas(idx, cmd, t);
      case "acquire":
        return this.acquire(idx, cmd, sessions ?? this.viewAt(cmd.time), t);
      case "release":
        return this.release(idx, cmd, t);
      case "delete":
        this.deleteKey(idx, cmd.key, t);
        return true;
      case "delete-cas":
        return this.deleteCas(idx, cmd.key, cmd.index, t);
      case "delete-tree":
        this.deleteTree(idx, cmd.prefix, t);
        return true;
      case "tombstone-reap":
        this.reap(cmd.index);
        return true;
      case "session-create":
        return this.createSession(idx, cmd.session, cmd.checked === true, t);
      case "catalog-register": {
        const fx = this.catalog().register(idx, cmd.req);
        return fx instanceof Error ? fx : this.catalogDone(idx, fx, cmd.time, t);
      }
      case "catalog-deregister":
        return this.catalogDone(idx, this.catalog().deregister(idx, cmd.req), cmd.time, t);
      case "session-destroy":
      case "session-invalidate":
        return this.destroySession(idx, cmd.id, cmd.time, t);
      case "session-renew":
        return this.sessionMap.get(cmd.id) ?? null;
      case "txn":
        return this.txn(idx, cmd.ops, sessions ?? this.viewAt(cmd.time), t);
      default:
        return unreachable(cmd, "apply command");
    }
  }

  /** A catalog write went through: wake catalog reads, end the sessions it invalidated (catalog-sessions.ts). */
  private catalogDone(idx: number, fx: CatalogEffects, time: number, t: Touched): true {
    t.catalog = true;
    for (const id of sessionsEnded(this.sessionMap, fx)) this.destroySession(idx, id, time, t);
    return true;
  }

  /**
   * Consul's endpoint checks (TTL, Behavior) and state-store insert, with the catalog's when `checked`
   * (catalog-sessions.ts); the proposer chose the ID.
   */
  private createSession(idx: number, spec: SessionSpec, checked: boolean, t: Touched): CommandResult {
    if (spec.ID === "") return new SessionIdError("Missing session ID");
    if (this.sessionMap.has(spec.ID))
      return new SessionIdError(`session ${JSON.stringify(spec.ID)} already exists`);
    const ttlError = validateSessionTtl(spec.TTL);
    if (ttlError !== null) return ttlError;
    const behavior = normalizeBehavior(spec.Behavior);
    if (typeof behavior !== "string") return behavior;
    const refused = checked ? sessionCatalogError(this.catalogTrees, spec) : null;
    if (refused !== null) return refused;
    this.sessionMap.set(spec.ID, sessionEntry(spec, behavior, idx));
    this.bump(TABLE_SESSIONS, idx);
    t.sessions = true;
    return true;
  }

  /**
   * Consul's deleteSessionTxn: drop the session, then release (Session cleared, LockIndex kept, ModifyIndex
   * moved) or delete (tombstone) every key it holds per Behavior, each under lock-delay from `time`.
   * An unknown session is a no-op that still answers true.
   */
  private destroySession(idx: number, id: string, time: number, t: Touched): true {
    const s = this.sessionMap.get(id);
    if (s === undefined) return true;
    this.sessionMap.delete(id);
    this.bump(TABLE_SESSIONS, idx);
    t.sessions = true;
    // Consul finds held keys by a session index; a scan keeps the tables simple (destroys are rare).
    const held: KvEntry[] = [];
    for (const [, e] of this.kvMap.entries()) if (e.Session === id) held.push(e);
    const until = lockDelayUntil(time, s.LockDelay);
    // Forget delays expired by this command's time (a real leader clock), identically on every replica.
    for (const [key, at] of [...this.delays]) if (at <= time) this.delays.delete(key);
    for (const e of held) {
      if (s.Behavior === "delete") this.deleteKey(idx, e.Key, t);
      else this.write(idx, e.Key, e.Value, e.Flags, "", e.LockIndex, t);
      if (until !== null) this.delays.set(e.Key, until);
    }
    return true;
  }

  /**
   * All or nothing: the ops run on the live tables after O(1) copy-on-write clones of them were put aside;
   * if any op fails, the clones are put back and no watch fires. The raft index is consumed either way.
   */
  private txn(idx: number, ops: readonly TxnOp[], view: SessionView, t: Touched): CommandResult {
    if (ops.length > TXN_OPS_MAX) return txnTooLarge(ops.length);
    const saved = {
      kv: this.kvMap.clone(),
      stones: this.stones.clone(),
      tables: new Map(this.tables),
      emit: new Set(this.indexEmit),
    };
    const work: Touched = { keys: [], trees: [], sessions: false, catalog: false };
    const ctx = this.txnContext(idx, view, work);
    const pre = precheckTxn(ops, ctx);
    if (pre.length > 0) return new TxnFailedError(pre);
    const r = runTxn(ops, ctx);
    if (Array.isArray(r)) {
      this.kvMap = saved.kv;
      this.stones = saved.stones;
      this.tables = saved.tables;
      this.indexEmit = saved.emit;
      return new TxnFailedError(r);
    }
    t.keys.push(...work.keys);
    t.trees.push(...work.trees);
    return r;
  }

  private txnContext(idx: number, view: SessionView, t: Touched): TxnContext {
    const stored = (key: string): KvEntry => this.kvMap.get(key) as KvEntry;
    // Lock-delay was judged by precheckTxn, as Consul's leader does before the write.
    const noDelay: SessionView = { isValid: (id) => view.isValid(id), isLockDelayed: () => false };
    const locked = (r: ApplyResult, key: string): KvEntry | false | string =>
      r instanceof InvalidSessionError ? r.message : r && stored(key);
    return {
      get: (key) => this.kvMap.get(key),
      list: (prefix) => [...this.kvMap.prefix(prefix)].map(([, e]) => e),
      set: (op) => {
        this.write(idx, op.key, op.value, op.flags, undefined, 0, t);
        return stored(op.key);
      },
      cas: (op) => this.cas(idx, { op: "cas", ...op }, t) && stored(op.key),
      lock: (op) => locked(this.acquire(idx, { op: "acquire", ...op }, noDelay, t), op.key),
      unlock: (op) => locked(this.release(idx, { op: "release", ...op }, t), op.key),
      delete: (key) => this.deleteKey(idx, key, t),
      deleteCas: (op) => this.deleteCas(idx, op.key, op.index, t),
      deleteTree: (prefix) => this.deleteTree(idx, prefix, t),
      lockDelayed: (key) => view.isLockDelayed(key),
    };
  }

  private deleteCas(idx: number, key: string, index: bigint, t: Touched): boolean {
    const e = this.kvMap.get(key);
    if (e === undefined || BigInt(e.ModifyIndex) !== index) return e === undefined;
    this.deleteKey(idx, key, t);
    return true;
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

function isBatch(x: RestoreItem | readonly RestoreItem[]): x is readonly RestoreItem[] {
  return Array.isArray(x);
}
