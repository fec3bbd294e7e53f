/**
 * Catalog shapes the client returns (Go's api.CatalogNode, api.Node, api.CatalogService, api.ServiceEntry
 * subsets), decoded from Consul's JSON with missing fields as zero values, and the query options of catalog
 * reads (`node-meta`, `near`, `filter`, `tag`).
 */
import { DecodeError } from "./errors.js";
import { isObject, type Json, num, str, toU64 } from "./json.js";

export interface CatalogNode {
  readonly id: string;
  readonly node: string;
  readonly address: string;
  readonly datacenter: string;
  readonly taggedAddresses: Readonly<Record<string, string>>;
  readonly meta: Readonly<Record<string, string>>;
  readonly createIndex: bigint;
  readonly modifyIndex: bigint;
}

export interface CatalogServiceInstance {
  readonly node: CatalogNode;
  readonly serviceId: string;
  readonly serviceName: string;
  readonly serviceTags: readonly string[];
  readonly servicePort: number;
}

export interface HealthCheck {
  readonly node: string;
  readonly checkId: string;
  readonly status: string;
  readonly output: string;
  readonly serviceId: string;
}

export interface CatalogQuery {
  /** `key:value` pairs, all of which a node must have. */
  readonly nodeMeta?: readonly string[];
  readonly near?: string;
  readonly filter?: string;
  readonly tags?: readonly string[];
}

function obj(v: Json | undefined, what: string): { [key: string]: Json } {
  if (!isObject(v)) throw new DecodeError(`Failed to decode ${what}: expected a JSON object`);
  return v;
}

function strMap(v: Json | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) out[k] = str(x);
  return out;
}

function strList(v: Json | undefined): string[] {
  return Array.isArray(v) ? v.map((x) => str(x)) : [];
}

export function decodeCatalogNode(v: Json | undefined): CatalogNode {
  const o = obj(v, "node");
  return {
    id: str(o.ID),
    node: str(o.Node),
    address: str(o.Address),
    datacenter: str(o.Datacenter),
    taggedAddresses: strMap(o.TaggedAddresses),
    meta: strMap(o.Meta ?? o.NodeMeta),
    createIndex: toU64(o.CreateIndex, "CreateIndex"),
    modifyIndex: toU64(o.ModifyIndex, "ModifyIndex"),
  };
}

/** A ServiceNode of /v1/catalog/service/<name>: its node fields, then the instance's. */
export function decodeServiceInstance(v: Json | undefined): CatalogServiceInstance {
  const o = obj(v, "service instance");
  return {
    node: decodeCatalogNode(v),
    serviceId: str(o.ServiceID),
    serviceName: str(o.ServiceName),
    serviceTags: strList(o.ServiceTags),
    servicePort: num(o.ServicePort),
  };
}

export interface NodeServices {
  readonly node: CatalogNode;
  /** Service name → tags. */
  readonly services: Record<string, string[]>;
}

/** /v1/catalog/node/<node>: null for an unknown node; else the node and its services. */
export function decodeNodeServices(v: Json | undefined): NodeServices | null {
  if (v === null || v === undefined) return null;
  const o = obj(v, "node services");
  const services: Record<string, string[]> = {};
  const list = isObject(o.Services) ? Object.values(o.Services) : [];
  for (const s of list) {
    const so = obj(s, "service");
    services[str(so.Service)] = strList(so.Tags);
  }
  return { node: decodeCatalogNode(o.Node), services };
}

export function decodeServices(v: Json | undefined): Record<string, string[]> {
  const o = obj(v, "services");
  const out: Record<string, string[]> = {};
  for (const [k, tags] of Object.entries(o)) out[k] = strList(tags);
  return out;
}

export function decodeHealthCheck(v: Json | undefined): HealthCheck {
  const o = obj(v, "health check");
  return {
    node: str(o.Node),
    checkId: str(o.CheckID),
    status: str(o.Status),
    output: str(o.Output),
    serviceId: str(o.ServiceID),
  };
}

/** The query parameters of a catalog read, as Go's api sends them. */
export function catalogParams(q: CatalogQuery): [string, string][] {
  const out: [string, string][] = [];
  for (const m of q.nodeMeta ?? []) out.push(["node-meta", m]);
  for (const t of q.tags ?? []) out.push(["tag", t]);
  if (q.near !== undefined && q.near !== "") out.push(["near", q.near]);
  if (q.filter !== undefined && q.filter !== "") out.push(["filter", q.filter]);
  return out;
}
