/**
 * /v1/catalog/*: register, deregister, datacenters, nodes, services, service/<name>, node/<node> and
 * connect/<name> as Consul's agent/catalog_endpoint.go serves them (consul-compat.md §8.2, §8.3). Reads block
 * and carry Consul's query-meta headers; writes answer `true`.
 */
import type { CatalogQueryOptions, Queried, ServerApi } from "../api/types.js";
import { parseDeregister, parseRegister } from "./catalog-body.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";
import type { Handler, HttpRequest, HttpResponse, RouteContext } from "./model.js";
import { checkDatacenter, parseQueryOptions } from "./params.js";
import { jsonResponse, metaHeaders } from "./respond.js";

/** A register body is a node, a service and a few checks; this bounds what a client can make the agent hold. */
const BODY_BYTES_MAX = 256 * 1024;

/**
 * The common read parameters: Consul's `parse` (consistency, wait, index), `filter` (go-bexpr, which cairn
 * does not implement: refused rather than ignored), `node-meta=key:value` (split at the first ":", repeatable,
 * all must match) and `near` (accepted; without coordinates the natural order stands).
 */
export function parseCatalogQuery(req: HttpRequest): CatalogQueryOptions {
  const q = parseQueryOptions(req.query);
  if (req.query.has("filter")) throw new HttpError(400, "filter not supported");
  const nodeMeta = req.query.getAll("node-meta").map((kv): [string, string] => {
    const at = kv.indexOf(":");
    return at === -1 ? [kv, ""] : [kv.slice(0, at), kv.slice(at + 1)];
  });
  return nodeMeta.length > 0 ? { ...q, nodeMeta } : q;
}

/** Repeated `tag=` parameters, as the Go client sends them. */
export function tagsOf(req: HttpRequest): string[] {
  return req.query.getAll("tag");
}

function segment(ctx: RouteContext, missing: string): string {
  if (ctx.rest === "") throw new HttpError(400, missing);
  return ctx.rest;
}

export async function catalogRegister(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const body = parseRegister(await req.body(BODY_BYTES_MAX));
  checkDatacenter(req.query, api);
  await api.catalogRegister(body);
  return jsonResponse(req, true);
}

export async function catalogDeregister(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const body = parseDeregister(await req.body(BODY_BYTES_MAX));
  checkDatacenter(req.query, api);
  await api.catalogDeregister(body);
  return jsonResponse(req, true);
}

export async function catalogDatacenters(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  return jsonResponse(req, await api.catalogDatacenters());
}

type Read = (
  api: ServerApi,
  segment: string,
  q: CatalogQueryOptions,
  req: HttpRequest,
) => Promise<Queried<GoJson>>;

/**
 * A blocking catalog or health read: the query parameters, then the path segment (`missing` is the 400 text
 * when it is empty; null for paths without one), the datacenter, the read; JSON with the query-meta headers.
 */
export function readHandler(missing: string | null, read: Read): Handler {
  return async (req, api, ctx) => {
    const q = parseCatalogQuery(req);
    const seg = missing === null ? "" : segment(ctx, missing);
    checkDatacenter(req.query, api);
    const { meta, value } = await read(api, seg, q, req);
    return jsonResponse(req, value, metaHeaders(meta));
  };
}

export const catalogNodes = readHandler(null, (api, _, q) => api.catalogNodes(q));
export const catalogServices = readHandler(null, (api, _, q) => api.catalogServices(q));
export const catalogService = readHandler("Missing service name", (api, name, q, req) =>
  api.catalogService(name, tagsOf(req), q),
);
/** An unknown node is 200 with `null`, as Consul's handler returns its nil NodeServices. */
export const catalogNode = readHandler("Missing node name", (api, node, q) =>
  api.catalogNodeServices(node, q),
);
/** Connect-capable instances: cairn has no service mesh, so none (the npm client only needs JSON). */
export const catalogConnect = readHandler("Missing service name", async (api, _, q) => ({
  meta: (await api.catalogServices(q)).meta,
  value: [],
}));
