/**
 * Register records (type 0): structs.RegisterRequest. Consul writes one per node, one per service (Service set)
 * and one per check (Check set), each repeating the node's fields. The fields cairn's catalog uses are typed;
 * the many version-dependent rest (Proxy, Connect, Weights, Definition, Locality, ...) travel in `extra`.
 */

import { asMap, type Extra, Fields } from "./fields.js";
import type { Decoded, GoStruct } from "./gomsgpack.js";

/** structs.NodeService (the fields cairn reads; everything else in `extra`). */
export interface NodeService {
  readonly ID: string;
  readonly Service: string;
  readonly Kind: string;
  readonly Tags: string[] | null;
  readonly Address: string;
  readonly Port: number;
  readonly Meta: Map<string, string> | null;
  readonly EnableTagOverride: boolean;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly extra?: Extra;
}

/** structs.HealthCheck (the fields cairn reads; everything else in `extra`). */
export interface HealthCheck {
  readonly Node: string;
  readonly CheckID: string;
  readonly Name: string;
  /** "passing", "warning", "critical" or "maintenance". */
  readonly Status: string;
  readonly Notes: string;
  readonly Output: string;
  readonly ServiceID: string;
  readonly ServiceName: string;
  readonly ServiceTags: string[] | null;
  readonly Type: string;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly extra?: Extra;
}

export interface RegisterRequest {
  readonly Datacenter: string;
  /** The node's UUID. */
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly TaggedAddresses: Map<string, string> | null;
  readonly NodeMeta: Map<string, string> | null;
  readonly Service: NodeService | null;
  readonly Check: HealthCheck | null;
  readonly SkipNodeUpdate: boolean;
  readonly Token: string;
  /** The node's RaftIndex. */
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly extra?: Extra;
}

function withExtra(extra: Extra): { extra?: Extra } {
  return Object.keys(extra).length > 0 ? { extra } : {};
}

function decodeService(m: Decoded): NodeService {
  const f = new Fields(asMap(m, "Register Service"), "Register Service");
  return {
    Address: f.str("Address"),
    CreateIndex: f.uint("CreateIndex"),
    EnableTagOverride: f.bool("EnableTagOverride"),
    ID: f.str("ID"),
    Kind: f.str("Kind"),
    Meta: f.strMap("Meta"),
    ModifyIndex: f.uint("ModifyIndex"),
    Port: f.int("Port"),
    Service: f.str("Service"),
    Tags: f.strList("Tags"),
    ...withExtra(f.rest()),
  };
}

function decodeCheck(m: Decoded): HealthCheck {
  const f = new Fields(asMap(m, "Register Check"), "Register Check");
  return {
    CheckID: f.str("CheckID"),
    CreateIndex: f.uint("CreateIndex"),
    ModifyIndex: f.uint("ModifyIndex"),
    Name: f.str("Name"),
    Node: f.str("Node"),
    Notes: f.str("Notes"),
    Output: f.str("Output"),
    ServiceID: f.str("ServiceID"),
    ServiceName: f.str("ServiceName"),
    ServiceTags: f.strList("ServiceTags"),
    Status: f.str("Status"),
    Type: f.str("Type"),
    ...withExtra(f.rest()),
  };
}

export function decodeRegister(f: Fields): RegisterRequest {
  const service = f.mapOrNull("Service");
  const check = f.mapOrNull("Check");
  return {
    Address: f.str("Address"),
    Check: check === null ? null : decodeCheck(check),
    CreateIndex: f.uint("CreateIndex"),
    Datacenter: f.str("Datacenter"),
    ID: f.str("ID"),
    ModifyIndex: f.uint("ModifyIndex"),
    Node: f.str("Node"),
    NodeMeta: f.strMap("NodeMeta"),
    Service: service === null ? null : decodeService(service),
    SkipNodeUpdate: f.bool("SkipNodeUpdate"),
    TaggedAddresses: f.strMap("TaggedAddresses"),
    Token: f.str("Token"),
    ...withExtra(f.rest()),
  };
}

function serviceToGo(s: NodeService): GoStruct {
  const { extra, ...fields } = s;
  return { ...extra, ...fields };
}

function checkToGo(c: HealthCheck): GoStruct {
  const { extra, ...fields } = c;
  return { ...extra, ...fields };
}

/** The Go-shaped value of a RegisterRequest (struct keys sorted by the encoder; maps keep their order). */
export function encodeRegister(r: RegisterRequest): GoStruct {
  const { extra, Service, Check, ...fields } = r;
  return {
    // Checks (plural) is the request's list form; snapshots always carry nil there.
    Checks: null,
    ...extra,
    ...fields,
    Service: Service === null ? null : serviceToGo(Service),
    Check: Check === null ? null : checkToGo(Check),
  };
}
