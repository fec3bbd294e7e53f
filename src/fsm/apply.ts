/**
 * The write side of KvStore (kv-store.ts): one command's dispatch and the KV, session, txn and catalog write
 * paths over the store's live tables. Deterministic: the result depends only on the tables, the command and
 * the SessionView's answers; no clock, no randomness.
 *
 * Semantics follow Consul's state store (agent/consul/state/kvs.go), including its corners:
 * - every write sets ModifyIndex to the raft index, except a write that changes nothing (same value, flags,
 *   session and LockIndex), which Consul skips: indexes stay, no watch fires, the result is still true;
 * - a plain set or cas keeps CreateIndex and the lock holder but resets LockIndex to 0, as Consul's
 *   request carries LockIndex 0;
 * - delete of a missing key is true and changes nothing; delete-cas of a missing key is true as well;
 * - delete leaves a tombstone at the key; delete-tree leaves one tombstone at the prefix (none for "");
 * - acquire with an unknown session returns InvalidSessionError (Consul's FSM error), in lock-delay false;
 *   lock-delay is judged here, at apply, in the FSM's time (lock-delay.ts), not only by the leader as Consul does.
 */
import { assert, unreachable } from "../util/index.js";
import { type AclTables, AclWrites, emptyAclTables } from "./acl.js";
import { OrderedMap } from "./btree.js";
import { Catalog, type CatalogEffects, type CatalogIndex, type CatalogTrees, emptyTrees } from "./catalog.js";
import { sessionCatalogError, sessionsEnded } from "./catalog-sessions.js";
import type { KvCommand, KvValue } from "./command.js";
import {
  type AclError,
  type CatalogError,
  type InvalidBehaviorError,
  InvalidSessionError,
  SessionIdError,
  type SessionTtlError,
  TxnFailedError,
  type TxnTooLargeError,
} from "./errors.js";
import { advanceClock, emptyLockDelays, isDelayedAt, type LockDelayState } from "./lock-delay.js";
import {
  emptySessions,
  lockDelayUntil,
  normalizeBehavior,
  type SessionEntry,
  type SessionSpec,
  sessionEntry,
  validateSessionTtl,
} from "./session.js";
import {
  type IndexRow,
  type KvEntry,
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
  | CatalogError
  | AclError;

/**
 * The store's live tables: what a command writes. KvStore owns them and reads them; a restore or a
 * rolled-back txn replaces tables, so holders keep this object and read its fields, not a field's value.
 */
export interface LiveTables {
  kv: OrderedMap<KvEntry>;
  tombstones: OrderedMap<Tombstone>;
  sessions: OrderedMap<SessionEntry>;
  /** Nodes, services and checks (catalog.ts); written only through `catalog()`. */
  catalog: CatalogTrees;
  /** ACL tokens and policies (acl.ts). */
  acl: AclTables;
  /** Lock-delay deadlines and the FSM's clock (lock-delay.ts): replicated, carried by snapshots beside state.bin. */
  lock: LockDelayState;
  /** The own index-table rows (OWN_TABLES). */
  index: Map<string, IndexRow>;
  /** Own tables to write a row for even where no restored row has one: those this store has written. */
  indexEmit: Set<string>;
}

export function emptyLiveTables(): LiveTables {
  return {
    kv: new OrderedMap<KvEntry>(),
    tombstones: new OrderedMap<Tombstone>(),
    sessions: emptySessions(),
    catalog: emptyTrees(),
    acl: emptyAclTables(),
    lock: emptyLockDelays(),
    index: new Map<string, IndexRow>(),
    indexEmit: new Set<string>(),
  };
}

/** What one apply changed, for the watches: exact keys and whole subtrees. */
export interface Touched {
  keys: string[];
  trees: string[];
  sessions: boolean;
  catalog: boolean;
  acl: boolean;
}

export function nothingTouched(): Touched {
  return { keys: [], trees: [], sessions: false, catalog: false, acl: false };
}

/** Applies commands to the live tables `s`; each write path records in `t` what it changed. */
export class Writes {
  private readonly s: LiveTables;

  constructor(s: LiveTables) {
    this.s = s;
  }

  /** The command of raft entry `idx`; `sessions` overrides the tables' own sessions (see KvStore.apply). */
  dispatch(idx: number, cmd: KvCommand, sessions: SessionView | undefined, t: Touched): CommandResult {
    // Every timed command moves the FSM's clock, whatever its outcome: its time is a replicated fact.
    const now = "time" in cmd ? advanceClock(this.s.lock, cmd.time) : null;
    switch (cmd.op) {
      case "set":
        this.write(idx, cmd.key, cmd.value, cmd.flags, undefined, 0, t);
        return true;
      case "cas":
        return this.cas(idx, cmd, t);
      case "acquire":
        return this.acquire(idx, cmd, sessions ?? this.viewAt(now), t);
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
        return fx instanceof Error ? fx : this.catalogDone(idx, fx, clockOf(now), t);
      }
      case "catalog-deregister":
        return this.catalogDone(idx, this.catalog().deregister(idx, cmd.req), clockOf(now), t);
      case "session-destroy":
      case "session-invalidate":
        return this.destroySession(idx, cmd.id, clockOf(now), t);
      case "session-renew":
        return this.s.sessions.get(cmd.id) ?? null;
      case "txn":
        return this.txn(idx, cmd.ops, sessions ?? this.viewAt(now), t);
      case "acl-bootstrap":
        return this.aclDone(this.acl().bootstrap(idx, cmd.time, cmd.token, cmd.resetIndex), t);
      case "acl-token-set":
        return this.aclDone(this.acl().setToken(idx, cmd.time, cmd.token), t);
      case "acl-token-delete":
        return this.aclDone(this.acl().deleteToken(idx, cmd.accessor), t);
      case "acl-policy-set":
        return this.aclDone(this.acl().setPolicy(idx, cmd.policy), t);
      case "acl-policy-delete":
        return this.aclDone(this.acl().deletePolicy(idx, cmd.id), t);
      default:
        return unreachable(cmd, "apply command");
    }
  }

  private catalog(): Catalog {
    const index: CatalogIndex = {
      value: (t) => this.s.index.get(t)?.value ?? 0,
      bump: (t, i) => this.bump(t, i),
      drop: (t) => void [this.s.index.delete(t), this.s.indexEmit.delete(t)],
    };
    return new Catalog(this.s.catalog, index);
  }

  private acl(): AclWrites {
    return new AclWrites(this.s.acl, {
      value: (t) => this.s.index.get(t)?.value ?? 0,
      has: (t) => this.s.index.has(t),
      bump: (t, i) => this.bump(t, i),
    });
  }

  /** An ACL write went through (a refusal changed nothing): wake the ACL reads. */
  private aclDone(r: true | AclError, t: Touched): true | AclError {
    if (r === true) t.acl = true;
    return r;
  }

  /** The store's own sessions as a SessionView, judging lock-delays at FSM time `now` (null: not judged). */
  private viewAt(now: number | null): SessionView {
    return {
      isValid: (id) => this.s.sessions.has(id),
      isLockDelayed: (key) => isDelayedAt(this.s.lock, key, now),
    };
  }

  /** A catalog write went through: wake catalog reads, end the sessions it invalidated (catalog-sessions.ts). */
  private catalogDone(idx: number, fx: CatalogEffects, time: number, t: Touched): true {
    t.catalog = true;
    for (const id of sessionsEnded(this.s.sessions, fx)) this.destroySession(idx, id, time, t);
    return true;
  }

  /**
   * Consul's endpoint checks (TTL, Behavior) and state-store insert, with the catalog's when `checked`
   * (catalog-sessions.ts); the proposer chose the ID.
   */
  private createSession(idx: number, spec: SessionSpec, checked: boolean, t: Touched): CommandResult {
    if (spec.ID === "") return new SessionIdError("Missing session ID");
    if (this.s.sessions.has(spec.ID))
      return new SessionIdError(`session ${JSON.stringify(spec.ID)} already exists`);
    const ttlError = validateSessionTtl(spec.TTL);
    if (ttlError !== null) return ttlError;
    const behavior = normalizeBehavior(spec.Behavior);
    if (typeof behavior !== "string") return behavior;
    const refused = checked ? sessionCatalogError(this.s.catalog, spec) : null;
    if (refused !== null) return refused;
    this.s.sessions.set(spec.ID, sessionEntry(spec, behavior, idx));
    this.bump(TABLE_SESSIONS, idx);
    t.sessions = true;
    return true;
  }

  /**
   * Consul's deleteSessionTxn: drop the session, then release (Session cleared, LockIndex kept, ModifyIndex
   * moved) or delete (tombstone) every key it holds per Behavior, each under lock-delay from `now` (the FSM's
   * time of this command). An unknown session is a no-op that still answers true.
   */
  private destroySession(idx: number, id: string, now: number, t: Touched): true {
    const s = this.s.sessions.get(id);
    if (s === undefined) return true;
    this.s.sessions.delete(id);
    this.bump(TABLE_SESSIONS, idx);
    t.sessions = true;
    // Consul finds held keys by a session index; a scan keeps the tables simple (destroys are rare).
    const held: KvEntry[] = [];
    for (const [, e] of this.s.kv.entries()) if (e.Session === id) held.push(e);
    const until = lockDelayUntil(now, s.LockDelay);
    // Forget delays that have passed: the FSM's time never goes back, so none of them can refuse again.
    const delays = this.s.lock.until;
    for (const [key, at] of [...delays]) if (at <= now) delays.delete(key);
    for (const e of held) {
      if (s.Behavior === "delete") this.deleteKey(idx, e.Key, t);
      else this.write(idx, e.Key, e.Value, e.Flags, "", e.LockIndex, t);
      if (until !== null) delays.set(e.Key, until);
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
      kv: this.s.kv.clone(),
      stones: this.s.tombstones.clone(),
      tables: new Map(this.s.index),
      emit: new Set(this.s.indexEmit),
    };
    const work = nothingTouched();
    const ctx = this.txnContext(idx, view, work);
    const pre = precheckTxn(ops, ctx);
    if (pre.length > 0) return new TxnFailedError(pre);
    const r = runTxn(ops, ctx);
    if (Array.isArray(r)) {
      this.s.kv = saved.kv;
      this.s.tombstones = saved.stones;
      this.s.index = saved.tables;
      this.s.indexEmit = saved.emit;
      return new TxnFailedError(r);
    }
    t.keys.push(...work.keys);
    t.trees.push(...work.trees);
    return r;
  }

  private txnContext(idx: number, view: SessionView, t: Touched): TxnContext {
    const stored = (key: string): KvEntry => this.s.kv.get(key) as KvEntry;
    // Lock-delay was judged by precheckTxn, as Consul's leader does before the write.
    const noDelay: SessionView = { isValid: (id) => view.isValid(id), isLockDelayed: () => false };
    const locked = (r: ApplyResult, key: string): KvEntry | false | string =>
      r instanceof InvalidSessionError ? r.message : r && stored(key);
    return {
      get: (key) => this.s.kv.get(key),
      list: (prefix) => [...this.s.kv.prefix(prefix)].map(([, e]) => e),
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
    const e = this.s.kv.get(key);
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
    const existing = this.s.kv.get(key);
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
    this.s.kv.set(key, entry);
    this.bump(TABLE_KVS, idx);
    t.keys.push(key);
  }

  private cas(idx: number, cmd: Extract<KvCommand, { op: "cas" }>, t: Touched): boolean {
    const e = this.s.kv.get(cmd.key);
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
    // session check (here too, judged at apply); the FSM then refuses a missing or unknown session with an error.
    if (sessions.isLockDelayed(cmd.key)) return false;
    if (cmd.session === "" || !sessions.isValid(cmd.session)) return new InvalidSessionError(cmd.session);
    const e = this.s.kv.get(cmd.key);
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
    const e = this.s.kv.get(cmd.key);
    if (e === undefined || e.Session !== cmd.session) return false;
    this.write(idx, cmd.key, cmd.value, cmd.flags, "", e.LockIndex, t);
    return true;
  }

  private deleteKey(idx: number, key: string, t: Touched): void {
    if (!this.s.kv.delete(key)) return;
    this.s.tombstones.set(key, { index: idx });
    this.bump(TABLE_TOMBSTONES, idx);
    this.bump(TABLE_KVS, idx);
    t.keys.push(key);
  }

  private deleteTree(idx: number, prefix: string, t: Touched): void {
    if (prefix === "") {
      if (this.s.kv.size === 0) return;
      this.s.kv = new OrderedMap<KvEntry>();
    } else {
      // Collect first: a map is not iterated while it is written.
      const doomed = [...this.s.kv.prefix(prefix)].map(([key]) => key);
      if (doomed.length === 0) return;
      for (const key of doomed) this.s.kv.delete(key);
      // One tombstone for the subtree, at the prefix itself, as Consul does.
      this.s.tombstones.set(prefix, { index: idx });
      this.bump(TABLE_TOMBSTONES, idx);
    }
    this.bump(TABLE_KVS, idx);
    t.trees.push(prefix);
  }

  /** Drops tombstones deleted at or before `upTo`. Like Consul's reap, it moves no index and wakes nobody. */
  private reap(upTo: bigint): void {
    const doomed: string[] = [];
    for (const [key, stone] of this.s.tombstones.entries()) if (BigInt(stone.index) <= upTo) doomed.push(key);
    for (const key of doomed) this.s.tombstones.delete(key);
  }

  private bump(table: string, idx: number): void {
    this.s.indexEmit.add(table);
    const row = this.s.index.get(table);
    if (row !== undefined && row.value >= idx) return;
    this.s.index.set(table, row?.extra !== undefined ? { value: idx, extra: row.extra } : { value: idx });
  }
}

/**
 * The FSM's time of a session or catalog command: they always carry a leader's clock (only acquires and txns
 * were ever stamped LOCK_DELAY_PASSED, and only acquires may lack a time).
 */
function clockOf(now: number | null): number {
  assert(now !== null, "a session or catalog command carries a time");
  return now;
}
