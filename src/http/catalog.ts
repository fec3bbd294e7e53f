/**
 * /v1/catalog/*: register, deregister, datacenters, nodes, services, service/<name>, node/<node> and
 * connect/<name> as Consul's agent/catalog_endpoint.go serves them (consul-compat.md §8.2, §8.3). Reads block
 * and carry Consul's query-meta headers; writes answer `true`.
 */
import type { CatalogQueryOptions, Queried, ServerApi } from "../api/types.js";
import {
  type Visible,
  visibleNodeServices,
  visibleNodes,
  visibleServiceNames,
  visibleServiceNodes,
} from "./acl-filters.js";
import { guard } from "./acl-guard.js";
import { requireDeregister, requireRegister } from "./catalog-acl.js";
import { parseDeregister, parseRegister } from "./catalog-body.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";
import type { Handler, HttpRequest, HttpResponse, RouteContext } from "./model.js";
import {
  applyFilter,
  applyFilterToMap,
  checkDatacenter,
  type Keep,
  parseFilter,
  parseQueryOptions,
} from "./params.js";
import { jsonResponse, metaHeaders } from "./respond.js";

/** A register body is a node, a service and a few checks; this bounds what a client can make the agent hold. */
const BODY_BYTES_MAX = 256 * 1024;

/**
 * The common read parameters: Consul's `parse` (consistency, wait, index), `node-meta=key:value` (split at
 * the first ":", repeatable, all must match) and `near` (accepted; without coordinates the natural order
 * stands). `filter` is read by readHandler.
 */
export function parseCatalogQuery(req: HttpRequest): CatalogQueryOptions {
  const q = parseQueryOptions(req.query);
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
  await requireRegister(await guard(req, api), api, body);
  await api.catalogRegister(body);
  return jsonResponse(req, true);
}

export async function catalogDeregister(req: HttpRequest, api: ServerApi): Promise<HttpResponse> {
  const body = parseDeregister(await req.body(BODY_BYTES_MAX));
  checkDatacenter(req.query, api);
  await requireDeregister(await guard(req, api), api, body);
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

/** How `?filter=` applies to a read's answer (the elements go-bexpr sees), after the read: the index stands. */
type Filtered = (keep: Keep, value: GoJson, read: Parameters<Read>) => GoJson | Promise<GoJson>;

/** The answer is a list: each element is a datum. */
const filterList: Filtered = (keep, value) => applyFilter(keep, value as GoJson[]);

/**
 * A blocking catalog or health read: the query parameters and `filter`, then the path segment (`missing` is
 * the 400 text when it is empty; null for paths without one), the datacenter, the read, the filter, and what
 * the token may see of it (`visible`); JSON with the query-meta headers.
 */
export function readHandler(
  missing: string | null,
  read: Read,
  visible: Visible,
  filtered: Filtered = filterList,
): Handler {
  return async (req, api, ctx) => {
    const q = parseCatalogQuery(req);
    const seg = missing === null ? "" : segment(ctx, missing);
    checkDatacenter(req.query, api);
    // Consul compiles the filter in the RPC handler: after the path checks and the datacenter.
    const keep = parseFilter(req.query);
    const acl = await guard(req, api);
    const { meta, value } = await read(api, seg, q, req);
    const out = keep === null ? value : await filtered(keep, value, [api, seg, q, req]);
    return jsonResponse(req, visible(acl, out), metaHeaders(meta));
  };
}

export const catalogNodes = readHandler(null, (api, _, q) => api.catalogNodes(q), visibleNodes);
/**
 * Consul filters the service instances (ServiceNode, the shape of /v1/catalog/service/<name>) and then
 * gathers the names and tags of those left (agent/consul/catalog_endpoint.go ListServices). cairn reads the
 * instances of each listed name after the blocking read, without blocking again.
 */
export const catalogServices = readHandler(
  null,
  (api, _, q) => api.catalogServices(q),
  visibleServiceNames,
  async (keep, value, [api, , q]) => {
    const out: Record<string, string[]> = {};
    const now = { ...q, minIndex: 0 };
    for (const name of Object.keys(value as Record<string, string[]>)) {
      const instances = applyFilter(keep, (await api.catalogService(name, [], now)).value as GoJson[]);
      if (instances.length === 0) continue;
      const tags = new Set<string>();
      for (const s of instances as { ServiceTags?: string[] | null }[])
        for (const t of s.ServiceTags ?? []) tags.add(t);
      out[name] = [...tags].sort();
    }
    return out;
  },
);
export const catalogService = readHandler(
  "Missing service name",
  (api, name, q, req) => api.catalogService(name, tagsOf(req), q),
  visibleServiceNodes,
);
/**
 * An unknown node is 200 with `null`, as Consul's handler returns its nil NodeServices. `filter` applies to
 * the node's services (Consul's NodeServices filters `Services`).
 */
export const catalogNode = readHandler(
  "Missing node name",
  (api, node, q) => api.catalogNodeServices(node, q),
  visibleNodeServices,
  (keep, value) => {
    if (value === null) return null;
    const v = value as { Services: Record<string, GoJson> };
    return { ...v, Services: applyFilterToMap(keep, v.Services) } as GoJson;
  },
);
/** Connect-capable instances: cairn has no service mesh, so none (the npm client only needs JSON). */
export const catalogConnect = readHandler(
  "Missing service name",
  async (api, _, q) => ({ meta: (await api.catalogServices(q)).meta, value: [] }),
  visibleServiceNodes,
);
