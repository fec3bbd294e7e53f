/**
 * The handshake: the first frame each way on every connection. The dialer sends `hello` (its identity, the raft id
 * it means to reach, and what the connection is for); the listener answers `helloOk` with its identity, or
 * `refuse` with a reason and closes. Both sides check: a server never talks raft across datacenters, and a dialer
 * whose address book maps the wrong raft id to an address must not deliver messages to the wrong server.
 * JSON because it happens once per connection and stays readable in a packet capture.
 */
import type { NodeId } from "../raft/types.js";
import { HandshakeError } from "./errors.js";
import type { NodeIdentity } from "./transport.js";

export const HANDSHAKE_PROTO = 1;
/** A frame before the handshake completes is bounded far below frameBytesMax: strangers get little memory. */
export const HANDSHAKE_BYTES_MAX = 4096;
const FIELD_CHARS_MAX = 256;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * raft: messages and requests; snapshot: one InstallSnapshot stream, then the connection closes; probe: learn
 * who listens at an address (membership discovery, -retry-join), then the connection closes.
 */
export type ConnectionPurpose = "raft" | "snapshot" | "probe";

export interface Hello extends NodeIdentity {
  readonly proto: number;
  readonly purpose: ConnectionPurpose;
  /** The raft id the dialer believes it is connecting to. */
  readonly expectRaftId: NodeId;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

export function encodeHello(h: Hello): Uint8Array {
  return utf8.encode(JSON.stringify(h));
}

export function encodeIdentity(id: NodeIdentity): Uint8Array {
  const { nodeId, raftId, name, datacenter, version } = id;
  return utf8.encode(JSON.stringify({ proto: HANDSHAKE_PROTO, nodeId, raftId, name, datacenter, version }));
}

function parseObject(payload: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(payload));
  } catch {
    throw new HandshakeError(`cannot parse ${what}: not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HandshakeError(`cannot parse ${what}: not an object`);
  }
  return value as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== "string" || v.length === 0 || v.length > FIELD_CHARS_MAX) {
    throw new HandshakeError(
      `cannot parse ${what}: "${key}" must be a string of 1 to ${FIELD_CHARS_MAX} characters`,
    );
  }
  return v;
}

function id(o: Record<string, unknown>, key: string, what: string): NodeId {
  const v = o[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw new HandshakeError(`cannot parse ${what}: "${key}" must be a positive safe integer`);
  }
  return v;
}

export function decodeIdentity(payload: Uint8Array, what = "handshake"): NodeIdentity & { proto: number } {
  const o = parseObject(payload, what);
  const proto = o.proto;
  if (proto !== HANDSHAKE_PROTO) throw new HandshakeError(`unsupported handshake protocol ${String(proto)}`);
  const nodeId = str(o, "nodeId", what);
  if (!UUID.test(nodeId)) throw new HandshakeError(`cannot parse ${what}: nodeId "${nodeId}" is not a UUID`);
  return {
    proto,
    nodeId,
    raftId: id(o, "raftId", what),
    name: str(o, "name", what),
    datacenter: str(o, "datacenter", what),
    version: str(o, "version", what),
  };
}

export function decodeHello(payload: Uint8Array): Hello {
  const identity = decodeIdentity(payload, "hello");
  const o = parseObject(payload, "hello");
  const purpose = o.purpose;
  if (purpose !== "raft" && purpose !== "snapshot" && purpose !== "probe") {
    throw new HandshakeError(`cannot parse hello: unknown purpose "${String(purpose)}"`);
  }
  // A probe does not know whom it dials: that is what it asks.
  const expectRaftId = purpose === "probe" ? 0 : id(o, "expectRaftId", "hello");
  return { ...identity, purpose, expectRaftId };
}

/** The listener's checks of a hello; returns the reason to refuse, or null to accept. */
export function refuseHello(local: NodeIdentity, h: Hello): string | null {
  if (h.datacenter !== local.datacenter) {
    return `datacenter "${h.datacenter}" of node "${h.name}" does not match local datacenter "${local.datacenter}"`;
  }
  if (h.purpose !== "probe" && h.expectRaftId !== local.raftId) {
    return `node "${h.name}" dialed raft id ${h.expectRaftId}, but this server "${local.name}" is raft id ${local.raftId}`;
  }
  if (h.nodeId === local.nodeId) return `node "${h.name}" connected to itself (node id ${h.nodeId})`;
  return null;
}

/** The dialer's checks of a helloOk; returns the reason to give up on this address, or null to accept. */
export function refuseHelloOk(local: NodeIdentity, expectRaftId: NodeId, peer: NodeIdentity): string | null {
  if (peer.datacenter !== local.datacenter) {
    return `datacenter "${peer.datacenter}" of node "${peer.name}" does not match local datacenter "${local.datacenter}"`;
  }
  if (expectRaftId !== 0 && peer.raftId !== expectRaftId) {
    return `expected raft id ${expectRaftId} but node "${peer.name}" is raft id ${peer.raftId}`;
  }
  return null;
}
