/**
 * The checks Consul's Catalog.Register/Deregister endpoint makes before a write reaches Raft (agent/consul/catalog_endpoint.go: servicePreApply, checkPreApply; consul-compat.md §8.2),
 * so that a bad request is refused with Consul's text and uses no index. The proposer runs them (the server, and
 * its in-memory twin for handler tests).
 */
import type {
  CatalogDeregisterRequest,
  CatalogRegisterRequest,
  CheckSpec,
  ServiceSpec,
} from "./catalog-types.js";
import { DurationSyntaxError, parseGoDuration } from "./duration.js";
import { CatalogError } from "./errors.js";

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Go's uuid.ParseUUID error texts, as Consul wraps them: "Bad node ID: <err>". */
function nodeIdError(id: string): string | null {
  if (id === "") return null;
  if (id.length !== 36) return "uuid string is wrong length";
  return UUID.test(id) ? null : "uuid is improperly formatted";
}

/** ipaddr.IsAny: the unspecified IPv4 or IPv6 address. */
function isAny(address: string): boolean {
  return address === "0.0.0.0" || address === "::" || address === "[::]";
}

function datacenterOf(given: string, ours: string): string {
  if (given !== "" && given !== ours) throw new CatalogError("No path to datacenter");
  return ours;
}

function serviceOf(s: ServiceSpec): ServiceSpec {
  const ID = s.ID === "" ? s.Service : s.ID;
  if (ID !== "" && s.Service === "") throw new CatalogError("Must provide service name with ID");
  if (isAny(s.Address)) throw new CatalogError("Invalid service address");
  return { ...s, ID };
}

function checkOf(c: CheckSpec, node: string): CheckSpec {
  for (const k of ["Interval", "Timeout", "DeregisterCriticalServiceAfter"] as const) {
    const v = c.Definition[k];
    if (v === undefined) continue;
    try {
      parseGoDuration(v);
    } catch (e) {
      if (!(e instanceof DurationSyntaxError)) throw e;
      throw new CatalogError(`Request decode failed: ${e.message}`);
    }
  }
  return { ...c, Node: c.Node === "" ? node : c.Node, CheckID: c.CheckID === "" ? c.Name : c.CheckID };
}

/** The request as it goes through Raft: validated, Service ID and check Node/CheckID filled in. */
export function preApplyRegister(req: CatalogRegisterRequest, datacenter: string): CatalogRegisterRequest {
  if (req.Node === "") throw new CatalogError("Must provide node");
  if (req.Address === "" && !req.SkipNodeUpdate) {
    throw new CatalogError("Must provide address if SkipNodeUpdate is not set");
  }
  const bad = nodeIdError(req.ID);
  if (bad !== null) throw new CatalogError(`Bad node ID: ${bad}`);
  return {
    ...req,
    Datacenter: datacenterOf(req.Datacenter, datacenter),
    Service: req.Service === null ? null : serviceOf(req.Service),
    Checks: req.Checks.map((c) => checkOf(c, req.Node)),
  };
}

export function preApplyDeregister(
  req: CatalogDeregisterRequest,
  datacenter: string,
): CatalogDeregisterRequest {
  if (req.Node === "") throw new CatalogError("Must provide node");
  return { ...req, Datacenter: datacenterOf(req.Datacenter, datacenter) };
}
