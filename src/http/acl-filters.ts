/**
 * What a token may see of catalog and health answers: Consul's aclFilter (agent/consul/acl.go), applied to
 * each read's JSON after the read, so the index and blocking behaviour stay those of the whole table. A node
 * needs node:read, a service or instance service:read, both for an instance on a node; a check the rights of
 * its node and, when it belongs to a service, of that service.
 */
import type {
  HealthCheckJson,
  NodeJson,
  NodeServicesJson,
  ServiceEntryJson,
  ServiceJson,
  ServiceNodeJson,
} from "../fsm/index.js";
import type { Guard } from "./acl-guard.js";
import type { GoJson } from "./json.js";

/** How one read's answer is narrowed to what the request's token may read. */
export type Visible = (acl: Guard, value: GoJson) => GoJson;

const node = (acl: Guard, name: string) => acl.allows("node", "read", name);
/** Consul's allowService: a check of no service ("" name) needs only its node's right. */
const service = (acl: Guard, name: string) => name === "" || acl.allows("service", "read", name);

export const visibleNodes: Visible = (acl, v) => (v as NodeJson[]).filter((n) => node(acl, n.Node));

/** /v1/catalog/services: a map of service name → tags. */
export const visibleServiceNames: Visible = (acl, v) =>
  Object.fromEntries(Object.entries(v as Record<string, GoJson>).filter(([name]) => service(acl, name)));

export const visibleServiceNodes: Visible = (acl, v) =>
  (v as ServiceNodeJson[]).filter((s) => node(acl, s.Node) && service(acl, s.ServiceName));

/** /v1/catalog/node/<node>: null when the node may not be read, as Consul's filterNodeServices answers. */
export const visibleNodeServices: Visible = (acl, v) => {
  const ns = v as NodeServicesJson | null;
  if (ns === null || !node(acl, ns.Node.Node)) return null;
  const services = Object.entries(ns.Services).filter(([, s]: [string, ServiceJson]) =>
    service(acl, s.Service),
  );
  return { ...ns, Services: Object.fromEntries(services) } as GoJson;
};

export const visibleChecks: Visible = (acl, v) =>
  (v as HealthCheckJson[]).filter((c) => node(acl, c.Node) && service(acl, c.ServiceName));

export const visibleServiceEntries: Visible = (acl, v) =>
  (v as ServiceEntryJson[]).filter((e) => node(acl, e.Node.Node) && service(acl, e.Service.Service));
