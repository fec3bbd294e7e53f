/**
 * /v1/health/*: node/<node>, checks/<service>, service/<service> and state/<state> as Consul's
 * agent/health_endpoint.go serves them (consul-compat.md §8.4): blocking reads with Consul's indexes, `tag`
 * (repeatable), `passing` (presence-based, its value a Go bool), `node-meta`, `near`, `filter` (refused).
 */
import { HEALTH_STATES, type HealthState } from "../fsm/index.js";
import type { ServerApi } from "../server/api.js";
import { parseCatalogQuery, tagsOf } from "./catalog.js";
import { HttpError } from "./errors.js";
import type { HttpRequest, HttpResponse, RouteContext } from "./model.js";
import { checkDatacenter } from "./params.js";
import { jsonResponse, metaHeaders } from "./respond.js";

function segment(ctx: RouteContext, missing: string): string {
  if (ctx.rest === "") throw new HttpError(400, missing);
  return ctx.rest;
}

/** Go's strconv.ParseBool, with "" (a bare `?passing`) as true. */
function parsePassing(q: URLSearchParams): boolean {
  if (!q.has("passing")) return false;
  const v = q.get("passing") ?? "";
  if (["", "1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  throw new HttpError(400, "Invalid value for ?passing");
}

export async function healthNode(req: HttpRequest, api: ServerApi, ctx: RouteContext): Promise<HttpResponse> {
  const q = parseCatalogQuery(req);
  const node = segment(ctx, "Missing node name");
  checkDatacenter(req.query, api);
  const { meta, value } = await api.healthNode(node, q);
  return jsonResponse(req, value, metaHeaders(meta));
}

export async function healthChecks(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  const q = parseCatalogQuery(req);
  const service = segment(ctx, "Missing service name");
  checkDatacenter(req.query, api);
  const { meta, value } = await api.healthChecks(service, q);
  return jsonResponse(req, value, metaHeaders(meta));
}

export async function healthService(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  const q = parseCatalogQuery(req);
  const service = segment(ctx, "Missing service name");
  const passing = parsePassing(req.query);
  checkDatacenter(req.query, api);
  const { meta, value } = await api.healthService(service, tagsOf(req), passing, q);
  return jsonResponse(req, value, metaHeaders(meta));
}

export async function healthState(
  req: HttpRequest,
  api: ServerApi,
  ctx: RouteContext,
): Promise<HttpResponse> {
  const q = parseCatalogQuery(req);
  const state = segment(ctx, "Missing check state");
  if (!(HEALTH_STATES as readonly string[]).includes(state)) {
    throw new HttpError(400, `Invalid check state: '${state}'`);
  }
  checkDatacenter(req.query, api);
  const { meta, value } = await api.healthState(state as HealthState, q);
  return jsonResponse(req, value, metaHeaders(meta));
}
