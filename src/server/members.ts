import type { NodeId } from "../raft/index.js";
import type { NodeIdentity } from "../transport/index.js";
import { CairnError, errorText } from "../util/errors.js";
import { VERSION } from "../util/version.js";
import { int, object, str } from "./rpc.js";

/**
 * A server as the cluster knows it. The raft id is derived from the node id (a UUID), so every server computes
 * the same id for a peer without coordination.
 */
export interface ServerRecord {
  readonly raftId: NodeId;
  readonly nodeId: string;
  readonly name: string;
  /** Server RPC address "host:port". */
  readonly addr: string;
}

/** A ServerRecord's JSON shape, checked where one arrives (a join request, a snapshot's sidecar). */
export const serverRecord = object({ raftId: int, nodeId: str, name: str, addr: str });

/** The first 48 bits of the UUID: unique in practice, and a safe integer for the raft core. */
export function raftIdOf(nodeId: string): NodeId {
  const hex = nodeId.replace(/-/g, "").slice(0, 12);
  const id = Number.parseInt(hex, 16);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new RangeError(`cannot derive a raft id from node id "${nodeId}"`);
  return id;
}

/** How an agent (server or client) names itself in the transport's handshake: its data dir's node id, this version. */
export function agentIdentity(nodeId: string, name: string, datacenter: string): NodeIdentity {
  return { nodeId, raftId: raftIdOf(nodeId), name, datacenter, version: VERSION };
}

/** Conf entries carry the new member's record as their context, so every server learns its address from the log. */
export function encodeMemberContext(r: ServerRecord): string {
  return JSON.stringify({ nodeId: r.nodeId, name: r.name, addr: r.addr });
}

export function decodeMemberContext(raftId: NodeId, context: string | undefined): ServerRecord | null {
  if (context === undefined || context === "") return null;
  try {
    const o = JSON.parse(context) as Record<string, unknown>;
    if (typeof o.nodeId !== "string" || typeof o.name !== "string" || typeof o.addr !== "string") return null;
    return { raftId, nodeId: o.nodeId, name: o.name, addr: o.addr };
  } catch {
    return null;
  }
}

export interface RecoveryPeer {
  readonly record: ServerRecord;
  readonly nonVoter: boolean;
}

/**
 * Parses Consul's raft protocol 3 peers.json: `[{"id": "<node-id>", "address": "ip:port", "non_voter": false}]`.
 * Throws with the file name and the entry at fault, so the operator can fix it.
 */
export function parsePeersJson(text: string, path: string): RecoveryPeer[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RecoveryError(`cannot parse "${path}": ${errorText(e)}`);
  }
  if (!Array.isArray(v) || v.length === 0)
    throw new RecoveryError(`"${path}" must be a non-empty JSON array of peers`);
  return v.map((p: unknown, i) => {
    const o = (typeof p === "object" && p !== null ? p : {}) as Record<string, unknown>;
    if (typeof o.id !== "string" || !/^[0-9a-f-]{36}$/i.test(o.id)) {
      throw new RecoveryError(`"${path}" entry ${i}: "id" must be the server's node ID (a UUID)`);
    }
    if (typeof o.address !== "string" || !/:\d+$/.test(o.address)) {
      throw new RecoveryError(`"${path}" entry ${i}: "address" must be "host:port"`);
    }
    const name = typeof o.name === "string" ? o.name : o.address;
    return {
      record: { raftId: raftIdOf(o.id), nodeId: o.id, name, addr: o.address },
      nonVoter: o.non_voter === true,
    };
  });
}

export class RecoveryError extends CairnError {
  readonly code = "recovery";
  override name = "RecoveryError";
}
