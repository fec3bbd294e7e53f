/**
 * /v1/kv/<key>: GET, PUT, DELETE as Consul's agent/kvs_endpoint.go serves them, checks in Consul's order so
 * that the first failure reported is Consul's. The key is the URL-decoded rest of the path (%2F included);
 * any key is accepted (permissive, "Decisions for cairn"); the store refuses keys it cannot encode.
 */

import type { Queried, ServerApi } from "../api/types.js";
import { type GetResult, type KvCommand, type KvEntry, VALUE_BYTES_MAX } from "../fsm/index.js";
import { guard } from "./acl-guard.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";
import {
  BodyTooLargeError,
  emptyResponse,
  type Handler,
  type HttpRequest,
  type HttpResponse,
  type RouteContext,
} from "./model.js";
import { checkDatacenter, encodeGoQuery, get, has, parseQueryOptions, parseUint64 } from "./params.js";
import { jsonResponse, metaHeaders } from "./respond.js";

const KV_MAX_VALUE_SIZE_DOCS =
  "https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size";

/** An entry in Consul's field order (structs.DirEntry: Session, omitempty, comes before the RaftIndex). */
export function entryJson(e: KvEntry): GoJson {
  return {
    LockIndex: e.LockIndex,
    Key: e.Key,
    Flags: e.Flags,
    // Go writes a nil []byte as null and any other, even empty, as base64.
    Value:
      e.Value === null
        ? null
        : Buffer.from(e.Value.buffer, e.Value.byteOffset, e.Value.length).toString("base64"),
    Session: e.Session === "" ? undefined : e.Session,
    CreateIndex: e.CreateIndex,
    ModifyIndex: e.ModifyIndex,
  };
}

function missingKey(key: string): void {
  if (key === "") throw new HttpError(400, "Missing key name");
}

/** Consul's conflictingFlags: more than one of `names` present → 400 echoing the query. */
function conflictingFlags(q: URLSearchParams, names: readonly string[]): void {
  if (names.filter((n) => has(q, n)).length > 1) {
    throw new HttpError(400, `Conflicting flags: ${encodeGoQuery(q)}\n`);
  }
}

export const kvEndpoint: Readonly<Record<string, Handler>> = {
  GET: (req, api, ctx) => (has(req.query, "keys") ? kvKeys(req, api, ctx) : kvGet(req, api, ctx)),
  PUT: kvPut,
  DELETE: kvDelete,
};

async function kvGet(req: HttpRequest, api: ServerApi, ctx: RouteContext): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  const key = ctx.rest;
  const recurse = has(req.query, "recurse");
  if (!recurse) missingKey(key);
  checkDatacenter(req.query, api);
  const acl = await guard(req, api);
  if (recurse) {
    // Consul's KVS.List: `list` on the prefix only with enable_key_list_policy; entries filtered by key:read.
    if (api.acl.aclSettings().enableKeyListPolicy === true) acl.require("key", "list", key);
    const { meta, value } = await api.kvList(key, q);
    const headers = metaHeaders(meta);
    const entries = acl.readable(value.entries, "key", (e) => e.Key);
    if (entries.length === 0) return emptyResponse(404, headers);
    return jsonResponse(req, entries.map(entryJson), headers);
  }
  acl.require("key", "read", key);
  // Not awaited: a blocking query then holds no suspended frame of this function (api/blocking.ts says why).
  return api.kvGet(key, q).then((answer) => kvGetAnswer(req, answer));
}

function kvGetAnswer(req: HttpRequest, { meta, value }: Queried<GetResult>): HttpResponse {
  const headers = metaHeaders(meta);
  if (value.entry === null) return emptyResponse(404, headers);
  if (has(req.query, "raw")) {
    // CVE-2020-25864: the raw value must never be rendered as HTML by a browser.
    const body = value.entry.Value ?? new Uint8Array(0);
    return {
      status: 200,
      headers: {
        ...headers,
        "Content-Type": "text/plain",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Content-Length": String(body.length),
      },
      body,
    };
  }
  return jsonResponse(req, [entryJson(value.entry)], headers);
}

async function kvKeys(req: HttpRequest, api: ServerApi, ctx: RouteContext): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  // The historic misspelling first, so that `separator` wins when both are given.
  let separator = "";
  if (has(req.query, "seperator")) separator = get(req.query, "seperator");
  if (has(req.query, "separator")) separator = get(req.query, "separator");
  checkDatacenter(req.query, api);
  const acl = await guard(req, api);
  if (api.acl.aclSettings().enableKeyListPolicy === true) acl.require("key", "list", ctx.rest);
  const { meta, value } = await api.kvKeys(ctx.rest, separator, q);
  const headers = metaHeaders(meta);
  // Consul's filterKeys: a key (or a folder ending in the separator) the token may not read is left out.
  const keys = acl.readable(value.keys, "key", (k) => k);
  // The root prefix answers [] rather than 404.
  if (keys.length === 0 && ctx.rest !== "") return emptyResponse(404, headers);
  return jsonResponse(req, keys, headers);
}

/** The value limit: the agent's kv_max_value_size, never above what a command can carry. */
function valueBytesMax(api: ServerApi): number {
  return Math.min(api.kvValueBytesMax, VALUE_BYTES_MAX);
}

function tooLarge(bytes: number, max: number): BodyTooLargeError {
  const msg = `Request body(${bytes} bytes) too large, max size: ${max} bytes. See ${KV_MAX_VALUE_SIZE_DOCS}.`;
  return new BodyTooLargeError(bytes, max, msg);
}

/** Reads the value: refused up front on Content-Length (as Consul), and bounded while streaming. */
async function readValue(req: HttpRequest, api: ServerApi): Promise<Uint8Array | null> {
  const max = valueBytesMax(api);
  const declared = req.headers("content-length");
  if (declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) > max) {
    throw tooLarge(Number(declared), max);
  }
  let bytes: Uint8Array;
  try {
    bytes = await req.body(max);
  } catch (err) {
    // A chunked body has no Content-Length: report what had arrived when the limit was hit.
    if (err instanceof BodyTooLargeError) throw tooLarge(err.bytes, max);
    throw err;
  }
  // Go's bytes.Buffer of an empty body is a nil slice: Consul stores (and returns) null.
  return bytes.length === 0 ? null : bytes;
}

function putCommand(q: URLSearchParams, key: string, value: Uint8Array | null): KvCommand {
  const flags = has(q, "flags") ? parseUint64(get(q, "flags")) : 0n;
  if (has(q, "cas")) return { op: "cas", key, value, flags, index: parseUint64(get(q, "cas")) };
  if (has(q, "acquire")) return { op: "acquire", key, value, flags, session: get(q, "acquire") };
  if (has(q, "release")) return { op: "release", key, value, flags, session: get(q, "release") };
  return { op: "set", key, value, flags };
}

async function kvPut(req: HttpRequest, api: ServerApi, ctx: RouteContext): Promise<HttpResponse> {
  parseQueryOptions(req.query);
  missingKey(ctx.rest);
  conflictingFlags(req.query, ["cas", "acquire", "release"]);
  // Parse the integers before reading the body, as Consul does, so a bad flag costs no upload.
  putCommand(req.query, ctx.rest, null);
  const value = await readValue(req, api);
  const cmd = putCommand(req.query, ctx.rest, value);
  checkDatacenter(req.query, api);
  (await guard(req, api)).require("key", "write", ctx.rest);
  const ok = await api.kvWrite(cmd);
  // A plain set is always true on success; only cas/acquire/release report the store's answer.
  return jsonResponse(req, cmd.op === "set" ? true : ok);
}

async function kvDelete(req: HttpRequest, api: ServerApi, ctx: RouteContext): Promise<HttpResponse> {
  parseQueryOptions(req.query);
  conflictingFlags(req.query, ["recurse", "cas"]);
  const key = ctx.rest;
  let cmd: KvCommand;
  if (has(req.query, "recurse")) {
    cmd = { op: "delete-tree", prefix: key };
  } else {
    missingKey(key);
    cmd = has(req.query, "cas")
      ? { op: "delete-cas", key, index: parseUint64(get(req.query, "cas")) }
      : { op: "delete", key };
  }
  checkDatacenter(req.query, api);
  const acl = await guard(req, api);
  if (cmd.op === "delete-tree") acl.requireKeyWritePrefix(key);
  else acl.require("key", "write", key);
  const ok = await api.kvWrite(cmd);
  return jsonResponse(req, cmd.op === "delete-cas" ? ok : true);
}
