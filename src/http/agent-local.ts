/**
 * The agent's own services and checks (consul-compat.md §8.5), served from its local state (RouteContext.local):
 * register/deregister, listings, TTL updates, maintenance mode and the per-service health endpoints, with
 * Consul's status codes and texts. The bodies are decoded here; the rules live in src/server/local-defs.ts.
 */

import { WAIT_MS_MAX } from "../api/blocking.js";
import type { CheckStatus, JsonObject, ServiceDef } from "../local/defs.js";
import {
  catalogServiceJson,
  type HealthCheck,
  healthCheckJson,
  type Json,
  serviceJson,
} from "../local/json.js";
import type { LocalAgent } from "../local/state.js";
import { errorText } from "../util/errors.js";
import { parseGoBool } from "../util/flags.js";
import { goQuote } from "../util/goquote.js";
import { fnv1a } from "../util/index.js";
import { type Guard, guard } from "./acl-guard.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";
import { emptyResponse, type Handler, type HttpRequest, type RouteContext, textResponse } from "./model.js";
import { applyFilterToMap, get, has, parseFilter, parseQueryOptions } from "./params.js";
import { requestToken } from "./request-token.js";
import { jsonResponse } from "./respond.js";

/** Bodies of these endpoints are small definitions; Consul reads them whole too. */
const BODY_BYTES_MAX = 1024 * 1024;

function localOf(ctx: RouteContext): LocalAgent {
  if (ctx.local === undefined)
    throw new HttpError(500, "This agent has no local state for services and checks");
  return ctx.local;
}

/** LocalStateError (duck-typed: http imports server types only) → Consul's status and text. */
function mapped<T>(p: Promise<T>): Promise<T> {
  return p.catch((e: unknown) => {
    const le = e as { name?: string; status?: number; message?: string };
    if (le?.name === "LocalStateError" && typeof le.status === "number")
      throw new HttpError(le.status, le.message ?? "");
    throw e;
  });
}

async function bodyObject(req: HttpRequest): Promise<JsonObject> {
  const text = new TextDecoder().decode(await req.body(BODY_BYTES_MAX));
  if (text.trim() === "") throw new HttpError(400, "Request decode failed: EOF");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `Request decode failed: ${errorText(e)}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new HttpError(400, "Request decode failed: the body must be a JSON object");
  return v as JsonObject;
}

const ok = () => emptyResponse(200);

/** A body field's string value by case-insensitive name (Go's decoder matches names so), or "". */
function field(body: JsonObject, name: string): string {
  const k = Object.keys(body).find((x) => x.toLowerCase() === name.toLowerCase());
  const v = k === undefined ? undefined : body[k];
  return typeof v === "string" ? v : "";
}

/**
 * Writing a local check needs the rights of its owner (Consul's vetCheckUpdateWithAuthorizer): service:write
 * on its service's name, or node:write on this node for a node check. An unknown check is left to the
 * endpoint's own 404.
 */
function requireCheckWrite(acl: Guard, local: LocalAgent, checkId: string): void {
  const check = local.checks().find((c) => c.CheckID === checkId);
  if (check === undefined) return;
  if (check.ServiceID !== "") acl.require("service", "write", check.ServiceName);
  else acl.require("node", "write", local.nodeName);
}

/** Consul's filterChecksWithAuthorizer: node checks need node:read, service checks service:read. */
function checkVisible(acl: Guard, local: LocalAgent, c: HealthCheck): boolean {
  return c.ServiceID === ""
    ? acl.allows("node", "read", local.nodeName)
    : acl.allows("service", "read", c.ServiceName);
}

export const serviceRegister: Handler = async (req, api, ctx) => {
  const local = localOf(ctx);
  const body = await bodyObject(req);
  const acl = await guard(req, api);
  acl.require("service", "write", field(body, "Name"));
  // Replacing a service by ID also needs the right on the name it had.
  const replaced = local.service(field(body, "ID") || field(body, "Name"));
  if (replaced !== undefined) acl.require("service", "write", replaced.Service);
  // The request's token is kept with the service: anti-entropy registers it in the catalog with it.
  await mapped(local.registerServiceJson(body, has(req.query, "replace-existing-checks"), requestToken(req)));
  return ok();
};

/** PUT /v1/agent/reload: the agent reads its config files again (see LocalState.reload); empty 200 as Consul. */
export const agentReload: Handler = async (req, api, ctx) => {
  (await guard(req, api)).require("agent", "write", localOf(ctx).nodeName);
  await mapped(localOf(ctx).reload());
  return ok();
};

export const serviceDeregister: Handler = async (req, api, ctx) => {
  if (ctx.rest === "") throw new HttpError(400, "Missing service ID");
  const existing = localOf(ctx).service(ctx.rest);
  if (existing !== undefined) (await guard(req, api)).require("service", "write", existing.Service);
  await mapped(localOf(ctx).deregisterService(ctx.rest));
  return ok();
};

/** `{id: Service}`; `filter` (§8.10) keeps the services it matches. */
export const agentServices: Handler = async (req, api, ctx) => {
  const keep = parseFilter(req.query);
  const local = localOf(ctx);
  const acl = await guard(req, api);
  const out: Record<string, Json> = {};
  for (const s of acl.readable(local.services(), "service", (x) => x.Service))
    out[s.ID] = serviceJson(s, local.datacenter);
  return jsonResponse(req, (keep === null ? out : applyFilterToMap(keep, out)) as GoJson);
};

/** Consul's ContentHash lets clients block until a service changes; any stable digest of its content will do. */
function contentHash(s: ServiceDef): string {
  return fnv1a(JSON.stringify(catalogServiceJson(s)))
    .toString(16)
    .padStart(8, "0");
}

/** Bound on wake-ups of one hash-blocking read: each is a change to the local state that left this hash alone. */
const HASH_WAKES_MAX = 1000;

/**
 * GET /v1/agent/service/<id>[?hash=<ContentHash>&wait=<dur>]: with `hash`, waits (up to `wait`, default 5 min,
 * capped at 10 min as Consul's blocking reads) until the service's hash differs, then answers as without it.
 */
export const agentService: Handler = async (req, api, ctx) => {
  const local = localOf(ctx);
  const acl = await guard(req, api);
  const want = get(req.query, "hash");
  const { waitMs } = parseQueryOptions(req.query);
  const deadline = local.now() + Math.min(waitMs, WAIT_MS_MAX);
  let s = local.service(ctx.rest);
  for (let i = 0; i < HASH_WAKES_MAX && want !== "" && s !== undefined && contentHash(s) === want; i++) {
    const leftMs = deadline - local.now();
    if (leftMs <= 0 || !(await local.nextChange(leftMs))) break;
    s = local.service(ctx.rest);
  }
  if (s === undefined) throw new HttpError(404, `unknown service ID: ${ctx.rest}`);
  acl.require("service", "read", s.Service);
  const hash = contentHash(s);
  return jsonResponse(req, { ...serviceJson(s, local.datacenter), ContentHash: hash } as GoJson, {
    "X-Consul-ContentHash": hash,
  });
};

/** `{checkID: HealthCheck}`; `filter` (§8.10) keeps the checks it matches. */
export const agentChecks: Handler = async (req, api, ctx) => {
  const keep = parseFilter(req.query);
  const local = localOf(ctx);
  const acl = await guard(req, api);
  const out: Record<string, Json> = {};
  for (const c of local.checks()) if (checkVisible(acl, local, c)) out[c.CheckID] = healthCheckJson(c);
  return jsonResponse(req, (keep === null ? out : applyFilterToMap(keep, out)) as GoJson);
};

export const checkRegister: Handler = async (req, api, ctx) => {
  const local = localOf(ctx);
  const body = await bodyObject(req);
  const acl = await guard(req, api);
  const serviceId = field(body, "ServiceID");
  const owner = serviceId === "" ? undefined : local.service(serviceId);
  if (owner !== undefined) acl.require("service", "write", owner.Service);
  else acl.require("node", "write", local.nodeName);
  await mapped(local.registerCheckJson(body, requestToken(req)));
  return ok();
};

export const checkDeregister: Handler = async (req, api, ctx) => {
  requireCheckWrite(await guard(req, api), localOf(ctx), ctx.rest);
  await mapped(localOf(ctx).deregisterCheck(ctx.rest));
  return ok();
};

function ttlVerb(status: CheckStatus): Handler {
  return async (req, api, ctx) => {
    requireCheckWrite(await guard(req, api), localOf(ctx), ctx.rest);
    await mapped(localOf(ctx).updateTtl(ctx.rest, status, get(req.query, "note")));
    return ok();
  };
}

export const checkPass = ttlVerb("passing");
export const checkWarn = ttlVerb("warning");
export const checkFail = ttlVerb("critical");

export const checkUpdate: Handler = async (req, api, ctx) => {
  const local = localOf(ctx);
  const body = await bodyObject(req);
  const pick = (name: string) => field(body, name);
  requireCheckWrite(await guard(req, api), local, ctx.rest);
  const status = pick("Status");
  if (status !== "passing" && status !== "warning" && status !== "critical")
    throw new HttpError(400, `Invalid check status: '${status}'`);
  await mapped(local.updateTtl(ctx.rest, status, pick("Output")));
  return ok();
};

/** `?enable=` as Consul reads it: required, Go's ParseBool. */
function enableParam(req: HttpRequest): boolean {
  const raw = get(req.query, "enable");
  if (raw === "") throw new HttpError(400, "Missing value for enable");
  try {
    return parseGoBool(raw);
  } catch {
    throw new HttpError(400, `Invalid value for enable: ${goQuote(raw)}`);
  }
}

export const serviceMaintenance: Handler = async (req, api, ctx) => {
  if (ctx.rest === "") throw new HttpError(400, "Missing service ID");
  const enable = enableParam(req);
  const s = localOf(ctx).service(ctx.rest);
  if (s !== undefined) (await guard(req, api)).require("service", "write", s.Service);
  await mapped(
    localOf(ctx).serviceMaintenance(ctx.rest, enable, get(req.query, "reason"), requestToken(req)),
  );
  return ok();
};

export const nodeMaintenance: Handler = async (req, api, ctx) => {
  const enable = enableParam(req);
  (await guard(req, api)).require("node", "write", localOf(ctx).nodeName);
  await mapped(localOf(ctx).nodeMaintenance(enable, get(req.query, "reason"), requestToken(req)));
  return ok();
};

// ---- /v1/agent/health/service/{id,name}/<x> ----

type Aggregated = "passing" | "warning" | "critical" | "maintenance";

/** api.HealthChecks.AggregatedStatus: maintenance first, then the worst status. */
function aggregate(checks: readonly HealthCheck[]): Aggregated {
  if (checks.some((c) => c.CheckID === "_node_maintenance" || c.CheckID.startsWith("_service_maintenance:")))
    return "maintenance";
  if (checks.some((c) => c.Status === "critical")) return "critical";
  return checks.some((c) => c.Status === "warning") ? "warning" : "passing";
}

const CODE: Readonly<Record<Aggregated, number>> = {
  passing: 200,
  warning: 429,
  critical: 503,
  maintenance: 503,
};

function serviceInfo(
  local: LocalAgent,
  id: string,
): { status: Aggregated; json: Record<string, Json> } | null {
  const s = local.service(id);
  if (s === undefined) return null;
  const checks = local.serviceChecks(id);
  const status = aggregate(checks);
  return {
    status,
    json: {
      AggregatedStatus: status,
      Service: serviceJson(s, local.datacenter),
      Checks: checks.map(healthCheckJson),
    },
  };
}

function healthResponse(req: HttpRequest, code: number, status: string, json: Json) {
  if (get(req.query, "format") === "text") return textResponse(code, status);
  return jsonResponse(req, json as GoJson, {}, code);
}

export const healthServiceById: Handler = async (req, api, ctx) => {
  if (ctx.rest === "") throw new HttpError(400, "Missing serviceID");
  const s = localOf(ctx).service(ctx.rest);
  if (s !== undefined) (await guard(req, api)).require("service", "read", s.Service);
  const info = serviceInfo(localOf(ctx), ctx.rest);
  if (info === null) {
    const reason = `ServiceId ${ctx.rest} not found`;
    return healthResponse(req, 404, reason, { AggregatedStatus: "critical", Service: null, Checks: null });
  }
  return healthResponse(req, CODE[info.status], info.status, info.json);
};

export const healthServiceByName: Handler = async (req, api, ctx) => {
  if (ctx.rest === "") throw new HttpError(400, "Missing service Name");
  (await guard(req, api)).require("service", "read", ctx.rest);
  const local = localOf(ctx);
  let code = 404;
  let status = `ServiceName ${ctx.rest} Not Found`;
  const out: Json[] = [];
  for (const s of local.services().filter((x) => x.Service === ctx.rest)) {
    const info = serviceInfo(local, s.ID);
    if (info === null) continue;
    out.push(info.json);
    // The worst instance decides: passing 200 < warning 429 < critical 503.
    if (code === 404 || CODE[info.status] > code) {
      code = CODE[info.status];
      status = info.status;
    }
  }
  return healthResponse(req, code, status, out);
};
