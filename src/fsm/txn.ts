/**
 * Consul's KV transactions (/v1/txn, consul-compat.md §1.5; agent/consul/state/txn.go txnKVS): the ops a txn
 * command carries, their encoding inside the command, and their evaluation with Consul's result shapes and
 * error texts. Atomicity is the store's job (KvStore.txn runs the ops on copy-on-write clones and swaps them
 * in only when every op succeeded).
 */
import { unreachable } from "../util/index.js";
import type { KvValue, Reader, Writer } from "./codec.js";
import { CommandDecodeError, type TxnOpError, TxnTooLargeError } from "./errors.js";
import type { KvEntry } from "./state.js";

/** Consul's maxTxnOps. */
export const TXN_OPS_MAX = 128;

export const TXN_VERBS = [
  "set",
  "cas",
  "lock",
  "unlock",
  "get",
  "get-or-empty",
  "get-tree",
  "check-index",
  "check-session",
  "check-not-exists",
  "delete",
  "delete-tree",
  "delete-cas",
] as const;
export type TxnVerb = (typeof TXN_VERBS)[number];

/** One KV op, with every field of Consul's TxnKVOp (unused ones are zero, as Go's request would have them). */
export interface TxnOp {
  readonly verb: TxnVerb;
  readonly key: string;
  readonly value: KvValue;
  /** uint64 */
  readonly flags: bigint;
  /** ModifyIndex for cas, check-index and delete-cas. uint64. */
  readonly index: bigint;
  readonly session: string;
}

/** A committed txn: one result per op that yields one (deletes yield none; get-tree one per entry). */
export interface TxnSuccess {
  readonly kind: "txn";
  readonly results: readonly KvEntry[];
}

/** Consul's text for a txn over the limit (agent/txn_endpoint.go, HTTP 413). */
export function txnTooLarge(n: number): TxnTooLargeError {
  return new TxnTooLargeError(`Transaction contains too many operations (${n} > ${TXN_OPS_MAX})`);
}

export function encodeTxnOps(w: Writer, ops: readonly TxnOp[]): void {
  if (ops.length > TXN_OPS_MAX) throw txnTooLarge(ops.length);
  w.u32(ops.length);
  for (const op of ops) {
    w.u8(TXN_VERBS.indexOf(op.verb));
    w.str(op.key, "txn key");
    w.value(op.value);
    w.u64(op.flags);
    w.u64(op.index);
    w.str(op.session, "txn session");
  }
}

export function decodeTxnOps(r: Reader): TxnOp[] {
  const n = r.u32("txn op count");
  if (n > TXN_OPS_MAX) throw txnTooLarge(n);
  const ops: TxnOp[] = [];
  for (let i = 0; i < n; i++) {
    const code = r.u8("txn verb");
    const verb = TXN_VERBS[code];
    if (verb === undefined) throw new CommandDecodeError(`decode command: unknown txn verb ${code}`);
    const key = r.str("txn key");
    const value = r.value();
    const flags = r.u64("txn flags");
    const index = r.u64("txn index");
    ops.push({ verb, key, value, flags, index, session: r.str("txn session") });
  }
  return ops;
}

/** What evaluating an op needs from the store; writes go to the store's working (cloned) tables. */
export interface TxnContext {
  get(key: string): KvEntry | undefined;
  list(prefix: string): KvEntry[];
  set(op: TxnOp): KvEntry;
  /** false when the index does not match. */
  cas(op: TxnOp): KvEntry | false;
  /** false when held by another session; an error text for a missing or unknown session. */
  lock(op: TxnOp): KvEntry | false | string;
  unlock(op: TxnOp): KvEntry | false | string;
  delete(key: string): void;
  deleteCas(op: TxnOp): boolean;
  deleteTree(prefix: string): void;
  /** Whether `key` is within a lock-delay at the txn's time. */
  lockDelayed(key: string): boolean;
}

const q = (s: string): string => JSON.stringify(s);

/**
 * Consul's leader-side pre-checks (kvsPreApply, Txn.preCheck): a key is required except for delete-tree,
 * and a lock inside a lock-delay is refused. Consul answers these without applying anything.
 */
export function precheckTxn(ops: readonly TxnOp[], ctx: TxnContext): TxnOpError[] {
  const errors: TxnOpError[] = [];
  ops.forEach((op, i) => {
    if (op.key === "" && op.verb !== "delete-tree") errors.push({ OpIndex: i, What: "Must provide key" });
    else if (op.verb === "lock" && ctx.lockDelayed(op.key)) {
      errors.push({ OpIndex: i, What: `failed to lock key ${q(op.key)} due to lock delay` });
    }
  });
  return errors;
}

/** Value-less copy, as Consul clones and blanks the value of every result but get/get-or-empty/get-tree. */
function blank(e: KvEntry): KvEntry {
  const { carry: _carry, ...rest } = e;
  return { ...rest, Value: null };
}

function plain(e: KvEntry): KvEntry {
  const { carry: _carry, ...rest } = e;
  return rest;
}

/** Evaluates one op: its results, or Consul's error text. */
export function runTxnOp(op: TxnOp, ctx: TxnContext): KvEntry[] | string {
  const k = q(op.key);
  switch (op.verb) {
    case "set":
      return [blank(ctx.set(op))];
    case "cas": {
      const e = ctx.cas(op);
      return e === false ? `failed to set key ${k}, index is stale` : [blank(e)];
    }
    case "lock": {
      const e = ctx.lock(op);
      if (typeof e === "string") return e;
      return e === false ? `failed to lock key ${k}, lock is already held` : [blank(e)];
    }
    case "unlock": {
      const e = ctx.unlock(op);
      if (typeof e === "string") return e;
      return e === false
        ? `failed to unlock key ${k}, lock isn't held, or is held by another session`
        : [blank(e)];
    }
    case "get": {
      const e = ctx.get(op.key);
      return e === undefined ? `key ${k} doesn't exist` : [plain(e)];
    }
    case "get-or-empty": {
      const e = ctx.get(op.key);
      // Consul answers a missing key with the request's own DirEntry, value blanked.
      return [e !== undefined ? plain(e) : requestEntry(op)];
    }
    case "get-tree":
      return ctx.list(op.key).map(plain);
    default:
      return runCheckOrDelete(op, ctx);
  }
}

function requestEntry(op: TxnOp): KvEntry {
  return {
    Key: op.key,
    Flags: op.flags,
    Value: null,
    CreateIndex: 0,
    ModifyIndex: Number(op.index),
    LockIndex: 0,
    Session: op.session,
  };
}

function runCheckOrDelete(op: TxnOp, ctx: TxnContext): KvEntry[] | string {
  const k = q(op.key);
  switch (op.verb) {
    case "check-index": {
      const e = ctx.get(op.key);
      if (e === undefined) return `failed to check index, key ${k} doesn't exist`;
      if (BigInt(e.ModifyIndex) !== op.index) {
        return `failed index check for key ${k}, current modify index ${e.ModifyIndex} != ${op.index}`;
      }
      return [blank(e)];
    }
    case "check-session": {
      const e = ctx.get(op.key);
      if (e === undefined) return `failed to check session, key ${k} doesn't exist`;
      if (e.Session !== op.session) {
        return `failed session check for key ${k}, current session ${q(e.Session)} != ${q(op.session)}`;
      }
      return [blank(e)];
    }
    case "check-not-exists":
      return ctx.get(op.key) !== undefined ? `key ${k} exists` : [];
    case "delete":
      ctx.delete(op.key);
      return [];
    case "delete-cas":
      return ctx.deleteCas(op) ? [] : `failed to delete key ${k}, index is stale`;
    case "delete-tree":
      ctx.deleteTree(op.key);
      return [];
    case "set":
    case "cas":
    case "lock":
    case "unlock":
    case "get":
    case "get-or-empty":
    case "get-tree":
      return `unknown KV verb ${q(op.verb)}`;
    default:
      return unreachable(op.verb, "txn verb");
  }
}

/** Runs every op (collecting every error, as Consul's txnDispatch does) against `ctx`. */
export function runTxn(ops: readonly TxnOp[], ctx: TxnContext): TxnSuccess | TxnOpError[] {
  const results: KvEntry[] = [];
  const errors: TxnOpError[] = [];
  ops.forEach((op, i) => {
    const r = runTxnOp(op, ctx);
    if (typeof r === "string") errors.push({ OpIndex: i, What: r });
    else results.push(...r);
  });
  return errors.length > 0 ? errors : { kind: "txn", results };
}
