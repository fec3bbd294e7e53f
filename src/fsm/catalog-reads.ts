/**
 * Catalog and health reads with Consul's index rules (consul-compat.md §8.3, §8.4), answering in the JSON
 * shapes of §8.1. Index rules:
 * - nodes: the "nodes" row; services and node/<n>: max("nodes", "services"); health node and state: "checks";
 * - catalog service/<s>, health checks/<s> and service/<s>: `maxIndexForService` — the "service.<s>" row while
 *   instances exist; with none, the "service_last_extinction" row, else max of nodes, services (and checks for
 *   the health reads); never 0.
 * Names are looked up as Consul's indexes compare them (names.ts): nodes, service names and IDs, check IDs
 * ignore case.
 */
import type { CatalogTrees } from "./catalog.js";
import {
  namePrefix,
  nodeKey,
  nodePrefix,
  nodeRowKey,
  SERVICE_INDEX_PREFIX,
  TABLE_CHECKS,
  TABLE_EXTINCTION,
  TABLE_NODES,
  TABLE_SERVICES,
} from "./catalog.js";
import type {
  CatalogRead,
  CheckRow,
  HealthCheckJson,
  HealthState,
  NodeJson,
  NodeRow,
  NodeServicesJson,
  ServiceEntryJson,
  ServiceJson,
  ServiceNodeJson,
  ServiceRow,
} from "./catalog-types.js";
import { sameName } from "./names.js";

/** Index-table values by table name (0 when absent). */
export type IndexValue = (table: string) => number;

/** `node-meta=key:value` filters: a node matches when it has every pair (AND). */
export type NodeMetaFilter = readonly (readonly [string, string])[];

function metaMatches(n: NodeRow, filter: NodeMetaFilter): boolean {
  return filter.every(([k, v]) => Object.hasOwn(n.Meta, k) && n.Meta[k] === v);
}

const atLeastOne = (n: number): number => Math.max(n, 1);

export function nodeJson(n: NodeRow): NodeJson {
  return {
    ID: n.ID,
    Node: n.Node,
    Address: n.Address,
    Datacenter: n.Datacenter,
    TaggedAddresses: n.TaggedAddresses,
    Meta: n.Meta,
    CreateIndex: n.CreateIndex,
    ModifyIndex: n.ModifyIndex,
  };
}

export function serviceJson(s: ServiceRow): ServiceJson {
  return {
    ID: s.ID,
    Service: s.Service,
    Tags: s.Tags,
    Meta: s.Meta,
    Port: s.Port,
    Address: s.Address,
    ...(Object.keys(s.TaggedAddresses).length > 0 ? { TaggedAddresses: s.TaggedAddresses } : {}),
    Weights: s.Weights,
    EnableTagOverride: s.EnableTagOverride,
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
}

export function checkJson(c: CheckRow): HealthCheckJson {
  return {
    Node: c.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: c.ServiceTags,
    Type: c.Type,
    Interval: c.Definition.Interval ?? "",
    Timeout: c.Definition.Timeout ?? "",
    ExposedPort: 0,
    Definition: c.Definition,
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
}

function serviceNodeJson(n: NodeRow, s: ServiceRow): ServiceNodeJson {
  return {
    ID: n.ID,
    Node: n.Node,
    Address: n.Address,
    Datacenter: n.Datacenter,
    TaggedAddresses: n.TaggedAddresses,
    NodeMeta: n.Meta,
    ServiceKind: s.Kind,
    ServiceID: s.ID,
    ServiceName: s.Service,
    ServiceTags: s.Tags,
    ServiceAddress: s.Address,
    ...(Object.keys(s.TaggedAddresses).length > 0 ? { ServiceTaggedAddresses: s.TaggedAddresses } : {}),
    ServiceWeights: s.Weights,
    ServiceMeta: s.Meta,
    ServicePort: s.Port,
    ServiceEnableTagOverride: s.EnableTagOverride,
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
}

/** Consul's serviceTagFilter: every wanted tag must be among the instance's, compared case-insensitively. */
function hasTags(s: ServiceRow, tags: readonly string[]): boolean {
  const own = new Set(s.Tags.map((t) => t.toLowerCase()));
  return tags.every((t) => own.has(t.toLowerCase()));
}

/** Whether check `c` belongs to instance `s` (Consul's checks "node_service" index, folded). */
function ofService(c: CheckRow, s: ServiceRow): boolean {
  return c.ServiceID !== "" && sameName(c.ServiceID, s.ID);
}

export class CatalogReads {
  constructor(
    private readonly t: CatalogTrees,
    private readonly index: IndexValue,
  ) {}

  private maxOf(...tables: string[]): number {
    return atLeastOne(Math.max(0, ...tables.map((x) => this.index(x))));
  }

  /**
   * maxIndexForService(name, exists, checks), over the instances found. Consul's one `service.<name>` row is,
   * in cairn, the largest of the rows of the spellings the instances have (catalog.ts afterServiceGone).
   */
  private serviceIndex(name: string, all: readonly ServiceRow[], checks: boolean): number {
    const fallback = checks ? [TABLE_NODES, TABLE_SERVICES, TABLE_CHECKS] : [TABLE_NODES, TABLE_SERVICES];
    if (all.length === 0) {
      const extinct = this.index(TABLE_EXTINCTION);
      return extinct > 0 ? extinct : this.maxOf(...fallback);
    }
    const spellings = new Set([name, ...all.map((s) => s.Service)]);
    const own = Math.max(...[...spellings].map((s) => this.index(SERVICE_INDEX_PREFIX + s)));
    return own > 0 ? own : this.maxOf(...fallback);
  }

  private instances(name: string): ServiceRow[] {
    return [...this.t.byName.prefix(namePrefix(name))].map(([, s]) => s);
  }

  private node(name: string): NodeRow {
    // Invariant: a service or check never outlives its node (deleteNode drops them first).
    return this.t.nodes.get(nodeRowKey(name)) as NodeRow;
  }

  nodes(meta: NodeMetaFilter = []): CatalogRead<NodeJson[]> {
    const value = [...this.t.nodes.entries()]
      .filter(([, n]) => metaMatches(n, meta))
      .map(([, n]) => nodeJson(n));
    return { index: this.maxOf(TABLE_NODES), value };
  }

  /** Service name → its instances' distinct tags, sorted. */
  services(meta: NodeMetaFilter = []): CatalogRead<Record<string, string[]>> {
    const tags = new Map<string, Set<string>>();
    for (const [, s] of this.t.byName.entries()) {
      if (!metaMatches(this.node(s.Node), meta)) continue;
      const set = tags.get(s.Service) ?? new Set<string>();
      tags.set(s.Service, set);
      for (const tag of s.Tags) set.add(tag);
    }
    const value: Record<string, string[]> = {};
    for (const [name, set] of tags) value[name] = [...set].sort();
    return { index: this.maxOf(TABLE_NODES, TABLE_SERVICES), value };
  }

  service(name: string, tags: readonly string[], meta: NodeMetaFilter = []): CatalogRead<ServiceNodeJson[]> {
    const all = this.instances(name);
    const value = all
      .filter((s) => hasTags(s, tags) && metaMatches(this.node(s.Node), meta))
      .map((s) => serviceNodeJson(this.node(s.Node), s));
    return { index: this.serviceIndex(name, all, false), value };
  }

  /** null for an unknown node, as Consul's `null` body. */
  nodeServices(node: string): CatalogRead<NodeServicesJson | null> {
    const index = this.maxOf(TABLE_NODES, TABLE_SERVICES);
    const n = this.t.nodes.get(nodeRowKey(node));
    if (n === undefined) return { index, value: null };
    const Services: Record<string, ServiceJson> = {};
    for (const [, s] of this.t.services.prefix(nodePrefix(node))) Services[s.ID] = serviceJson(s);
    return { index, value: { Node: nodeJson(n), Services } };
  }

  healthNode(node: string): CatalogRead<HealthCheckJson[]> {
    const value = [...this.t.checks.prefix(nodePrefix(node))].map(([, c]) => checkJson(c));
    return { index: this.maxOf(TABLE_CHECKS), value };
  }

  private checksOf(node: string): CheckRow[] {
    return [...this.t.checks.prefix(nodePrefix(node))].map(([, c]) => c);
  }

  healthChecks(name: string): CatalogRead<HealthCheckJson[]> {
    const all = this.instances(name);
    const value: HealthCheckJson[] = [];
    for (const s of all) {
      for (const c of this.checksOf(s.Node)) if (ofService(c, s)) value.push(checkJson(c));
    }
    return { index: this.serviceIndex(name, all, true), value };
  }

  /**
   * Each instance with its node and checks (the node's node-level checks, then its own). `passing` keeps the
   * entries whose every check passes, after the index is computed, as Consul's endpoint filters.
   */
  healthService(
    name: string,
    tags: readonly string[],
    passing: boolean,
    meta: NodeMetaFilter = [],
  ): CatalogRead<ServiceEntryJson[]> {
    const all = this.instances(name);
    const value: ServiceEntryJson[] = [];
    for (const s of all) {
      if (!hasTags(s, tags) || !metaMatches(this.node(s.Node), meta)) continue;
      const checks = this.checksOf(s.Node).filter((c) => c.ServiceID === "" || ofService(c, s));
      if (passing && checks.some((c) => c.Status !== "passing")) continue;
      value.push({
        Node: nodeJson(this.node(s.Node)),
        Service: serviceJson(s),
        Checks: checks.map(checkJson),
      });
    }
    return { index: this.serviceIndex(name, all, true), value };
  }

  healthState(state: HealthState): CatalogRead<HealthCheckJson[]> {
    const value: HealthCheckJson[] = [];
    for (const [, c] of this.t.checks.entries()) {
      if (state === "any" || sameName(c.Status, state)) value.push(checkJson(c));
    }
    return { index: this.maxOf(TABLE_CHECKS), value };
  }

  /** Whether check (node, id) exists, and its status: for session creation. */
  check(node: string, id: string): CheckRow | undefined {
    return this.t.checks.get(nodeKey(node, id));
  }
}
