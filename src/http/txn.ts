/**
 * PUT /v1/txn (consul-compat.md §1.5; agent/txn_endpoint.go): a JSON array of at most 128 `{"KV": {...}}` ops,
 * committed all or nothing through Raft. 200 with Results, 409 with Errors (errors.ts), 413 past the limits.
 * Only KV ops exist in cairn: any other op type fails the txn with a per-op error, as an unknown verb does.
 */

import type { ServerApi } from "../api/types.js";
import {
  TXN_OPS_MAX,
  TXN_VERBS,
  TxnFailedError,
  type TxnOp,
  type TxnOpError,
  type TxnVerb,
  txnTooLarge,
} from "../fsm/index.js";
import { errorText } from "../util/errors.js";
import { goQuote } from "../util/goquote.js";
import { type Guard, guard } from "./acl-guard.js";
import { HttpError } from "./errors.js";
import { entryJson } from "./kv.js";
import { BodyTooLargeError, type HttpRequest, type HttpResponse } from "./model.js";
import { checkDatacenter, parseQueryOptions } from "./params.js";
import { jsonResponse, metaHeaders } from "./respond.js";

/** Verbs that change nothing: a txn of only these is a read (agent/txn_endpoint.go isWrite). */
const READ_VERBS: ReadonlySet<TxnVerb> = new Set<TxnVerb>([
  "get",
  "get-or-empty",
  "get-tree",
  "check-index",
  "check-session",
  "check-not-exists",
]);

/** Consul's txn_max_req_len default. */
export const TXN_BODY_BYTES_MAX = 512 * 1024;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parseFailed(why: string): HttpError {
  return new HttpError(400, `Failed to parse body: ${why}`);
}

/** An object's fields by lower-cased name (Go's decoder matches names case-insensitively), or null. */
function fields(v: unknown): Map<string, unknown> | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  return new Map(Object.entries(v).map(([k, x]) => [k.toLowerCase(), x]));
}

function text(f: Map<string, unknown>, name: string): string {
  const v = f.get(name) ?? "";
  if (typeof v !== "string") throw parseFailed(`json: cannot unmarshal into Go struct field KVTxnOp.${name}`);
  return v;
}

function uint64(f: Map<string, unknown>, name: string): bigint {
  const v = f.get(name) ?? 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw parseFailed(
      `json: cannot unmarshal ${JSON.stringify(v)} into Go struct field KVTxnOp.${name} of type uint64`,
    );
  }
  return BigInt(v);
}

function value(f: Map<string, unknown>): Uint8Array | null {
  const v = f.get("value") ?? null;
  if (v === null) return null;
  if (typeof v !== "string" || !BASE64.test(v)) throw parseFailed("illegal base64 data in KV Value");
  return new Uint8Array(Buffer.from(v, "base64"));
}

/** One body element: a TxnOp, or the text of why it cannot be one (the txn then fails with 409). */
function toOp(element: unknown): TxnOp | string {
  const top = fields(element);
  if (top === null) throw parseFailed("json: cannot unmarshal into Go value of type api.TxnOp");
  const kv = top.get("kv");
  if (kv === undefined || kv === null) return "cairn supports only KV operations in a transaction";
  const f = fields(kv);
  if (f === null) throw parseFailed("json: cannot unmarshal into Go struct field TxnOp.KV");
  const verb = text(f, "verb");
  const op = {
    key: text(f, "key"),
    value: value(f),
    flags: uint64(f, "flags"),
    index: uint64(f, "index"),
    session: text(f, "session"),
  };
  if (!(TXN_VERBS as readonly string[]).includes(verb)) return `unknown KV verb ${JSON.stringify(verb)}`;
  return { verb: verb as TxnVerb, ...op };
}

/**
 * The body as ops; a failing op becomes a TxnFailedError before anything reaches Raft. A value past
 * `valueBytesMax` is Consul's 413 `Value for key "<k>" is too large (<n> > <max> bytes)`, judged op by op in
 * order before any verb is (agent/txn_endpoint.go convertOps).
 */
export function parseTxnBody(body: Uint8Array, valueBytesMax = Number.POSITIVE_INFINITY): TxnOp[] {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch (e) {
    throw parseFailed(errorText(e));
  }
  if (!Array.isArray(raw)) throw parseFailed("json: cannot unmarshal into Go value of type api.TxnOps");
  if (raw.length > TXN_OPS_MAX) throw txnTooLarge(raw.length);
  const ops: TxnOp[] = [];
  const errors: TxnOpError[] = [];
  raw.forEach((element, i) => {
    const op = toOp(element);
    if (typeof op === "string") {
      errors.push({ OpIndex: i, What: op });
      return;
    }
    const size = op.value?.length ?? 0;
    if (size > valueBytesMax)
      throw new HttpError(
        413,
        `Value for key ${goQuote(op.key)} is too large (${size} > ${valueBytesMax} bytes)`,
      );
    ops.push(op);
  });
  if (errors.length > 0) throw new TxnFailedError(errors);
  return ops;
}

/** The body, within Consul's bound: the larger of txn_max_req_len and kv_max_value_size, with its 413 text. */
async function txnBody(req: HttpRequest, api: ServerApi): Promise<Uint8Array> {
  const max = Math.max(TXN_BODY_BYTES_MAX, api.kvValueBytesMax);
  try {
    return await req.body(max);
  } catch (err) {
    if (!(err instanceof BodyTooLargeError)) throw err;
    throw new BodyTooLargeError(err.bytes, max, `Request body too large, max size: ${max} bytes`);
  }
}

/**
 * Consul's kvsPreApply, op by op (agent/consul/txn_endpoint.go preCheck): delete-tree needs KeyWritePrefix,
 * reads are filtered afterwards, check-session and check-index need key:read (their outcome reveals the key),
 * every other verb key:write. Denials fail the txn with a per-op error carrying the denial text (409).
 */
function vetOps(acl: Guard, ops: readonly TxnOp[]): void {
  const errors: TxnOpError[] = [];
  ops.forEach((op, i) => {
    try {
      if (op.verb === "delete-tree") acl.requireKeyWritePrefix(op.key);
      else if (op.verb === "check-session" || op.verb === "check-index") acl.require("key", "read", op.key);
      else if (!(op.verb === "get" || op.verb === "get-tree" || op.verb === "get-or-empty"))
        acl.require("key", "write", op.key);
    } catch (e) {
      errors.push({ OpIndex: i, What: errorText(e) });
    }
  });
  if (errors.length > 0) throw new TxnFailedError(errors);
}

export async function txnEndpoint(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  parseQueryOptions(req.query);
  const ops = parseTxnBody(await txnBody(req, api), api.kvValueBytesMax);
  checkDatacenter(req.query, api);
  const acl = await guard(req, api);
  vetOps(acl, ops);
  const r = await api.txn(ops);
  // Consul's txnResultsFilter: results the token may not read are left out.
  const readable = acl.readable(r.results, "key", (e) => e.Key);
  // Go leaves a slice nil when nothing was appended (a txn of deletes only): null, not [].
  const results = readable.length === 0 ? null : readable.map((e) => ({ KV: entryJson(e) }));
  // Consul serves a txn of reads only as a read (Txn.Read), with query-meta headers; writes get none.
  const headers = ops.every((op) => READ_VERBS.has(op.verb))
    ? metaHeaders(api.queryMeta(r.results.reduce((m, e) => Math.max(m, Number(e.ModifyIndex)), 0)))
    : {};
  return jsonResponse(req, { Results: results, Errors: null }, headers);
}
