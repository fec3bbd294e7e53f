/**
 * The catalog's rows (nodes, services, checks) as stored, and the JSON shapes Consul's catalog and health
 * endpoints answer with (consul-compat.md §8.1), in Consul's field order. Rows are plain immutable objects:
 * a write replaces a row, never mutates it, so the copy-on-write trees can share them with snapshots.
 */
import type { Extra, RawRecord } from "../snapshot/index.js";

export type StrMap = Readonly<Record<string, string>>;

/** structs.ServiceAddress. */
export type ServiceAddress = {
  readonly Address: string;
  readonly Port: number;
};

/** structs.Weights. */
export type Weights = {
  readonly Passing: number;
  readonly Warning: number;
};

/**
 * A check's Definition as Consul's JSON shows it (structs.HealthCheckDefinition): durations as Go strings
 * ("10s"), Header as name → values. Only the fields a register request can set; unknown ones are dropped.
 */
export type CheckDefinition = {
  readonly HTTP?: string;
  readonly Header?: Readonly<Record<string, readonly string[]>>;
  readonly Method?: string;
  readonly Body?: string;
  readonly TLSSkipVerify?: boolean;
  readonly TCP?: string;
  readonly Interval?: string;
  readonly Timeout?: string;
  readonly DeregisterCriticalServiceAfter?: string;
};

/** Fields of a restored record cairn does not model, and the record's bytes while the row is unchanged. */
interface Restored {
  /** Written back into the row's Register record (e.g. Locality, PeerName, Proxy, Connect). */
  readonly extra?: Extra;
  /** The restored Register record exactly as read; dropped by any write to the row (see catalog-records.ts). */
  readonly raw?: RawRecord;
}

/** structs.RaftIndex. */
export interface RaftIndex {
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** A node: its JSON shape, plus what a restore carried. */
export type NodeRow = NodeJson & Restored;

export interface ServiceRow extends ServiceSpec, RaftIndex, Restored {
  /** The node the instance runs on. */
  readonly Node: string;
}

export type CheckStatus = "passing" | "warning" | "critical" | "maintenance";

export interface CheckRow extends CheckSpec, RaftIndex, Restored {
  /** The service's name and tags, copied in when the check is written (node checks: "" and []). */
  readonly ServiceName: string;
  readonly ServiceTags: readonly string[];
}

/** A service as a register request gives it (§8.2), after the proposer filled in ID = name. */
export interface ServiceSpec {
  readonly ID: string;
  readonly Service: string;
  readonly Tags: readonly string[];
  readonly Address: string;
  readonly TaggedAddresses: Readonly<Record<string, ServiceAddress>>;
  readonly Meta: StrMap;
  readonly Port: number;
  readonly Weights: Weights;
  readonly EnableTagOverride: boolean;
  readonly Kind: string;
}

/** A check as a register request gives it, after the proposer filled in Node and CheckID. */
export interface CheckSpec {
  readonly Node: string;
  readonly CheckID: string;
  readonly Name: string;
  /** "" becomes "critical" on apply, as Consul's ensureCheckTxn. */
  readonly Status: string;
  readonly Notes: string;
  readonly Output: string;
  readonly ServiceID: string;
  readonly Type: string;
  readonly Definition: CheckDefinition;
}

/** PUT /v1/catalog/register, normalized by the proposer (Check folded into Checks). */
export interface CatalogRegisterRequest {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter: string;
  readonly TaggedAddresses: StrMap;
  readonly NodeMeta: StrMap;
  readonly Service: ServiceSpec | null;
  readonly Checks: readonly CheckSpec[];
  readonly SkipNodeUpdate: boolean;
}

/** PUT /v1/catalog/deregister: only Node = the node and all on it; ServiceID or CheckID = just that. */
export interface CatalogDeregisterRequest {
  readonly Node: string;
  readonly Datacenter: string;
  readonly ServiceID: string;
  readonly CheckID: string;
}

// ---- JSON shapes (§8.1), in Consul's field order; type literals, so they are GoJson values ----

export type NodeJson = {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter: string;
  readonly TaggedAddresses: StrMap;
  readonly Meta: StrMap;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
};

export type ServiceJson = {
  readonly ID: string;
  readonly Service: string;
  readonly Tags: readonly string[];
  readonly Meta: StrMap;
  readonly Port: number;
  readonly Address: string;
  /** Omitted when empty, as Consul's omitempty. */
  readonly TaggedAddresses?: Readonly<Record<string, ServiceAddress>>;
  readonly Weights: Weights;
  readonly EnableTagOverride: boolean;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
};

export type ServiceNodeJson = {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter: string;
  readonly TaggedAddresses: StrMap;
  readonly NodeMeta: StrMap;
  readonly ServiceKind: string;
  readonly ServiceID: string;
  readonly ServiceName: string;
  readonly ServiceTags: readonly string[];
  readonly ServiceAddress: string;
  readonly ServiceTaggedAddresses?: Readonly<Record<string, ServiceAddress>>;
  readonly ServiceWeights: Weights;
  readonly ServiceMeta: StrMap;
  readonly ServicePort: number;
  readonly ServiceEnableTagOverride: boolean;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
};

/** A check as Consul's JSON shows it (checkJson writes the fields in Consul's order). */
export type HealthCheckJson = Omit<CheckRow, "extra" | "raw"> & {
  /** The check's interval and timeout as Go durations ("" when none), as newer Consul versions show them. */
  readonly Interval: string;
  readonly Timeout: string;
  readonly ExposedPort: number;
};

export type NodeServicesJson = {
  readonly Node: NodeJson;
  readonly Services: Readonly<Record<string, ServiceJson>>;
};

export type ServiceEntryJson = {
  readonly Node: NodeJson;
  readonly Service: ServiceJson;
  readonly Checks: readonly HealthCheckJson[];
};

/** A catalog read: the value and the index Consul answers it with (X-Consul-Index, never below 1). */
export interface CatalogRead<T> {
  readonly index: number;
  readonly value: T;
}

/**
 * The state of /v1/health/state/<state>: `any` (exactly) lists every check; anything else is compared with each
 * check's status as Consul's checks "status" index compares (lowercased: `PASSING` is `passing`), so an unknown
 * state matches no check (an empty answer, not an error: Consul validates nothing here).
 */
export type HealthState = string;

export const SERF_CHECK_ID = "serfHealth";
export const SERF_CHECK_NAME = "Serf Health Status";
export const SERF_ALIVE_OUTPUT = "Agent alive and reachable";
export const SERF_FAILED_OUTPUT = "Agent not live or unreachable";
