/**
 * KvStore: the replicated state for Consul KV. `apply(index, command)` is deterministic: it reads no clock
 * and no randomness, and its result depends only on the state, the command and the SessionView's answers,
 * so every replica that applies the same log reaches the same state and returns the same results.
 *
 * This file is the store's facade: its tables, the reads over them with Consul's index rules (state.ts,
 * session.ts, catalog-reads.ts), the watches that wake blocking queries (watch.ts), O(1) snapshots
 * (snapshot.ts) and restore (restore.ts). What a command writes, with Consul's semantics, is apply.ts.
 *
 * Sessions (session.ts), txns (txn.ts) and the catalog (catalog.ts: nodes, services, checks, which end the
 * sessions bound to them) live here too. `execute` returns every command's full result;
 * `apply` keeps the older boolean contract for callers that only write KV: it maps a full result to
 * true/false and throws the typed error of a refused session or txn command (nothing applied), which
 * callers already treat as the command's deterministic refusal.
 */
import { assert } from "../util/index.js";
import {
  type AclTables,
  type AclView,
  aclPolicyById,
  aclPolicyByName,
  aclPolicyList,
  aclTokenByAccessor,
  aclTokenBySecret,
  aclTokenList,
  cloneAclTables,
} from "./acl.js";
import {
  type ApplyResult,
  type CommandResult,
  emptyLiveTables,
  type LiveTables,
  nothingTouched,
  type SessionView,
  Writes,
} from "./apply.js";
import type { OrderedMap } from "./btree.js";
import { cloneTrees } from "./catalog.js";
import { CatalogReads } from "./catalog-reads.js";
import { decodeCommand, type KvCommand } from "./command.js";
import { InvalidSessionError } from "./errors.js";
import { copyLockDelays, isDelayedAt, type LockDelayState, readClock } from "./lock-delay.js";
import { type RestoreItem, Restorer } from "./restore.js";
import {
  nodeSessions,
  type SessionEntry,
  type SessionGetResult,
  type SessionListResult,
  type SessionTables,
  sessionGet,
  sessionList,
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
  TABLE_SESSIONS,
  type Tombstone,
} from "./state.js";
import { WATCHES_MAX_DEFAULT, type Wake, type Watch, type WatchKind, WatchRegistry } from "./watch.js";

// The apply contract's types moved to apply.ts with the write paths; importers keep importing them from here.
export { type ApplyResult, type CommandResult, NO_SESSIONS, type SessionView } from "./apply.js";

export interface KvStoreOptions {
  /** Bound on registered blocking-query watches. */
  readonly watchesMax?: number;
}

export class KvStore implements KvTables, SessionTables, AclView {
  /** KV, tombstones, sessions, catalog, lock-delays and index rows: what commands write (apply.ts). */
  private readonly live: LiveTables = emptyLiveTables();
  private readonly writes = new Writes(this.live);
  /** Restored Index records, written back in order (see IndexRecordRow). */
  private indexRows: readonly IndexRecordRow[] = [];
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
  /** ACL reads watch all tokens and policies under the target "". */
  private readonly aclWatches: WatchRegistry;
  private aclChanges = 0;

  constructor(options: KvStoreOptions = {}) {
    this.watches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
    this.sessionWatches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
    this.catalogWatches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
    this.aclWatches = new WatchRegistry(options.watchesMax ?? WATCHES_MAX_DEFAULT);
  }

  // ---- ACL tokens and policies (acl.ts) ----

  get acl(): AclTables {
    return this.live.acl;
  }

  aclIndex(table: string): number {
    return this.live.index.get(table)?.value ?? 0;
  }

  /**
   * Moves on every applied ACL write and every restore: a resolver's cache keyed on it never serves a token
   * or policy that changed (item 3 of issue 12: after a restore the archive's ACLs are in force at once).
   */
  get aclEpoch(): number {
    return this.aclChanges + this.restores;
  }

  aclTokenByAccessor(accessor: string) {
    return aclTokenByAccessor(this, accessor);
  }

  aclTokenBySecret(secret: string) {
    return aclTokenBySecret(this, secret);
  }

  aclTokenList(policy = "") {
    return aclTokenList(this, policy);
  }

  aclPolicyById(id: string) {
    return aclPolicyById(this, id);
  }

  aclPolicyByName(name: string) {
    return aclPolicyByName(this, name);
  }

  aclPolicyList() {
    return aclPolicyList(this);
  }

  /** A one-shot wake for the next ACL write or restore. */
  watchAcl(wake: Wake): Watch {
    return this.aclWatches.watch("", "prefix", wake);
  }

  /** Catalog and health reads over the live tables, with Consul's index rules. */
  get catalogReads(): CatalogReads {
    return new CatalogReads(this.live.catalog, (t) => this.live.index.get(t)?.value ?? 0);
  }

  /** A one-shot wake for the next catalog write (or session end by one) or restore. */
  watchCatalog(wake: Wake): Watch {
    return this.catalogWatches.watch("", "prefix", wake);
  }

  get sessions(): OrderedMap<SessionEntry> {
    return this.live.sessions;
  }

  get sessionsIndex(): number {
    return this.live.index.get(TABLE_SESSIONS)?.value ?? 0;
  }

  /** The lock-delay deadlines (key → ms in the FSM's time; expired ones are forgotten lazily), for tests. */
  get lockDelays(): ReadonlyMap<string, number> {
    return this.live.lock.until;
  }

  /** The largest command time applied (ms): the FSM's clock (lock-delay.ts). */
  get lockClock(): number {
    return this.live.lock.clock;
  }

  /**
   * Whether an acquire of `key` stamped `time` would be refused for lock-delay if it applied now: the rule
   * apply judges by, for the leader's check before it proposes (fsm/leader-write.ts).
   */
  isLockDelayed(key: string, time: number): boolean {
    return isDelayedAt(this.live.lock, key, readClock(this.live.lock, time));
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
  watchSessions(wake: Wake): Watch {
    return this.sessionWatches.watch("", "prefix", wake);
  }

  /** The live KV table. Callers read it; iterate a snapshot() instead when writes may interleave. */
  get kv(): OrderedMap<KvEntry> {
    return this.live.kv;
  }

  get tombstones(): OrderedMap<Tombstone> {
    return this.live.tombstones;
  }

  get index(): ReadonlyMap<string, IndexRow> {
    return this.live.index;
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
    return this.watches.size + this.sessionWatches.size + this.catalogWatches.size + this.aclWatches.size;
  }

  /**
   * The records a snapshot of the store writes (KV entries, tombstones, sessions, nodes, services, checks, ACL
   * tokens and policies): what its cost grows with. Each count is a field read, so this is cheap to ask per apply.
   */
  get recordCount(): number {
    const t = this.live;
    const c = t.catalog;
    return (
      t.kv.size +
      t.tombstones.size +
      t.sessions.size +
      c.nodes.size +
      c.services.size +
      c.checks.size +
      t.acl.tokens.size +
      t.acl.policies.size
    );
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
  watch(target: string, kind: WatchKind, wake: Wake): Watch {
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
    const touched = nothingTouched();
    const result = this.writes.dispatch(index, cmd, sessions, touched);
    for (const key of touched.keys) this.watches.keyChanged(key);
    for (const prefix of touched.trees) this.watches.treeChanged(prefix);
    if (touched.sessions) this.sessionWatches.all();
    if (touched.catalog) this.catalogWatches.all();
    if (touched.acl) {
      this.aclChanges += 1;
      this.aclWatches.all();
    }
    return result;
  }

  /** An O(1) point-in-time view for snapshots; later applies do not change it. */
  snapshot(): KvSnapshot {
    return new KvSnapshot({
      kv: this.live.kv.clone(),
      tombstones: this.live.tombstones.clone(),
      sessions: this.live.sessions.clone(),
      catalog: cloneTrees(this.live.catalog),
      acl: cloneAclTables(this.live.acl),
      lock: copyLockDelays(this.live.lock),
      // The index table has one row per Consul table (dozens), so copying it is O(1) in the store's size.
      index: new Map(this.live.index),
      indexRows: this.indexRows,
      indexEmit: new Set(this.live.indexEmit),
      opaque: this.opaque,
      headerFloor: this.headerFloor,
    });
  }

  /**
   * Replaces the whole state with a snapshot's records; wakes every watch. Throws RestoreError.
   * Lock-delays are not in state.bin (Consul has no record for them): pass the state a snapshot carried beside
   * it (a KvSnapshot's `lock`, or lockDelaysFromJson of a sidecar's) to install it too; without one, as for a
   * user restore, the store keeps its clock and starts with no delays, as a restored Consul server does.
   */
  restore(items: Iterable<RestoreItem>, lock?: LockDelayState): void {
    const r = new Restorer();
    for (const item of items) r.add(item);
    this.install(r, lock);
  }

  /**
   * restore() from a stream, e.g. readStateBin(...), or readStateBinBatches(...) (batches of items: one await
   * per batch, not per record). The state changes only once the stream is complete.
   */
  async restoreAsync(items: AsyncIterable<RestoreItem | readonly RestoreItem[]>): Promise<void> {
    this.install(await restoreFrom(new Restorer(), items));
  }

  /**
   * restoreAsync for a restore that must complete (a committed restore entry, a snapshot from the leader).
   * The new state is built aside while reads go on answering from the old one, and swapped in at once, the
   * watches woken after the swap: a read during the rebuild sees the old state or the new one, never a
   * partial or empty one. Entries the archive holds unchanged are shared with the old table rather than
   * copied (Restorer's `previous`), so restoring a recent backup holds about one state at its peak; an
   * unrelated archive holds the old and the new until the swap. `afterSwap` runs once the old state is
   * unreachable (e.g. a collection, so the process gives its memory back before the next burst of writes).
   * A failure leaves the old state in place; the caller still treats it as fatal, as Consul does for a
   * failed restore.
   */
  async replaceAsync(
    items: AsyncIterable<RestoreItem | readonly RestoreItem[]>,
    afterSwap?: () => void,
    lock?: LockDelayState,
  ): Promise<void> {
    // No apply runs while a committed restore is applied (the applier awaits it), but a clone costs nothing and
    // makes the reuse independent of that.
    this.install(await restoreFrom(new Restorer(this.live.kv.clone()), items), lock);
    afterSwap?.();
  }

  /** `lock`: the snapshot's lock-delay state (see restore); none keeps the clock and drops every delay. */
  private install(r: Restorer, lock?: LockDelayState): void {
    const s = r.finish();
    this.live.kv = s.kv;
    this.live.sessions = s.sessions;
    this.live.catalog = s.catalog;
    this.live.acl = s.acl;
    // A user restore keeps the clock: every replica applies it at the same clock, and time must not go back.
    this.live.lock =
      lock !== undefined ? copyLockDelays(lock) : { clock: this.live.lock.clock, until: new Map() };
    this.live.tombstones = s.tombstones;
    this.live.index = s.index;
    this.indexRows = s.indexRows;
    this.live.indexEmit = s.indexEmit;
    this.opaque = s.opaque;
    this.headerFloor = s.headerFloor;
    this.applied = s.lastIndex;
    this.restores += 1;
    this.watches.all();
    this.sessionWatches.all();
    this.catalogWatches.all();
    this.aclWatches.all();
  }
}

async function restoreFrom(
  r: Restorer,
  items: AsyncIterable<RestoreItem | readonly RestoreItem[]>,
): Promise<Restorer> {
  for await (const x of items) {
    if (isBatch(x)) r.addBatch(x);
    else r.add(x);
  }
  return r;
}

function isBatch(x: RestoreItem | readonly RestoreItem[]): x is readonly RestoreItem[] {
  return Array.isArray(x);
}
