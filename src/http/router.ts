/**
 * The route table and the top-level pure handler `handle(req, api)`: path decoding, Consul's method rules
 * (405 with `Allow`, OPTIONS), its 404 texts, the error mapping of errors.ts and the headers every response
 * carries. Matching is on the decoded path, as Go's mux matches req.URL.Path.
 */
import type { ServerApi } from "../api/types.js";
import type { LocalAgent } from "../local/state.js";
import {
  ACL_ROUTE_ACCESS,
  aclBootstrap,
  aclPolicyByName,
  aclPolicyCreate,
  aclPolicyEndpoint,
  aclPolicyList,
  aclTokenCreate,
  aclTokenEndpoint,
  aclTokenList,
  aclTokenSelf,
} from "./acl.js";
import { guard } from "./acl-guard.js";
import {
  agentForceLeave,
  agentJoin,
  agentLeave,
  agentMembers,
  agentMetrics,
  agentSelf,
  metrics,
} from "./agent.js";
import {
  agentChecks,
  agentReload,
  agentService,
  agentServices,
  checkDeregister,
  checkFail,
  checkPass,
  checkRegister,
  checkUpdate,
  checkWarn,
  healthServiceById,
  healthServiceByName,
  nodeMaintenance,
  serviceDeregister,
  serviceMaintenance,
  serviceRegister,
} from "./agent-local.js";
import {
  catalogConnect,
  catalogDatacenters,
  catalogDeregister,
  catalogNode,
  catalogNodes,
  catalogRegister,
  catalogService,
  catalogServices,
} from "./catalog.js";
import { errorResponse } from "./errors.js";
import { healthChecks, healthNode, healthService, healthState } from "./health.js";
import { kvEndpoint } from "./kv.js";
import { emptyResponse, type Handler, type HttpRequest, type HttpResponse, textResponse } from "./model.js";
import {
  autopilotHealth,
  raftConfiguration,
  raftRemovePeer,
  raftTransferLeader,
  statusLeader,
  statusPeers,
} from "./operator.js";
import {
  sessionCreate,
  sessionDestroy,
  sessionInfo,
  sessionList,
  sessionNode,
  sessionRenew,
} from "./session.js";
import { snapshotRestore, snapshotSave } from "./snapshot.js";
import { txnEndpoint } from "./txn.js";
import { isUiPath, serveUi, type UiAssets, uiRedirect } from "./ui.js";

export interface Route {
  /** An exact path, or a subtree when it ends in "/" (Go's mux: "/v1/kv/" matches "/v1/kv/a/b"). */
  readonly pattern: string;
  /** Handlers by method, in the order Consul lists them in `Allow`. */
  readonly methods: Readonly<Record<string, Handler>>;
}

export const ROUTES: readonly Route[] = [
  { pattern: "/v1/kv/", methods: kvEndpoint },
  { pattern: "/v1/txn", methods: { PUT: txnEndpoint } },
  { pattern: "/v1/session/create", methods: { PUT: sessionCreate } },
  { pattern: "/v1/session/destroy/", methods: { PUT: sessionDestroy } },
  { pattern: "/v1/session/renew/", methods: { PUT: sessionRenew } },
  { pattern: "/v1/session/info/", methods: { GET: sessionInfo } },
  { pattern: "/v1/session/node/", methods: { GET: sessionNode } },
  { pattern: "/v1/session/list", methods: { GET: sessionList } },
  { pattern: "/v1/catalog/register", methods: { PUT: catalogRegister } },
  { pattern: "/v1/catalog/deregister", methods: { PUT: catalogDeregister } },
  { pattern: "/v1/catalog/datacenters", methods: { GET: catalogDatacenters } },
  { pattern: "/v1/catalog/nodes", methods: { GET: catalogNodes } },
  { pattern: "/v1/catalog/services", methods: { GET: catalogServices } },
  { pattern: "/v1/catalog/service/", methods: { GET: catalogService } },
  { pattern: "/v1/catalog/connect/", methods: { GET: catalogConnect } },
  { pattern: "/v1/catalog/node/", methods: { GET: catalogNode } },
  { pattern: "/v1/health/node/", methods: { GET: healthNode } },
  { pattern: "/v1/health/checks/", methods: { GET: healthChecks } },
  { pattern: "/v1/health/service/", methods: { GET: healthService } },
  { pattern: "/v1/health/state/", methods: { GET: healthState } },
  { pattern: "/v1/status/leader", methods: { GET: statusLeader } },
  { pattern: "/v1/status/peers", methods: { GET: statusPeers } },
  { pattern: "/v1/operator/raft/configuration", methods: { GET: raftConfiguration } },
  { pattern: "/v1/operator/raft/peer", methods: { DELETE: raftRemovePeer } },
  { pattern: "/v1/operator/raft/transfer-leader", methods: { POST: raftTransferLeader } },
  { pattern: "/v1/operator/autopilot/health", methods: { GET: autopilotHealth } },
  { pattern: "/v1/acl/bootstrap", methods: { PUT: aclBootstrap } },
  { pattern: "/v1/acl/token", methods: { PUT: aclTokenCreate } },
  { pattern: "/v1/acl/token/self", methods: { GET: aclTokenSelf } },
  { pattern: "/v1/acl/token/", methods: aclTokenEndpoint },
  { pattern: "/v1/acl/tokens", methods: { GET: aclTokenList } },
  { pattern: "/v1/acl/policy", methods: { PUT: aclPolicyCreate } },
  { pattern: "/v1/acl/policy/", methods: aclPolicyEndpoint },
  { pattern: "/v1/acl/policy/name/", methods: { GET: aclPolicyByName } },
  { pattern: "/v1/acl/policies", methods: { GET: aclPolicyList } },
  { pattern: "/v1/snapshot", methods: { GET: snapshotSave, PUT: snapshotRestore } },
  { pattern: "/v1/agent/self", methods: { GET: agentSelf } },
  { pattern: "/v1/agent/members", methods: { GET: agentMembers } },
  { pattern: "/v1/agent/leave", methods: { PUT: agentLeave } },
  { pattern: "/v1/agent/reload", methods: { PUT: agentReload } },
  { pattern: "/v1/agent/join/", methods: { PUT: agentJoin } },
  { pattern: "/v1/agent/force-leave/", methods: { PUT: agentForceLeave } },
  { pattern: "/v1/agent/metrics", methods: { GET: agentMetrics } },
  { pattern: "/v1/agent/services", methods: { GET: agentServices } },
  { pattern: "/v1/agent/service/", methods: { GET: agentService } },
  { pattern: "/v1/agent/service/register", methods: { PUT: serviceRegister } },
  { pattern: "/v1/agent/service/deregister/", methods: { PUT: serviceDeregister } },
  { pattern: "/v1/agent/service/maintenance/", methods: { PUT: serviceMaintenance } },
  { pattern: "/v1/agent/checks", methods: { GET: agentChecks } },
  { pattern: "/v1/agent/check/register", methods: { PUT: checkRegister } },
  { pattern: "/v1/agent/check/deregister/", methods: { PUT: checkDeregister } },
  { pattern: "/v1/agent/check/pass/", methods: { PUT: checkPass } },
  { pattern: "/v1/agent/check/warn/", methods: { PUT: checkWarn } },
  { pattern: "/v1/agent/check/fail/", methods: { PUT: checkFail } },
  { pattern: "/v1/agent/check/update/", methods: { PUT: checkUpdate } },
  { pattern: "/v1/agent/maintenance", methods: { PUT: nodeMaintenance } },
  { pattern: "/v1/agent/health/service/id/", methods: { GET: healthServiceById } },
  { pattern: "/v1/agent/health/service/name/", methods: { GET: healthServiceByName } },
  { pattern: "/metrics", methods: { GET: metrics } },
];

/** Sent on every response, as Consul sends it even with ACLs disabled (then "allow"). */
export const DEFAULT_ACL_POLICY_HEADER = "X-Consul-Default-ACL-Policy";

export const NOT_A_ROUTE = "Invalid URL path: not a recognized HTTP API endpoint\n";

const EXACT = new Map(ROUTES.filter((r) => !r.pattern.endsWith("/")).map((r) => [r.pattern, r]));
/** Longest first, so the most specific subtree wins as in Go's mux. */
const SUBTREES = ROUTES.filter((r) => r.pattern.endsWith("/")).sort(
  (a, b) => b.pattern.length - a.pattern.length,
);

/** The route serving a decoded path, or undefined. */
export function matchRoute(path: string): Route | undefined {
  return EXACT.get(path) ?? SUBTREES.find((r) => path.startsWith(r.pattern));
}

/**
 * A label for metrics: the route's pattern, so that keys in paths do not explode the label set.
 * Unknown paths share one label.
 */
export function routeLabel(rawPath: string): string {
  const path = decodePath(rawPath);
  if (path === null) return "invalid";
  if (path === "/") return "/";
  return matchRoute(path)?.pattern ?? "unknown";
}

function decodePath(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/**
 * Go's cleanhttp.PrintablePathCheckHandler: unicode.IsPrint, i.e. no control, format, private-use or
 * unassigned code points, and no space other than U+0020.
 */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;

function allowHeader(route: Route): string {
  return ["OPTIONS", ...Object.keys(route.methods)].join(",");
}

async function dispatch(
  req: HttpRequest,
  api: ServerApi,
  local: LocalAgent | undefined,
  ui: UiAssets | undefined,
): Promise<HttpResponse> {
  const path = decodePath(req.path);
  // Go's server refuses a request target with a bad escape (or, here, bytes that are not UTF-8).
  if (path === null) return textResponse(400, "400 Bad Request");
  if (UNPRINTABLE.test(path)) return emptyResponse(400);
  if (path === "/") return uiRedirect();
  if (isUiPath(path)) return serveUi(req, path, ui);
  const route = matchRoute(path);
  if (route === undefined) {
    // Consul's index handler answers anything outside /v1/ with an empty 404.
    return path.startsWith("/v1/") ? textResponse(404, NOT_A_ROUTE) : emptyResponse(404);
  }
  const allow = allowHeader(route);
  if (req.method === "OPTIONS") return emptyResponse(200, { Allow: allow });
  const handler = Object.hasOwn(route.methods, req.method) ? route.methods[req.method] : undefined;
  if (handler === undefined) return textResponse(405, `method ${req.method} not allowed`, { Allow: allow });
  const rest = route.pattern.endsWith("/") ? path.slice(route.pattern.length) : "";
  try {
    // The ACL endpoints need acl:read or acl:write before anything else (Consul's ACL RPCs check it first).
    const aclAccess = ACL_ROUTE_ACCESS[`${req.method} ${route.pattern}`];
    if (aclAccess === "read" || aclAccess === "write") (await guard(req, api)).require("acl", aclAccess, "");
    // Not awaited: a blocking query then holds no suspended frame of this function (api/blocking.ts says why).
    return handler(req, api, { path, rest, local }).catch(errorResponse);
  } catch (err) {
    return errorResponse(err);
  }
}

/**
 * The whole API as one pure function. Rejects only with an AssertionError (a bug). `ui` is the web UI's files
 * (ui-assets.ts); without them /ui answers 404.
 */
export function handle(
  req: HttpRequest,
  api: ServerApi,
  local?: LocalAgent,
  ui?: UiAssets,
): Promise<HttpResponse> {
  return dispatch(req, api, local, ui).then((res) => ({
    ...res,
    headers: { ...res.headers, [DEFAULT_ACL_POLICY_HEADER]: api.acl.aclSettings().defaultPolicy },
  }));
}
