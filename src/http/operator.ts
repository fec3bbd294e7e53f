/**
 * /v1/status/* and /v1/operator/*: leader and peers, the raft configuration, peer removal, leadership
 * transfer and autopilot health, with Consul's shapes (field order of its api structs) and messages
 * (agent/status_endpoint.go, agent/operator_endpoint.go).
 */
import type { RaftServerInfo, ServerApi, ServerHealth } from "../api/types.js";
import { guard } from "./acl-guard.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";
import { emptyResponse, type Handler } from "./model.js";
import { checkDatacenter, formatGoDurationMs, get, has, parseQueryOptions } from "./params.js";
import { jsonResponse } from "./respond.js";

/** Consul's `parse` then the datacenter check; true when the caller asked for a stale answer. */
function parseRead(q: URLSearchParams, api: ServerApi): boolean {
  const stale = parseQueryOptions(q).consistency === "stale";
  checkDatacenter(q, api);
  return stale;
}

export const statusLeader: Handler = async (req, api) => {
  parseRead(req.query, api);
  return jsonResponse(req, api.leaderAddress());
};

export const statusPeers: Handler = async (req, api) => {
  parseRead(req.query, api);
  return jsonResponse(req, api.peers());
};

/** structs.RaftServer's field order. */
function raftServerJson(s: RaftServerInfo): GoJson {
  return {
    ID: s.id,
    Node: s.node,
    Address: s.address,
    Leader: s.leader,
    ProtocolVersion: s.protocolVersion,
    Voter: s.voter,
    LastIndex: s.lastIndex,
  };
}

export const raftConfiguration: Handler = async (req, api) => {
  const stale = parseRead(req.query, api);
  (await guard(req, api)).require("operator", "read", "");
  const conf = await api.raftConfiguration(stale);
  return jsonResponse(req, { Servers: conf.servers.map(raftServerJson), Index: conf.index });
};

export const raftRemovePeer: Handler = async (req, api) => {
  checkDatacenter(req.query, api);
  const hasId = has(req.query, "id");
  const hasAddress = has(req.query, "address");
  if (!hasId && !hasAddress) {
    throw new HttpError(
      400,
      "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
    );
  }
  if (hasId && hasAddress) throw new HttpError(400, "Must specify only one of ?id or ?address");
  (await guard(req, api)).require("operator", "write", "");
  await api.removePeer(hasId ? { id: get(req.query, "id") } : { address: get(req.query, "address") });
  return emptyResponse(200);
};

export const raftTransferLeader: Handler = async (req, api) => {
  const id = get(req.query, "id");
  (await guard(req, api)).require("operator", "write", "");
  const success = await api.transferLeader(id === "" ? null : id);
  return jsonResponse(req, { Success: success });
};

/** api.ServerHealth's field order; LastContact as Go prints a time.Duration. */
function serverHealthJson(s: ServerHealth): GoJson {
  return {
    ID: s.id,
    Name: s.name,
    Address: s.address,
    SerfStatus: s.serfStatus,
    Version: s.version,
    Leader: s.leader,
    LastContact: formatGoDurationMs(s.lastContactMs),
    LastTerm: s.lastTerm,
    LastIndex: s.lastIndex,
    Healthy: s.healthy,
    Voter: s.voter,
    StableSince: s.stableSince,
  };
}

export const autopilotHealth: Handler = async (req, api) => {
  const stale = parseRead(req.query, api);
  (await guard(req, api)).require("operator", "read", "");
  const h = await api.autopilotHealth(stale);
  const body = {
    Healthy: h.healthy,
    FailureTolerance: h.failureTolerance,
    Servers: h.servers.map(serverHealthJson),
  };
  // Consul answers 429 with the same body when unhealthy, so a load balancer check can use the status.
  return jsonResponse(req, body, {}, h.healthy ? 200 : 429);
};
