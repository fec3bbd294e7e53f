/**
 * The answer to a write forwarded to the leader, on the wire: the store's result, or why it did not commit. A
 * refusal by the store keeps its error's `code` (and session or txn errors), so the follower rebuilds the same
 * typed error and src/http maps it exactly as it would on the leader.
 */
import {
  AclError,
  type AclErrorCode,
  CatalogError,
  type CommandResult,
  InvalidBehaviorError,
  InvalidSessionError,
  type KvEntry,
  type SessionEntry,
  SessionIdError,
  SessionTtlError,
  TxnFailedError,
  type TxnOpError,
  TxnTooLargeError,
} from "../fsm/index.js";
import { CairnError, ProposalDroppedError, UnavailableError } from "../util/errors.js";
import { arrayOf, bool, type Check, int, nullable, object, optional, RpcDecodeError, str } from "./rpc.js";

/** A KvEntry as JSON: Flags as decimal digits, Value as base64 (or null). */
interface WireEntry {
  readonly Key: string;
  readonly Flags: string;
  readonly Value: string | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly LockIndex: number;
  readonly Session: string;
}

type WireResult =
  | { readonly bool: boolean }
  | { readonly session: SessionEntry | null }
  | { readonly txn: readonly WireEntry[] };

type ErrorKind = "invalid" | "dropped" | "unavailable";

export type WriteAnswer =
  /** A bare boolean is what servers before sessions answered: kept readable during a rolling upgrade. */
  | { readonly ok: WireResult | boolean }
  | {
      readonly error: string;
      readonly kind: ErrorKind;
      readonly code?: string;
      readonly session?: string;
      readonly errors?: readonly TxnOpError[];
    };

/** A write the state store refused for the caller's reason (e.g. an unknown peer): a plain error, 500 as in Consul. */
export class InvalidWriteError extends CairnError {
  readonly code = "invalid_write";
  override name = "InvalidWriteError";
}

/** The outcome of a proposal on the leader: the store's result, its refusals, or the server's own error. */
export type Outcome = CommandResult | CairnError;

export function toWire(r: Outcome): WriteAnswer {
  if (r instanceof Error) {
    const base = { error: r.message, kind: "invalid", code: r.code } as const;
    if (r instanceof InvalidSessionError) return { ...base, session: r.session };
    return r instanceof TxnFailedError ? { ...base, errors: r.errors } : base;
  }
  if (typeof r === "boolean") return { ok: { bool: r } };
  if (r === null) return { ok: { session: null } };
  if ("kind" in r) {
    const txn = r.results.map((e) => ({
      Key: e.Key,
      Flags: e.Flags.toString(),
      Value: e.Value === null ? null : Buffer.from(e.Value).toString("base64"),
      CreateIndex: e.CreateIndex,
      ModifyIndex: e.ModifyIndex,
      LockIndex: e.LockIndex,
      Session: e.Session,
    }));
    return { ok: { txn } };
  }
  const { extra: _extra, ...session } = r;
  return { ok: { session } };
}

/** The answer of a server that could not commit: a dropped proposal may be retried by the client, others not. */
export function failureAnswer(e: unknown): WriteAnswer {
  const error = e instanceof Error ? e.message : String(e);
  return { error, kind: e instanceof ProposalDroppedError ? "dropped" : "unavailable" };
}

function fromWire(w: WireResult): CommandResult {
  if ("bool" in w) return w.bool;
  if ("session" in w) return w.session;
  const results = w.txn.map(
    (e): KvEntry => ({
      ...e,
      Flags: BigInt(e.Flags),
      Value: e.Value === null ? null : new Uint8Array(Buffer.from(e.Value, "base64")),
    }),
  );
  return { kind: "txn", results };
}

/** The ACL refusals the store returns (fsm/acl.ts). */
const ACL_CODES: readonly AclErrorCode[] = ["acl_invalid", "acl_bootstrap_denied", "acl_bootstrap_reset"];

/** The result of a write answer; the store's refusals are returned (typed), server conditions thrown. */
export function unwrap(a: WriteAnswer): CommandResult {
  if ("ok" in a) return typeof a.ok === "boolean" ? a.ok : fromWire(a.ok);
  if (a.kind === "dropped") throw new ProposalDroppedError(a.error);
  if (a.kind === "unavailable") throw new UnavailableError(a.error);
  switch (a.code) {
    case "invalid_session":
      return new InvalidSessionError(a.session ?? "");
    case "session_ttl":
      return new SessionTtlError(a.error);
    case "invalid_behavior":
      return new InvalidBehaviorError(a.error);
    case "session_id":
      return new SessionIdError(a.error);
    case "txn_too_large":
      return new TxnTooLargeError(a.error);
    case "txn_failed":
      return new TxnFailedError(a.errors ?? []);
    case "catalog":
      return new CatalogError(a.error);
    default:
      if (a.code !== undefined && ACL_CODES.includes(a.code as AclErrorCode))
        return new AclError(a.code as AclErrorCode, a.error);
      throw new InvalidWriteError(a.error);
  }
}

// ---- the shape check of a WriteAnswer on arrival ----

const wireEntry = object({
  Key: str,
  Flags: (v, p) => {
    const s = str(v, p);
    if (!/^\d+$/.test(s)) throw new RpcDecodeError(`${p}: expected decimal digits`);
    return s;
  },
  Value: nullable(str),
  CreateIndex: int,
  ModifyIndex: int,
  LockIndex: int,
  Session: str,
});

const serviceCheck = object({ ID: str, Namespace: str });

const sessionEntry: Check<SessionEntry> = object({
  ID: str,
  Name: str,
  Node: str,
  LockDelay: int,
  Behavior: str,
  TTL: str,
  NodeChecks: nullable(arrayOf(str)),
  ServiceChecks: nullable(arrayOf(serviceCheck)),
  CreateIndex: int,
  ModifyIndex: int,
});

const txnOpError = object({ OpIndex: int, What: str });

const KINDS: readonly ErrorKind[] = ["invalid", "dropped", "unavailable"];

function wireResult(v: unknown, p: string): WireResult | boolean {
  if (typeof v === "boolean") return v;
  if (typeof v === "object" && v !== null) {
    if ("bool" in v) return { bool: bool(v.bool, `${p}.bool`) };
    if ("session" in v) return { session: nullable(sessionEntry)(v.session, `${p}.session`) };
    if ("txn" in v) return { txn: arrayOf(wireEntry)(v.txn, `${p}.txn`) };
  }
  throw new RpcDecodeError(`${p}: expected a boolean or one of bool, session, txn`);
}

export const writeAnswer: Check<WriteAnswer> = (v, p = "") => {
  if (typeof v === "object" && v !== null && "ok" in v) return { ok: wireResult(v.ok, "ok") };
  const e = object({
    error: str,
    kind: str,
    code: optional(str),
    session: optional(str),
    errors: optional(arrayOf(txnOpError)),
  })(v, p);
  const kind = KINDS.find((k) => k === e.kind);
  if (kind === undefined) throw new RpcDecodeError(`kind: unknown "${e.kind}"`);
  return { ...e, kind } as WriteAnswer;
};
