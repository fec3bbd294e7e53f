/**
 * The rights a catalog write needs: Consul's vetRegisterWithACL and vetDeregisterWithACL
 * (agent/consul/catalog_endpoint.go), judged against the catalog as the leader sees it now:
 * - register: node:write when the node is new or the request changes it (ID, address, tagged addresses, meta)
 *   and SkipNodeUpdate is not set; service:write on the service's name, and on the name of the service it
 *   replaces when the ID was another's; a check needs node:write, or service:write on its service's name;
 * - deregister: the node needs node:write; a service service:write on its name; a check its owner's right.
 */
import type { QueryOptions, ServerApi } from "../api/types.js";
import type { CatalogDeregisterRequest, CatalogRegisterRequest, NodeServicesJson } from "../fsm/index.js";
import type { Guard } from "./acl-guard.js";

/** A leader read: a stale one could judge against a catalog that misses a write just made. */
const NOW: QueryOptions = { consistency: "default", minIndex: 0, waitMs: 0 };

const sameMap = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
};

function changesNode(req: CatalogRegisterRequest, existing: NodeServicesJson | null): boolean {
  if (existing === null) return true;
  const n = existing.Node;
  return (
    (req.ID !== "" && req.ID !== n.ID) ||
    req.Address !== n.Address ||
    !sameMap(req.TaggedAddresses, n.TaggedAddresses) ||
    !sameMap(req.NodeMeta, n.Meta)
  );
}

export async function requireRegister(
  acl: Guard,
  api: ServerApi,
  req: CatalogRegisterRequest,
): Promise<void> {
  if (acl.authorizer.isManagement) return;
  const existing = (await api.catalogNodeServices(req.Node, NOW)).value;
  if (!req.SkipNodeUpdate && changesNode(req, existing)) acl.require("node", "write", req.Node);
  const serviceName = (id: string): string | undefined =>
    req.Service !== null && req.Service.ID === id ? req.Service.Service : existing?.Services[id]?.Service;
  if (req.Service !== null) {
    acl.require("service", "write", req.Service.Service);
    const replaced = existing?.Services[req.Service.ID];
    if (replaced !== undefined && replaced.Service !== req.Service.Service)
      acl.require("service", "write", replaced.Service);
  }
  for (const check of req.Checks) {
    const name = check.ServiceID === "" ? undefined : serviceName(check.ServiceID);
    if (name === undefined) acl.require("node", "write", req.Node);
    else acl.require("service", "write", name);
  }
}

export async function requireDeregister(
  acl: Guard,
  api: ServerApi,
  req: CatalogDeregisterRequest,
): Promise<void> {
  if (acl.authorizer.isManagement) return;
  if (req.ServiceID !== "") {
    const existing = (await api.catalogNodeServices(req.Node, NOW)).value;
    const service = existing?.Services[req.ServiceID];
    if (service !== undefined) acl.require("service", "write", service.Service);
    else acl.require("node", "write", req.Node);
    return;
  }
  if (req.CheckID !== "") {
    const checks = (await api.healthNode(req.Node, NOW)).value;
    const check = checks.find((c) => c.CheckID === req.CheckID);
    if (check !== undefined && check.ServiceID !== "") acl.require("service", "write", check.ServiceName);
    else acl.require("node", "write", req.Node);
    return;
  }
  acl.require("node", "write", req.Node);
}
