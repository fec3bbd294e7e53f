/**
 * /v1/session/*: create, destroy, renew, info, node, list as Consul's agent/session_endpoint.go serves them
 * (consul-compat.md §3.1). Reads block on the sessions table and answer with its index.
 */

import type { ServerApi, SessionRequest } from "../api/types.js";
import type { SessionEntry } from "../fsm/index.js";
import type { ServiceCheck } from "../snapshot/index.js";
import { errorText } from "../util/errors.js";
import { type Guard, guard } from "./acl-guard.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";
import type { HttpRequest, HttpResponse, RouteContext } from "./model.js";
import { checkDatacenter, parseGoDurationMs, parseQueryOptions } from "./params.js";
import { jsonResponse, metaHeaders } from "./respond.js";

/** A session body is a few hundred bytes; this bounds what a client can make the agent hold. */
const BODY_BYTES_MAX = 64 * 1024;
/** Consul's lockDelayMinThreshold: a bare number below it is seconds, at or above it nanoseconds. */
const LOCK_DELAY_MIN_THRESHOLD = 1000;
const NS_PER_S = 1_000_000_000;

/** A session in Consul's field order (structs.Session); LockDelay in nanoseconds. */
export function sessionJson(s: SessionEntry): GoJson {
  return {
    ID: s.ID,
    Name: s.Name,
    Node: s.Node,
    LockDelay: s.LockDelay,
    Behavior: s.Behavior,
    TTL: s.TTL,
    NodeChecks: s.NodeChecks,
    ServiceChecks: s.ServiceChecks === null ? null : s.ServiceChecks.map((c) => ({ ...c })),
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
}

function decodeFailed(why: string): HttpError {
  return new HttpError(400, `Request decode failed: ${why}`);
}

function str(v: unknown, field: string): string {
  if (typeof v !== "string")
    throw decodeFailed(`json: cannot unmarshal into Go struct field Session.${field}`);
  return v;
}

function strList(v: unknown, field: string): string[] | null {
  if (v === null) return null;
  if (!Array.isArray(v)) throw decodeFailed(`json: cannot unmarshal into Go struct field Session.${field}`);
  return v.map((x) => str(x, field));
}

/** Consul's FixupLockDelay: a Go duration string, or a number (below 1000: seconds; else nanoseconds). */
function lockDelayNs(v: unknown): number {
  let ns: number;
  if (typeof v === "string") {
    const ms = parseGoDurationMs(v);
    if (ms === null) throw decodeFailed(`time: invalid duration "${v}"`);
    ns = Math.round(ms * 1e6);
  } else if (typeof v === "number" && Number.isFinite(v)) {
    const n = Math.trunc(v);
    ns = n < LOCK_DELAY_MIN_THRESHOLD ? n * NS_PER_S : n;
  } else throw decodeFailed("json: cannot unmarshal into Go struct field Session.LockDelay");
  // Consul stores a negative delay (it acts as none) and wraps one past int64; cairn refuses both, so that the
  // session it stores is the one it was given (the log encodes a delay as a non-negative integer).
  if (!Number.isSafeInteger(ns) || ns < 0)
    throw decodeFailed(
      `LockDelay ${JSON.stringify(v)} is out of range (from 0s to ${Number.MAX_SAFE_INTEGER}ns)`,
    );
  return ns;
}

function serviceChecks(v: unknown): ServiceCheck[] | null {
  if (v === null) return null;
  if (!Array.isArray(v))
    throw decodeFailed("json: cannot unmarshal into Go struct field Session.ServiceChecks");
  return v.map((c) => {
    const o = fields(c);
    return {
      ID: str(o.get("id") ?? "", "ServiceChecks.ID"),
      Namespace: str(o.get("namespace") ?? "", "Namespace"),
    };
  });
}

/** An object's fields by lower-cased name: Go's encoding/json matches field names case-insensitively. */
function fields(v: unknown): Map<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw decodeFailed("json: cannot unmarshal into Go value of type structs.Session");
  }
  return new Map(Object.entries(v).map(([k, x]) => [k.toLowerCase(), x]));
}

/** The create body: empty allowed (all defaults); unknown fields ignored, as Go's decoder does. */
export function parseSessionRequest(body: Uint8Array): SessionRequest {
  const text = Buffer.from(body).toString("utf8");
  if (text.trim() === "") return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw decodeFailed(errorText(e));
  }
  const f = fields(raw);
  const out: { -readonly [K in keyof SessionRequest]: SessionRequest[K] } = {};
  if (f.has("name")) out.Name = str(f.get("name"), "Name");
  if (f.has("node")) out.Node = str(f.get("node"), "Node");
  if (f.has("lockdelay")) out.LockDelay = lockDelayNs(f.get("lockdelay"));
  if (f.has("behavior")) out.Behavior = str(f.get("behavior"), "Behavior");
  if (f.has("ttl")) out.TTL = str(f.get("ttl"), "TTL");
  // The deprecated Checks list meant node checks; NodeChecks wins when both are given.
  if (f.has("checks")) out.NodeChecks = strList(f.get("checks"), "Checks");
  if (f.has("nodechecks")) out.NodeChecks = strList(f.get("nodechecks"), "NodeChecks");
  if (f.has("servicechecks")) out.ServiceChecks = serviceChecks(f.get("servicechecks"));
  return out;
}

function sessionId(ctx: RouteContext): string {
  if (ctx.rest === "") throw new HttpError(400, "Missing session");
  return ctx.rest;
}

export async function sessionCreate(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const spec = parseSessionRequest(await req.body(BODY_BYTES_MAX));
  checkDatacenter(req.query, api);
  // A body's "Node":"" replaces the agent's node, which Consul's server refuses as a plain error: 500
  // (agent/consul/session_endpoint.go Apply). The Go and npm clients leave Node out when it is empty.
  if (spec.Node === "") throw new HttpError(500, "Must provide Node");
  (await guard(req, api)).require("session", "write", spec.Node ?? api.agentSelf().nodeName);
  const id = await api.sessionCreate(spec);
  return jsonResponse(req, { ID: id });
}

/**
 * Destroy and renew need session:write on the session's node (Consul's Session.Apply and Session.Renew); an
 * unknown session is left to the endpoint, which answers as it does without ACLs.
 */
async function requireSessionWrite(acl: Guard, api: ServerApi, id: string): Promise<void> {
  // Management (and every request with ACLs off) may write any session: no read on the renew path.
  if (acl.authorizer.isManagement) return;
  // A default (leader) read: a stale one could miss a session just created and skip the check.
  const { value } = await api.sessionInfo(id, { consistency: "default", minIndex: 0, waitMs: 0 });
  if (value.session !== null) acl.require("session", "write", value.session.Node);
}

export async function sessionDestroy(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  const id = sessionId(ctx);
  checkDatacenter(req.query, api);
  await requireSessionWrite(await guard(req, api), api, id);
  await api.sessionDestroy(id);
  return jsonResponse(req, true);
}

export async function sessionRenew(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  const id = sessionId(ctx);
  checkDatacenter(req.query, api);
  await requireSessionWrite(await guard(req, api), api, id);
  const s = await api.sessionRenew(id);
  if (s === null) throw new HttpError(404, `Session id '${id}' not found`);
  return jsonResponse(req, [sessionJson(s)]);
}

export async function sessionInfo(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  const id = sessionId(ctx);
  checkDatacenter(req.query, api);
  const acl = await guard(req, api);
  const { meta, value } = await api.sessionInfo(id, q);
  // Consul answers an unknown session with an empty list, not 404; one the token may not read likewise.
  const shown = value.session !== null && acl.allows("session", "read", value.session.Node);
  return jsonResponse(
    req,
    shown && value.session !== null ? [sessionJson(value.session)] : [],
    metaHeaders(meta),
  );
}

export async function sessionList(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  checkDatacenter(req.query, api);
  const acl = await guard(req, api);
  const { meta, value } = await api.sessionList(q);
  const sessions = acl.readable(value.sessions, "session", (x) => x.Node);
  return jsonResponse(req, sessions.map(sessionJson), metaHeaders(meta));
}

export async function sessionNode(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  const q = parseQueryOptions(req.query);
  if (ctx.rest === "") throw new HttpError(400, "Missing node name");
  checkDatacenter(req.query, api);
  const acl = await guard(req, api);
  const { meta, value } = await api.sessionNode(ctx.rest, q);
  const sessions = acl.readable(value.sessions, "session", (x) => x.Node);
  return jsonResponse(req, sessions.map(sessionJson), metaHeaders(meta));
}
