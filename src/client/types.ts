/**
 * The shapes the client returns, decoded from Consul's JSON with uint64 fields exact (bigint). Field names are
 * camelCase; each decoder names the Consul field it reads. Decoders accept missing fields as Go does (zero values).
 */
import { DecodeError } from "./errors.js";
import { bool, isObject, type Json, num, str, toU64 } from "./json.js";

/** Response metadata of a read (Go's api.QueryMeta). */
export interface QueryMeta {
  /** X-Consul-Index; 0n when absent. */
  readonly lastIndex: bigint;
  /** X-Consul-KnownLeader == "true". */
  readonly knownLeader: boolean;
  /** X-Consul-LastContact, milliseconds since the answering server heard from the leader. */
  readonly lastContactMs: number;
}

export interface KVPair {
  readonly key: string;
  readonly createIndex: bigint;
  readonly modifyIndex: bigint;
  readonly lockIndex: bigint;
  /** Opaque uint64 the user chose; exact past 2^53. */
  readonly flags: bigint;
  readonly value: Buffer;
  /** Holder of the lock, "" when none. */
  readonly session: string;
  /** Enterprise only; "" on CE. */
  readonly namespace: string;
  readonly partition: string;
}

export interface RaftServer {
  readonly id: string;
  readonly node: string;
  readonly address: string;
  readonly leader: boolean;
  readonly voter: boolean;
  /** "" on servers that do not report it (list-peers then prints `<=1`). */
  readonly protocolVersion: string;
  readonly lastIndex: bigint;
}

export interface RaftConfiguration {
  readonly servers: RaftServer[];
  readonly index: bigint;
}

export interface ServerHealth {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly serfStatus: string;
  readonly version: string;
  readonly leader: boolean;
  /** Go duration string, e.g. "0s" or "12ms". */
  readonly lastContact: string;
  readonly lastTerm: bigint;
  readonly lastIndex: bigint;
  readonly healthy: boolean;
  readonly voter: boolean;
  readonly stableSince: string;
}

export interface AutopilotHealth {
  readonly healthy: boolean;
  readonly failureTolerance: number;
  readonly servers: ServerHealth[];
}

export interface AgentMember {
  readonly name: string;
  readonly addr: string;
  readonly port: number;
  readonly tags: Record<string, string>;
  /** Serf status: 0 none, 1 alive, 2 leaving, 3 left, 4 failed. */
  readonly status: number;
  readonly protocolMin: number;
  readonly protocolMax: number;
  readonly protocolCur: number;
  readonly delegateMin: number;
  readonly delegateMax: number;
  readonly delegateCur: number;
}

export function objectOf(v: Json | undefined, what: string): { [key: string]: Json } {
  if (!isObject(v)) throw new DecodeError(`Failed to decode ${what}: expected a JSON object`);
  return v;
}

export function arrayOf(v: Json | undefined, what: string): Json[] {
  if (v === null) return []; // Go encodes a nil slice as null
  if (!Array.isArray(v)) throw new DecodeError(`Failed to decode ${what}: expected a JSON array`);
  return v;
}

export function decodeKVPair(v: Json | undefined): KVPair {
  const o = objectOf(v, "KV entry");
  const value = o.Value;
  if (value !== null && value !== undefined && typeof value !== "string") {
    throw new DecodeError("Failed to decode KV entry: Value is not base64 text");
  }
  return {
    key: str(o.Key),
    createIndex: toU64(o.CreateIndex, "CreateIndex"),
    modifyIndex: toU64(o.ModifyIndex, "ModifyIndex"),
    lockIndex: toU64(o.LockIndex, "LockIndex"),
    flags: toU64(o.Flags, "Flags"),
    value: typeof value === "string" ? Buffer.from(value, "base64") : Buffer.alloc(0),
    session: str(o.Session),
    namespace: str(o.Namespace),
    partition: str(o.Partition),
  };
}

export interface SessionSpec {
  readonly name?: string;
  /** A Go duration string ("15s"). */
  readonly ttl?: string;
  /** A Go duration string ("15s"). */
  readonly lockDelay?: string;
  readonly behavior?: "release" | "delete";
  readonly nodeChecks?: readonly string[];
}

export interface SessionEntry {
  readonly id: string;
  readonly name: string;
  readonly node: string;
  /** Nanoseconds. */
  readonly lockDelayNs: bigint;
  readonly behavior: string;
  /** A Go duration string; "" for none. The server may hand back a longer TTL than asked for. */
  readonly ttl: string;
  readonly createIndex: bigint;
  readonly modifyIndex: bigint;
}

export function decodeSession(v: Json | undefined): SessionEntry {
  const o = objectOf(v, "session");
  return {
    id: str(o.ID),
    name: str(o.Name),
    node: str(o.Node),
    lockDelayNs: toU64(o.LockDelay ?? 0, "LockDelay"),
    behavior: str(o.Behavior),
    ttl: str(o.TTL),
    createIndex: toU64(o.CreateIndex, "CreateIndex"),
    modifyIndex: toU64(o.ModifyIndex, "ModifyIndex"),
  };
}

export function decodeRaftConfiguration(v: Json): RaftConfiguration {
  const o = objectOf(v, "raft configuration");
  const servers = arrayOf(o.Servers ?? null, "raft configuration").map((s) => {
    const so = objectOf(s, "raft server");
    return {
      id: str(so.ID),
      node: str(so.Node),
      address: str(so.Address),
      leader: bool(so.Leader),
      voter: bool(so.Voter),
      protocolVersion: str(so.ProtocolVersion),
      lastIndex: toU64(so.LastIndex, "LastIndex"),
    };
  });
  return { servers, index: toU64(o.Index, "Index") };
}

export function decodeAutopilotHealth(v: Json): AutopilotHealth {
  const o = objectOf(v, "autopilot health");
  const servers = arrayOf(o.Servers ?? null, "autopilot health").map((s) => {
    const so = objectOf(s, "server health");
    return {
      id: str(so.ID),
      name: str(so.Name),
      address: str(so.Address),
      serfStatus: str(so.SerfStatus),
      version: str(so.Version),
      leader: bool(so.Leader),
      lastContact: str(so.LastContact),
      lastTerm: toU64(so.LastTerm, "LastTerm"),
      lastIndex: toU64(so.LastIndex, "LastIndex"),
      healthy: bool(so.Healthy),
      voter: bool(so.Voter),
      stableSince: str(so.StableSince),
    };
  });
  return { healthy: bool(o.Healthy), failureTolerance: num(o.FailureTolerance), servers };
}

export function decodeMember(v: Json): AgentMember {
  const o = objectOf(v, "member");
  const tags: Record<string, string> = {};
  if (isObject(o.Tags)) for (const [k, t] of Object.entries(o.Tags)) tags[k] = str(t);
  return {
    name: str(o.Name),
    addr: str(o.Addr),
    port: num(o.Port),
    tags,
    status: num(o.Status),
    protocolMin: num(o.ProtocolMin),
    protocolMax: num(o.ProtocolMax),
    protocolCur: num(o.ProtocolCur),
    delegateMin: num(o.DelegateMin),
    delegateMax: num(o.DelegateMax),
    delegateCur: num(o.DelegateCur),
  };
}
