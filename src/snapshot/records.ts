/**
 * state.bin records: a type byte plus one msgpack value. The types cairn serves (KV, tombstones, sessions, the
 * index table, catalog registrations, autopilot) have typed codecs; every other type is kept as its raw msgpack
 * bytes so it is written back byte for byte (Consul encodes Go maps in random order, so a decode/encode round
 * trip of a foreign record could not promise that).
 *
 * Field names and shapes: docs/snapshot-format.md §2.5. Typed values keep unknown keys in `extra`, so a
 * record written by a newer Consul re-encodes with every field it had.
 */

import {
  type AclPolicyRecord,
  type AclTokenRecord,
  aclPolicyToGo,
  aclTokenToGo,
  decodeAclPolicy,
  decodeAclToken,
} from "./acl-records.js";
import { decodeDirEntryFast, encodeDirEntryFast } from "./dir-entry-fast.js";
import { RecordDecodeError } from "./errors.js";
import { asMap, type Extra, Fields } from "./fields.js";
import { decodeGo, encodeGo, type GoStruct } from "./gomsgpack.js";
import { MessageType, messageTypeName } from "./message-types.js";
import { decodeRegister, encodeRegister, type RegisterRequest } from "./register.js";

/** A record as it sits in state.bin. Invariant: `body` holds exactly one msgpack value. */
export interface RawRecord {
  readonly type: number;
  /** The msgpack bytes after the type byte. */
  readonly body: Uint8Array;
}

/** state.bin's header (fsm.SnapshotHeader). */
export interface SnapshotHeader {
  /** The highest index of any state-store table when the snapshot was taken. */
  readonly LastIndex: number;
  readonly extra?: Extra;
}

/** structs.DirEntry: a KV entry (type 2) and, with only Key and ModifyIndex meaningful, a tombstone (type 5). */
export interface DirEntry {
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly LockIndex: number;
  readonly Key: string;
  /** uint64 in Go; real snapshots hold values past 2^53. */
  readonly Flags: bigint;
  /** null when Consul stored a nil value (a key created without a body). */
  readonly Value: Uint8Array | null;
  readonly Session: string;
  /** Enterprise only; absent (not "") in CE snapshots. */
  readonly Namespace?: string;
  readonly Partition?: string;
  readonly extra?: Extra;
}

export interface ServiceCheck {
  readonly ID: string;
  readonly Namespace: string;
}

/** structs.Session. */
export interface Session {
  readonly ID: string;
  readonly Name: string;
  readonly Node: string;
  /** Nanoseconds. */
  readonly LockDelay: number;
  /** "release" or "delete". */
  readonly Behavior: string;
  /** A Go duration string such as "15s", or "". */
  readonly TTL: string;
  readonly NodeChecks: string[] | null;
  readonly ServiceChecks: ServiceCheck[] | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly extra?: Extra;
}

/** One row of the index table: table name → highest index. */
export interface IndexEntry {
  readonly Key: string;
  readonly Value: number;
  readonly extra?: Extra;
}

/** structs.AutopilotConfig. Durations are nanoseconds. */
export interface AutopilotConfig {
  readonly CleanupDeadServers: boolean;
  readonly LastContactThreshold: number;
  readonly MaxTrailingLogs: number;
  readonly MinQuorum: number;
  readonly ServerStabilizationTime: number;
  readonly RedundancyZoneTag: string;
  readonly DisableUpgradeMigration: boolean;
  readonly UpgradeVersionTag: string;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly extra?: Extra;
}

export type SnapshotRecord =
  | { readonly kind: "Register"; readonly type: 0; readonly body: RegisterRequest }
  | { readonly kind: "KVS"; readonly type: 2; readonly body: DirEntry }
  | { readonly kind: "Session"; readonly type: 3; readonly body: Session }
  | { readonly kind: "Tombstone"; readonly type: 5; readonly body: DirEntry }
  | { readonly kind: "Autopilot"; readonly type: 9; readonly body: AutopilotConfig }
  | { readonly kind: "Index"; readonly type: 16; readonly body: IndexEntry }
  | { readonly kind: "ACLToken"; readonly type: 17; readonly body: AclTokenRecord }
  | { readonly kind: "ACLPolicy"; readonly type: 19; readonly body: AclPolicyRecord }
  /** Any other type: the msgpack bytes exactly as read. */
  | { readonly kind: "Opaque"; readonly type: number; readonly body: Uint8Array };

function withExtra(extra: Extra): { extra?: Extra } {
  return Object.keys(extra).length > 0 ? { extra } : {};
}

export function decodeHeader(body: Uint8Array): SnapshotHeader {
  const f = new Fields(asMap(decodeGo(body), "snapshot header"), "snapshot header");
  return { LastIndex: f.uint("LastIndex"), ...withExtra(f.rest()) };
}

export function encodeHeader(h: SnapshotHeader): Uint8Array {
  return encodeGo({ ...h.extra, LastIndex: h.LastIndex });
}

/** The general DirEntry decoder; dir-entry-fast.ts handles the common shape first and must agree with it. */
export function decodeDirEntry(f: Fields): DirEntry {
  const ent: { Namespace?: string; Partition?: string } = {};
  if (f.has("Namespace")) ent.Namespace = f.str("Namespace");
  if (f.has("Partition")) ent.Partition = f.str("Partition");
  return {
    CreateIndex: f.uint("CreateIndex"),
    Flags: f.u64("Flags"),
    Key: f.str("Key"),
    LockIndex: f.uint("LockIndex"),
    ModifyIndex: f.uint("ModifyIndex"),
    Session: f.str("Session"),
    Value: f.bytes("Value"),
    ...ent,
    ...withExtra(f.rest()),
  };
}

export function dirEntryToGo(e: DirEntry): GoStruct {
  return {
    ...e.extra,
    CreateIndex: e.CreateIndex,
    Flags: e.Flags,
    Key: e.Key,
    LockIndex: e.LockIndex,
    ModifyIndex: e.ModifyIndex,
    Namespace: e.Namespace,
    Partition: e.Partition,
    Session: e.Session,
    Value: e.Value,
  };
}

function decodeServiceChecks(f: Fields): ServiceCheck[] | null {
  const v = f.raw("ServiceChecks");
  if (v === null) return null;
  if (!Array.isArray(v))
    throw new RecordDecodeError('decode Session field "ServiceChecks": expected an array');
  return v.map((item, i) => {
    const c = new Fields(asMap(item, `Session ServiceChecks[${i}]`), `Session ServiceChecks[${i}]`);
    return { ID: c.str("ID"), Namespace: c.str("Namespace") };
  });
}

function decodeSession(f: Fields): Session {
  return {
    Behavior: f.str("Behavior"),
    CreateIndex: f.uint("CreateIndex"),
    ID: f.str("ID"),
    LockDelay: f.int("LockDelay"),
    ModifyIndex: f.uint("ModifyIndex"),
    Name: f.str("Name"),
    Node: f.str("Node"),
    NodeChecks: f.strList("NodeChecks"),
    ServiceChecks: decodeServiceChecks(f),
    TTL: f.str("TTL"),
    ...withExtra(f.rest()),
  };
}

function sessionToGo(s: Session): GoStruct {
  return {
    // Checks is the pre-1.7 field Consul still writes as nil; keep it unless the record carried a value.
    Checks: null,
    ...s.extra,
    Behavior: s.Behavior,
    CreateIndex: s.CreateIndex,
    ID: s.ID,
    LockDelay: s.LockDelay,
    ModifyIndex: s.ModifyIndex,
    Name: s.Name,
    Node: s.Node,
    NodeChecks: s.NodeChecks,
    ServiceChecks:
      s.ServiceChecks === null ? null : s.ServiceChecks.map((c) => ({ ID: c.ID, Namespace: c.Namespace })),
    TTL: s.TTL,
  };
}

function decodeAutopilot(f: Fields): AutopilotConfig {
  return {
    CleanupDeadServers: f.bool("CleanupDeadServers"),
    CreateIndex: f.uint("CreateIndex"),
    DisableUpgradeMigration: f.bool("DisableUpgradeMigration"),
    LastContactThreshold: f.int("LastContactThreshold"),
    MaxTrailingLogs: f.uint("MaxTrailingLogs"),
    MinQuorum: f.uint("MinQuorum"),
    ModifyIndex: f.uint("ModifyIndex"),
    RedundancyZoneTag: f.str("RedundancyZoneTag"),
    ServerStabilizationTime: f.int("ServerStabilizationTime"),
    UpgradeVersionTag: f.str("UpgradeVersionTag"),
    ...withExtra(f.rest()),
  };
}

function autopilotToGo(a: AutopilotConfig): GoStruct {
  const { extra, ...fields } = a;
  return { ...extra, ...fields };
}

/** Decodes a record: typed for the types cairn serves, opaque bytes otherwise. */
export function decodeRecord(raw: RawRecord): SnapshotRecord {
  const name = messageTypeName(raw.type);
  const fields = (): Fields => new Fields(asMap(decodeGo(raw.body), name), name);
  switch (raw.type) {
    case MessageType.Register:
      return { kind: "Register", type: 0, body: decodeRegister(fields()) };
    case MessageType.KVS:
      return { kind: "KVS", type: 2, body: decodeDirEntryFast(raw.body) ?? decodeDirEntry(fields()) };
    case MessageType.Session:
      return { kind: "Session", type: 3, body: decodeSession(fields()) };
    case MessageType.Tombstone:
      return { kind: "Tombstone", type: 5, body: decodeDirEntryFast(raw.body) ?? decodeDirEntry(fields()) };
    case MessageType.Autopilot:
      return { kind: "Autopilot", type: 9, body: decodeAutopilot(fields()) };
    case MessageType.Index: {
      const f = fields();
      return {
        kind: "Index",
        type: 16,
        body: { Key: f.str("Key"), Value: f.uint("Value"), ...withExtra(f.rest()) },
      };
    }
    case MessageType.ACLToken:
      return { kind: "ACLToken", type: 17, body: decodeAclToken(fields()) };
    case MessageType.ACLPolicy:
      return { kind: "ACLPolicy", type: 19, body: decodeAclPolicy(fields()) };
    default:
      return { kind: "Opaque", type: raw.type, body: raw.body };
  }
}

/** Encodes a record in Go's shapes (typed) or hands back its bytes unchanged (opaque). */
export function encodeRecord(rec: SnapshotRecord): RawRecord {
  return { type: rec.type, body: recordBody(rec) };
}

function recordBody(rec: SnapshotRecord): Uint8Array {
  switch (rec.kind) {
    case "Register":
      return encodeGo(encodeRegister(rec.body));
    case "KVS":
    case "Tombstone":
      return encodeDirEntryFast(rec.body) ?? encodeGo(dirEntryToGo(rec.body));
    case "Session":
      return encodeGo(sessionToGo(rec.body));
    case "Autopilot":
      return encodeGo(autopilotToGo(rec.body));
    case "Index":
      return encodeGo({ ...rec.body.extra, Key: rec.body.Key, Value: rec.body.Value } satisfies GoStruct);
    case "ACLToken":
      return encodeGo(aclTokenToGo(rec.body));
    case "ACLPolicy":
      return encodeGo(aclPolicyToGo(rec.body));
    case "Opaque":
      return rec.body;
  }
}

/** A tombstone as Consul writes it: a DirEntry with only Key and ModifyIndex (the deletion index) set. */
export function tombstone(key: string, index: number): DirEntry {
  return { CreateIndex: 0, Flags: 0n, Key: key, LockIndex: 0, ModifyIndex: index, Session: "", Value: null };
}
