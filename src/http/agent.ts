/**
 * /v1/agent/self, /v1/agent/members and the metrics endpoints, in the shapes of Consul's agent/agent_endpoint.go
 * (Self{Config, DebugConfig, Coord, Member, Stats, Meta}; serf.Member). cairn has no Serf: members are what
 * the leader knows from heartbeats, and Serf's protocol numbers are reported as a current Consul reports them.
 */
import type { AgentInfo, MemberInfo, ServerApi } from "../api/types.js";
import { guard } from "./acl-guard.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";
import { metricsSummary } from "./metrics-summary.js";
import { emptyResponse, type Handler } from "./model.js";
import { get, has } from "./params.js";
import { jsonResponse } from "./respond.js";

/** Go's zero time.Time in RFC 3339, what a build without a build date reports as BuildDate. */
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";
/** Serf's LAN port: Consul reports members on it (cairn has no Serf; the number keeps clients' parsing happy). */
const SERF_LAN_PORT = 8301;
const SERF_WAN_PORT = 8302;

/** serf.Member's field order, with the protocol ranges of Consul 1.x's Serf and memberlist. */
function memberJson(m: MemberInfo): GoJson {
  return {
    Name: m.name,
    Addr: m.addr,
    Port: m.port,
    Tags: { ...m.tags },
    Status: m.status,
    ProtocolMin: 1,
    ProtocolMax: 5,
    ProtocolCur: 2,
    DelegateMin: 2,
    DelegateMax: 5,
    DelegateCur: 4,
  };
}

function hostOf(address: string): string {
  const at = address.lastIndexOf(":");
  const host = at === -1 ? address : address.slice(0, at);
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** This agent as a member: the leader's view of it when it has one, else built from the agent's own facts. */
function selfMember(api: ServerApi, self: AgentInfo): MemberInfo {
  const known = api.members().find((m) => m.name === self.nodeName);
  if (known !== undefined) return known;
  return {
    name: self.nodeName,
    addr: hostOf(self.rpcAddress),
    port: SERF_LAN_PORT,
    status: 1,
    tags: {
      role: self.server ? "consul" : "node",
      dc: self.datacenter,
      id: self.nodeId,
      build: `${self.version}:${self.revision}`,
    },
  };
}

export const agentSelf: Handler = async (req, api) => {
  const self = api.agentSelf();
  (await guard(req, api)).require("agent", "read", self.nodeName);
  const config = {
    Datacenter: self.datacenter,
    PrimaryDatacenter: self.datacenter,
    NodeName: self.nodeName,
    NodeID: self.nodeId,
    Revision: self.revision,
    Server: self.server,
    Version: self.version,
    BuildDate: GO_ZERO_TIME,
  };
  const debug = {
    Datacenter: self.datacenter,
    NodeName: self.nodeName,
    NodeID: self.nodeId,
    ServerMode: self.server,
    Revision: self.revision,
    Version: self.version,
  };
  const stats: Record<string, GoJson> = {};
  for (const [k, v] of Object.entries(self.stats)) stats[k] = { ...v };
  return jsonResponse(req, {
    Config: config,
    DebugConfig: debug,
    Coord: null,
    Member: memberJson(selfMember(api, self)),
    Stats: stats,
    Meta: { "consul-network-segment": "", "consul-version": self.version },
  });
};

export const agentMembers: Handler = async (req, api) => {
  const acl = await guard(req, api);
  // Consul's filterMembers: a member whose node the token may not read is left out.
  let members = acl.readable(api.members(), "node", (m) => m.name);
  if (has(req.query, "wan")) {
    // The WAN pool: this datacenter's servers, named "<node>.<dc>" on Serf's WAN port, and those of the others.
    const dc = api.datacenter;
    members = members
      .filter((m) => m.tags.role === "consul")
      .map((m) => ({ ...m, name: `${m.name}.${dc}`, port: SERF_WAN_PORT }))
      .concat(acl.readable(api.wanMembers(), "node", (m) => m.name));
  }
  return jsonResponse(req, members.map(memberJson));
};

/** Prometheus' text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Needs agent:read on this agent, as Consul's /v1/agent/metrics (cairn's /metrics serves the same text). */
export const metrics: Handler = async (req, api) => {
  (await guard(req, api)).require("agent", "read", api.agentSelf().nodeName);
  return {
    status: 200,
    headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE },
    body: await api.metricsText(),
  };
};

/** `?format=prometheus`: the text exposition; otherwise Consul's JSON summary (metrics-summary.ts). */
export const agentMetrics: Handler = async (req, api, ctx) => {
  if (get(req.query, "format") === "prometheus") return metrics(req, api, ctx);
  (await guard(req, api)).require("agent", "read", api.agentSelf().nodeName);
  return jsonResponse(req, metricsSummary(await api.metricsValues(), new Date(), process.uptime()));
};

/** Graceful leave: answered once this server is out of the configuration; the agent then shuts down. */
export const agentLeave: Handler = async (req, api) => {
  (await guard(req, api)).require("agent", "write", api.agentSelf().nodeName);
  await api.leave();
  return { status: 200, headers: {}, body: "" };
};

/**
 * PUT /v1/agent/join/<addr>[?wan]: cairn has no Serf pools; `addr` is a server's RPC address (port 8300 when
 * none), and the join adds a fresh server to this cluster or this fresh server to that one (ServerApi.join).
 * The WAN pool is the same servers (one datacenter), so `?wan` joins alike. Failures: 500 with the reason.
 */
export const agentJoin: Handler = async (req, api, ctx) => {
  if (ctx.rest === "") throw new HttpError(400, "Missing address to join");
  (await guard(req, api)).require("agent", "write", api.agentSelf().nodeName);
  await api.join(ctx.rest);
  return emptyResponse(200);
};

/**
 * PUT /v1/agent/force-leave/<node>[?prune][?wan]: cairn has no Serf, so there is no "left" state to force: the
 * named server is removed from the Raft configuration, as `operator raft remove-peer` does, which also takes it out
 * of the members (so `prune` changes nothing more). A `?wan` name is `<node>.<dc>`. An unknown name is Consul's
 * error (500). Unlike Serf, a live server so removed does not come back by itself (docs/consul-compat.md §8.7b).
 * A client agent's name: the leader deregisters its node, which leaves the members at once (so `prune` changes
 * nothing more either); a client still alive registers again at its next heartbeat, as a Serf member rejoins.
 */
export const agentForceLeave: Handler = async (req, api, ctx) => {
  (await guard(req, api)).require("operator", "write", "");
  let node = ctx.rest;
  const wanSuffix = `.${api.datacenter}`;
  if (has(req.query, "wan") && node.endsWith(wanSuffix)) node = node.slice(0, -wanSuffix.length);
  const server = (await api.raftConfiguration(true)).servers.find((s) => s.node === node);
  if (server === undefined) {
    const client = api.members().find((m) => m.name === node && m.tags.role === "node");
    if (client === undefined) throw new HttpError(500, `agent: No node found with name '${ctx.rest}'`);
    await api.forceLeaveClient(client.name);
    return emptyResponse(200);
  }
  await api.removePeer({ id: server.id });
  return emptyResponse(200);
};
