/**
 * The catalog tables (nodes, services per node, checks) and their writes, with Consul's state-store semantics
 * (agent/consul/state/catalog.go, consul-compat.md §8.2–8.4):
 * - register upserts the node (unless SkipNodeUpdate), then the service, then each check; a row equal to the
 *   stored one is not written (indexes stay, as Consul skips unchanged rows);
 * - a check without Status is "critical"; a service check copies its service's name and tags; a check must
 *   name the request's node;
 * - deregister with ServiceID drops the service and its checks, with CheckID that check, with neither the node
 *   and everything on it; an unknown node, service or check is a no-op;
 * - index rows: "nodes", "services", "checks", "service.<name>" (bumped by writes to an instance, its checks,
 *   or its node), and "service_last_extinction" when the last instance of a name goes (then "service.<name>"
 *   is dropped), which is what `maxIndexForService` reads.
 * Writes are validated in full before anything changes, so a refused register changes nothing.
 * The class is pure: the effects on sessions are returned (CatalogEffects) for the KV store to apply.
 */
import { OrderedMap } from "./btree.js";
import type {
  CatalogDeregisterRequest,
  CatalogRegisterRequest,
  CheckRow,
  CheckSpec,
  NodeRow,
  ServiceRow,
  ServiceSpec,
} from "./catalog-types.js";
import { CatalogError } from "./errors.js";
import { foldName, sameName } from "./names.js";

export const TABLE_NODES = "nodes";
export const TABLE_SERVICES = "services";
export const TABLE_CHECKS = "checks";
export const SERVICE_INDEX_PREFIX = "service.";
export const TABLE_EXTINCTION = "service_last_extinction";

/** The index table as the catalog uses it; the KV store owns it (one table for both, as Consul's). */
export interface CatalogIndex {
  /** The row's value, 0 when absent. */
  value(table: string): number;
  bump(table: string, idx: number): void;
  drop(table: string): void;
}

/** What a catalog write did that touches sessions: checks gone or critical, nodes gone. */
export interface CatalogEffects {
  /** [node, checkID] of checks deleted or written critical: sessions bound to them end. */
  readonly checks: [string, string][];
  /** Nodes deregistered: their sessions end. */
  readonly nodes: string[];
}

/**
 * The three trees; cloned together in O(1) for snapshots. Keys: see key helpers below; every name in a key is
 * folded as Consul's indexes fold it (names.ts), so lookups ignore case and rows keep their spelling.
 */
export interface CatalogTrees {
  /** nodeRowKey(node). */
  readonly nodes: OrderedMap<NodeRow>;
  /** `node \0 serviceID`. */
  readonly services: OrderedMap<ServiceRow>;
  /** `service name \0 node \0 serviceID`: the same rows, by name. */
  readonly byName: OrderedMap<ServiceRow>;
  /** `node \0 checkID`. */
  readonly checks: OrderedMap<CheckRow>;
}

export function emptyTrees(): CatalogTrees {
  return {
    nodes: new OrderedMap<NodeRow>(),
    services: new OrderedMap<ServiceRow>(),
    byName: new OrderedMap<ServiceRow>(),
    checks: new OrderedMap<CheckRow>(),
  };
}

export function cloneTrees(t: CatalogTrees): CatalogTrees {
  return {
    nodes: t.nodes.clone(),
    services: t.services.clone(),
    byName: t.byName.clone(),
    checks: t.checks.clone(),
  };
}

export const nodeRowKey = (node: string): string => foldName(node);
export const nodeKey = (node: string, id: string): string => `${foldName(node)}\0${foldName(id)}`;
export const nameKey = (s: ServiceRow): string =>
  `${foldName(s.Service)}\0${foldName(s.Node)}\0${foldName(s.ID)}`;
/** Every row of `node` in services/checks lies under this prefix. */
export const nodePrefix = (node: string): string => `${foldName(node)}\0`;
/** Every instance of service `name` in byName lies under this prefix. */
export const namePrefix = (name: string): string => `${foldName(name)}\0`;

function sameMap(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Catalog {
  constructor(
    public trees: CatalogTrees,
    private readonly index: CatalogIndex,
  ) {}

  servicesOf(node: string): ServiceRow[] {
    return [...this.trees.services.prefix(nodePrefix(node))].map(([, s]) => s);
  }

  checksOf(node: string): CheckRow[] {
    return [...this.trees.checks.prefix(nodePrefix(node))].map(([, c]) => c);
  }

  /** Consul's ensureRegistrationTxn, all or nothing. */
  register(idx: number, req: CatalogRegisterRequest): CatalogEffects | CatalogError {
    const bad = this.validateRegister(req);
    if (bad !== null) return bad;
    const fx: CatalogEffects = { checks: [], nodes: [] };
    if (!req.SkipNodeUpdate) this.ensureNode(idx, req);
    if (req.Service !== null) this.ensureService(idx, req.Node, req.Service);
    for (const c of req.Checks) this.ensureCheck(idx, c, fx);
    return fx;
  }

  private validateRegister(req: CatalogRegisterRequest): CatalogError | null {
    const nodeExists = (n: string): boolean =>
      this.trees.nodes.has(nodeRowKey(n)) || (sameName(n, req.Node) && !req.SkipNodeUpdate);
    if (req.Service !== null && !nodeExists(req.Node)) {
      return new CatalogError("failed inserting service: Missing node registration");
    }
    for (const c of req.Checks) {
      // Go's %q of the two names.
      if (c.Node !== req.Node) {
        return new CatalogError(
          `check node ${JSON.stringify(c.Node)} does not match node ${JSON.stringify(req.Node)}`,
        );
      }
      if (!nodeExists(c.Node)) return new CatalogError("failed inserting check: Missing node registration");
      if (c.ServiceID === "") continue;
      const registering = req.Service !== null && sameName(req.Service.ID, c.ServiceID);
      if (!registering && !this.trees.services.has(nodeKey(c.Node, c.ServiceID))) {
        return new CatalogError("failed inserting check: Missing service registration");
      }
    }
    return null;
  }

  private ensureNode(idx: number, req: CatalogRegisterRequest): void {
    const old = this.trees.nodes.get(nodeRowKey(req.Node));
    const row: NodeRow = {
      ID: req.ID,
      Node: req.Node,
      Address: req.Address,
      Datacenter: req.Datacenter,
      TaggedAddresses: req.TaggedAddresses,
      Meta: req.NodeMeta,
      CreateIndex: old?.CreateIndex ?? idx,
      ModifyIndex: idx,
      ...(old?.extra !== undefined ? { extra: old.extra } : {}),
    };
    if (old !== undefined && sameNode(old, row)) return;
    // A register of `web` updates node `Web`, which takes the new spelling (Consul's ensureNodeTxn).
    this.trees.nodes.set(nodeRowKey(req.Node), row);
    this.index.bump(TABLE_NODES, idx);
    // A node change moves every one of its services' indexes (updateAllServiceIndexesOfNode).
    for (const s of this.servicesOf(req.Node)) this.index.bump(SERVICE_INDEX_PREFIX + s.Service, idx);
  }

  private ensureService(idx: number, node: string, spec: ServiceSpec): void {
    const key = nodeKey(node, spec.ID);
    const old = this.trees.services.get(key);
    const row: ServiceRow = {
      Node: node,
      ...spec,
      CreateIndex: old?.CreateIndex ?? idx,
      ModifyIndex: idx,
      ...(old?.extra !== undefined ? { extra: old.extra } : {}),
    };
    if (old !== undefined && sameService(old, row)) return;
    if (old !== undefined) this.trees.byName.delete(nameKey(old));
    this.trees.services.set(key, row);
    this.trees.byName.set(nameKey(row), row);
    // Renamed in place (or respelled): the old name loses an instance.
    if (old !== undefined && old.Service !== row.Service) this.afterServiceGone(idx, old.Service);
    this.index.bump(TABLE_SERVICES, idx);
    this.index.bump(SERVICE_INDEX_PREFIX + row.Service, idx);
  }

  private ensureCheck(idx: number, spec: CheckSpec, fx: CatalogEffects): void {
    const key = nodeKey(spec.Node, spec.CheckID);
    const old = this.trees.checks.get(key);
    const svc =
      spec.ServiceID === "" ? undefined : this.trees.services.get(nodeKey(spec.Node, spec.ServiceID));
    const row: CheckRow = {
      ...spec,
      Status: spec.Status === "" ? "critical" : spec.Status,
      ServiceName: svc?.Service ?? "",
      ServiceTags: svc?.Tags ?? [],
      CreateIndex: old?.CreateIndex ?? idx,
      ModifyIndex: idx,
      ...(old?.extra !== undefined ? { extra: old.extra } : {}),
    };
    if (old !== undefined && sameCheck(old, row)) return;
    this.touchCheckServices(idx, row);
    if (row.Status === "critical") fx.checks.push([row.Node, row.CheckID]);
    this.trees.checks.set(key, row);
    this.index.bump(TABLE_CHECKS, idx);
  }

  /** A check write or delete moves its service's index, or for a node check every service of the node. */
  private touchCheckServices(idx: number, c: CheckRow): void {
    if (c.ServiceID !== "") {
      const s = this.trees.services.get(nodeKey(c.Node, c.ServiceID));
      if (s !== undefined) this.index.bump(SERVICE_INDEX_PREFIX + s.Service, idx);
      return;
    }
    for (const s of this.servicesOf(c.Node)) this.index.bump(SERVICE_INDEX_PREFIX + s.Service, idx);
  }

  /** Consul's applyDeregister: ServiceID, else CheckID, else the whole node. */
  deregister(idx: number, req: CatalogDeregisterRequest): CatalogEffects {
    const fx: CatalogEffects = { checks: [], nodes: [] };
    if (!this.trees.nodes.has(nodeRowKey(req.Node))) return fx;
    if (req.ServiceID !== "") this.deleteService(idx, req.Node, req.ServiceID, fx);
    else if (req.CheckID !== "") this.deleteCheck(idx, req.Node, req.CheckID, fx);
    else this.deleteNode(idx, req.Node, fx);
    return fx;
  }

  private deleteCheck(idx: number, node: string, checkID: string, fx: CatalogEffects): void {
    const c = this.trees.checks.get(nodeKey(node, checkID));
    if (c === undefined) return;
    this.touchCheckServices(idx, c);
    this.trees.checks.delete(nodeKey(node, checkID));
    this.index.bump(TABLE_CHECKS, idx);
    fx.checks.push([node, checkID]);
  }

  private deleteService(idx: number, node: string, id: string, fx: CatalogEffects): void {
    const s = this.trees.services.get(nodeKey(node, id));
    if (s === undefined) return;
    for (const c of this.checksOf(node)) {
      if (c.ServiceID !== "" && sameName(c.ServiceID, id)) this.deleteCheck(idx, node, c.CheckID, fx);
    }
    this.trees.services.delete(nodeKey(node, id));
    this.trees.byName.delete(nameKey(s));
    this.index.bump(TABLE_SERVICES, idx);
    this.afterServiceGone(idx, s.Service);
  }

  /**
   * The "last extinction" rule: the name's index row goes with its last instance. Consul has one row per name
   * whatever its case (its index table folds keys); cairn keeps a `service.<spelling>` row per spelling that
   * has instances, each bumped on every write to one of them, so the largest is Consul's row (catalog-reads.ts
   * serviceIndex) and a name spelled one way only (the usual case) has exactly Consul's row.
   */
  private afterServiceGone(idx: number, name: string): void {
    const spellings = new Set([...this.trees.byName.prefix(namePrefix(name))].map(([, s]) => s.Service));
    if (!spellings.has(name)) this.index.drop(SERVICE_INDEX_PREFIX + name);
    if (spellings.size === 0) {
      this.index.bump(TABLE_EXTINCTION, idx);
      return;
    }
    for (const spelling of spellings) this.index.bump(SERVICE_INDEX_PREFIX + spelling, idx);
  }

  private deleteNode(idx: number, node: string, fx: CatalogEffects): void {
    for (const s of this.servicesOf(node)) this.deleteService(idx, node, s.ID, fx);
    for (const c of this.checksOf(node)) this.deleteCheck(idx, node, c.CheckID, fx);
    this.trees.nodes.delete(nodeRowKey(node));
    this.index.bump(TABLE_NODES, idx);
    fx.nodes.push(node);
  }
}

function sameNode(a: NodeRow, b: NodeRow): boolean {
  return (
    a.Node === b.Node &&
    a.ID === b.ID &&
    a.Address === b.Address &&
    a.Datacenter === b.Datacenter &&
    sameMap(a.TaggedAddresses, b.TaggedAddresses) &&
    sameMap(a.Meta, b.Meta)
  );
}

function sameService(a: ServiceRow, b: ServiceRow): boolean {
  return (
    a.Node === b.Node &&
    a.ID === b.ID &&
    a.Service === b.Service &&
    a.Kind === b.Kind &&
    a.Address === b.Address &&
    a.Port === b.Port &&
    a.EnableTagOverride === b.EnableTagOverride &&
    JSON.stringify([a.Tags, a.Meta, a.TaggedAddresses, a.Weights]) ===
      JSON.stringify([b.Tags, b.Meta, b.TaggedAddresses, b.Weights])
  );
}

function sameCheck(a: CheckRow, b: CheckRow): boolean {
  return (
    a.Node === b.Node &&
    a.CheckID === b.CheckID &&
    a.Name === b.Name &&
    a.Status === b.Status &&
    a.Notes === b.Notes &&
    a.Output === b.Output &&
    a.ServiceID === b.ServiceID &&
    a.ServiceName === b.ServiceName &&
    a.Type === b.Type &&
    JSON.stringify([a.ServiceTags, a.Definition]) === JSON.stringify([b.ServiceTags, b.Definition])
  );
}
