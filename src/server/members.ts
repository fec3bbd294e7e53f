import type { NodeId } from "../raft/index.js";

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

/** The first 48 bits of the UUID: unique in practice, and a safe integer for the raft core. */
export function raftIdOf(nodeId: string): NodeId {
  const hex = nodeId.replace(/-/g, "").slice(0, 12);
  const id = Number.parseInt(hex, 16);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new RangeError(`cannot derive a raft id from node id "${nodeId}"`);
  return id;
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
