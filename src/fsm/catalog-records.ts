/**
 * The catalog as Consul's Register records (type 0), both ways (snapshot-format.md §2.3, §2.5).
 *
 * Writing, as Consul's persistNodes: per node in name order, one record for the node, then one per service of
 * the node (the node's request with Service set), then one per check (Check set). A row restored from an
 * archive keeps the record's bytes (`raw`) until a write replaces the row; a service or check record repeats
 * its node's fields, so its bytes are reused only while its node is unchanged too. Unchanged state therefore
 * writes an archive back byte for byte, including Go's random map order.
 *
 * Reading: a record with neither Service nor Check carries the node; the others carry one service or check
 * (and their node, registered from the first record that names it). Fields cairn does not model travel in
 * `extra`; a check Definition keeps the fields CheckDefinition models.
 */
import {
  type Decoded,
  type DecodedMap,
  type Extra,
  encodeRecord,
  type HealthCheck,
  type NodeService,
  type RawRecord,
  type RegisterRequest,
} from "../snapshot/index.js";
import type { CatalogTrees } from "./catalog.js";
import { nameKey, nodeKey, nodePrefix, nodeRowKey } from "./catalog.js";
import type {
  CheckDefinition,
  CheckRow,
  NodeRow,
  ServiceAddress,
  ServiceRow,
  StrMap,
  Weights,
} from "./catalog-types.js";
import { formatGoDuration, parseGoDuration } from "./duration.js";

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();
const DURATIONS = ["Interval", "Timeout", "DeregisterCriticalServiceAfter"] as const;
const DEFAULT_WEIGHTS: Weights = { Passing: 1, Warning: 1 };

function toRecord(m: ReadonlyMap<string, string> | null): StrMap {
  return m === null ? {} : Object.fromEntries(m);
}

function toMap(r: StrMap): Map<string, string> {
  return new Map(Object.entries(r));
}

function str(v: Decoded | undefined): string {
  return v instanceof Uint8Array ? utf8d.decode(v) : "";
}

function num(v: Decoded | undefined): number {
  return typeof v === "number" ? v : 0;
}

function isMap(v: Decoded | undefined): v is DecodedMap {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}

/** `extra` without `keys`, or undefined when nothing is left. */
function without(extra: Extra | undefined, ...keys: string[]): Extra | undefined {
  if (extra === undefined) return undefined;
  const out: Record<string, Decoded> = {};
  for (const [k, v] of Object.entries(extra)) if (!keys.includes(k)) out[k] = v;
  return Object.keys(out).length > 0 ? out : undefined;
}

function restored<T extends object>(row: T, extra: Extra | undefined, raw: RawRecord | undefined): T {
  return { ...row, ...(extra !== undefined ? { extra } : {}), ...(raw !== undefined ? { raw } : {}) };
}

export function nodeFromRecord(r: RegisterRequest, raw: RawRecord | undefined): NodeRow {
  const row: NodeRow = {
    ID: r.ID,
    Node: r.Node,
    Address: r.Address,
    Datacenter: r.Datacenter,
    TaggedAddresses: toRecord(r.TaggedAddresses),
    Meta: toRecord(r.NodeMeta),
    CreateIndex: r.CreateIndex,
    ModifyIndex: r.ModifyIndex,
  };
  return restored(row, r.extra, raw);
}

function weightsOf(v: Decoded | undefined): Weights {
  if (!isMap(v)) return DEFAULT_WEIGHTS;
  return { Passing: num(v.Passing), Warning: num(v.Warning) };
}

function serviceAddresses(v: Decoded | undefined): Record<string, ServiceAddress> {
  const out: Record<string, ServiceAddress> = {};
  if (!isMap(v)) return out;
  for (const [k, a] of Object.entries(v)) {
    if (isMap(a)) out[k] = { Address: str(a.Address), Port: num(a.Port) };
  }
  return out;
}

export function serviceFromRecord(node: string, s: NodeService, raw: RawRecord | undefined): ServiceRow {
  const row: ServiceRow = {
    Node: node,
    Kind: s.Kind,
    ID: s.ID,
    Service: s.Service,
    Tags: s.Tags ?? [],
    Address: s.Address,
    TaggedAddresses: serviceAddresses(s.extra?.TaggedAddresses),
    Meta: toRecord(s.Meta),
    Port: s.Port,
    Weights: weightsOf(s.extra?.Weights),
    EnableTagOverride: s.EnableTagOverride,
    CreateIndex: s.CreateIndex,
    ModifyIndex: s.ModifyIndex,
  };
  return restored(row, without(s.extra, "TaggedAddresses", "Weights"), raw);
}

function definitionOf(v: Decoded | undefined): CheckDefinition {
  if (!isMap(v)) return {};
  const d: Record<string, unknown> = {};
  for (const k of ["HTTP", "Method", "Body", "TCP"] as const) if (str(v[k]) !== "") d[k] = str(v[k]);
  if (v.TLSSkipVerify === true) d.TLSSkipVerify = true;
  for (const k of DURATIONS) if (num(v[k]) !== 0) d[k] = formatGoDuration(BigInt(num(v[k])));
  const header = v.Header;
  if (isMap(header)) {
    const h: Record<string, string[]> = {};
    for (const [k, vals] of Object.entries(header)) h[k] = Array.isArray(vals) ? vals.map((x) => str(x)) : [];
    d.Header = h;
  }
  return d as CheckDefinition;
}

export function checkFromRecord(c: HealthCheck, raw: RawRecord | undefined): CheckRow {
  const row: CheckRow = {
    Node: c.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: c.ServiceTags ?? [],
    Type: c.Type,
    Definition: definitionOf(c.extra?.Definition),
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
  return restored(row, without(c.extra, "Definition"), raw);
}

// ---- writing ----

function nodeRequest(n: NodeRow): RegisterRequest {
  return {
    Datacenter: n.Datacenter,
    ID: n.ID,
    Node: n.Node,
    Address: n.Address,
    TaggedAddresses: toMap(n.TaggedAddresses),
    NodeMeta: toMap(n.Meta),
    Service: null,
    Check: null,
    SkipNodeUpdate: false,
    Token: "",
    CreateIndex: n.CreateIndex,
    ModifyIndex: n.ModifyIndex,
    ...(n.extra !== undefined ? { extra: n.extra } : {}),
  };
}

function nodeService(s: ServiceRow): NodeService {
  // The row's other fields (ID, Service, Kind, Address, Port, EnableTagOverride, indexes) are NodeService's.
  const { Node: _node, Tags, Meta, TaggedAddresses, Weights, extra, raw: _raw, ...same } = s;
  const tagged: Record<string, Decoded> = {};
  for (const [k, a] of Object.entries(TaggedAddresses)) {
    tagged[k] = { Address: utf8.encode(a.Address), Port: a.Port };
  }
  return {
    ...same,
    Tags: [...Tags],
    Meta: toMap(Meta),
    extra: {
      ...extra,
      TaggedAddresses: Object.keys(tagged).length > 0 ? tagged : null,
      Weights: { Passing: Weights.Passing, Warning: Weights.Warning },
    },
  };
}

/** CheckDefinition back to Go's shape: durations as int64 nanoseconds. */
function goDefinition(d: CheckDefinition): DecodedMap {
  const out: DecodedMap = {};
  for (const k of ["HTTP", "Method", "Body", "TCP"] as const) {
    const v = d[k];
    if (v !== undefined) out[k] = utf8.encode(v);
  }
  if (d.TLSSkipVerify !== undefined) out.TLSSkipVerify = d.TLSSkipVerify;
  for (const k of DURATIONS) {
    const v = d[k];
    if (v !== undefined) out[k] = Number(parseGoDuration(v));
  }
  if (d.Header !== undefined) {
    const h: DecodedMap = {};
    for (const [k, vals] of Object.entries(d.Header)) h[k] = vals.map((x) => utf8.encode(x));
    out.Header = h;
  }
  return out;
}

function healthCheck(c: CheckRow): HealthCheck {
  // The row's other fields are HealthCheck's, by name.
  const { Definition, ServiceTags, extra, raw: _raw, ...same } = c;
  return {
    ...same,
    ServiceTags: [...ServiceTags],
    extra: { ...extra, Definition: goDefinition(Definition) },
  };
}

/** The Register records of the catalog, in Consul's writer order. */
export function* catalogRecords(t: CatalogTrees): Generator<RawRecord> {
  for (const [, n] of t.nodes.entries()) {
    const req = nodeRequest(n);
    yield n.raw ?? encodeRecord({ kind: "Register", type: 0, body: req });
    const keep = n.raw !== undefined;
    for (const [, s] of t.services.prefix(nodePrefix(n.Node))) {
      yield keep && s.raw !== undefined
        ? s.raw
        : encodeRecord({ kind: "Register", type: 0, body: { ...req, Service: nodeService(s) } });
    }
    for (const [, c] of t.checks.prefix(nodePrefix(n.Node))) {
      yield keep && c.raw !== undefined
        ? c.raw
        : encodeRecord({ kind: "Register", type: 0, body: { ...req, Check: healthCheck(c) } });
    }
  }
}

/**
 * Adds one Register record to restoring trees. The node row comes from the node's own record (Service and
 * Check nil), or from the first record naming the node when the archive has none.
 */
export function restoreRegister(t: CatalogTrees, r: RegisterRequest, raw: RawRecord): void {
  const own = r.Service === null && r.Check === null;
  if (own || !t.nodes.has(nodeRowKey(r.Node)))
    t.nodes.set(nodeRowKey(r.Node), nodeFromRecord(r, own ? raw : undefined));
  if (r.Service !== null) {
    const s = serviceFromRecord(r.Node, r.Service, raw);
    const old = t.services.get(nodeKey(r.Node, s.ID));
    if (old !== undefined) t.byName.delete(nameKey(old));
    t.services.set(nodeKey(r.Node, s.ID), s);
    t.byName.set(nameKey(s), s);
  }
  if (r.Check !== null) {
    const c = checkFromRecord(r.Check, raw);
    t.checks.set(nodeKey(c.Node, c.CheckID), c);
  }
}
