/**
 * The ACL records of state.bin: ACLToken (17) and ACLPolicy (19), as Consul's structs.ACLToken and
 * structs.ACLPolicy are written (docs/snapshot-format.md §2.5), and Go's time.Time in its MarshalBinary form
 * (§2.4), which is how those records carry CreateTime and ExpirationTime.
 *
 * Times stay as their 15 (or 16) MarshalBinary bytes, so a record re-encodes exactly; `goTime*` convert.
 * Fields cairn does not interpret (roles, service and node identities, templated policies, Enterprise's
 * Namespace and Partition, anything newer) ride in `extra` and are written back as they came.
 */

import { RecordDecodeError } from "./errors.js";
import { asMap, type Extra, Fields } from "./fields.js";
import type { Decoded, GoStruct } from "./gomsgpack.js";

/** structs.ACLTokenPolicyLink: Consul stores the policy's name as it was at the write; reads refresh it. */
export interface AclLink {
  readonly ID: string;
  readonly Name: string;
}

/** structs.ACLToken as a snapshot holds it. */
export interface AclTokenRecord {
  readonly AccessorID: string;
  readonly SecretID: string;
  readonly Description: string;
  readonly Policies: readonly AclLink[] | null;
  readonly Local: boolean;
  readonly AuthMethod: string;
  /** time.Time MarshalBinary bytes. */
  readonly CreateTime: Uint8Array;
  /** time.Time MarshalBinary bytes, or null for a token that never expires. */
  readonly ExpirationTime: Uint8Array | null;
  /** Nanoseconds; 0 once the endpoint turned it into ExpirationTime. */
  readonly ExpirationTTL: number;
  /** 32 bytes, or null (Consul's restore computes a missing hash). */
  readonly Hash: Uint8Array | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly extra?: Extra;
}

/** structs.ACLPolicy as a snapshot holds it. */
export interface AclPolicyRecord {
  readonly ID: string;
  readonly Name: string;
  readonly Description: string;
  /** The policy's rules as text (HCL or JSON); parsed by acl/, never here. */
  readonly Rules: string;
  readonly Datacenters: readonly string[] | null;
  readonly Hash: Uint8Array | null;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly extra?: Extra;
}

function withExtra(extra: Extra): { extra?: Extra } {
  return Object.keys(extra).length > 0 ? { extra } : {};
}

function decodeLinks(f: Fields, key: string, where: string): AclLink[] | null {
  const v = f.raw(key);
  if (v === null) return null;
  if (!Array.isArray(v)) throw new RecordDecodeError(`decode ${where} field "${key}": expected an array`);
  return v.map((item: Decoded, i) => {
    const l = new Fields(asMap(item, `${where} ${key}[${i}]`), `${where} ${key}[${i}]`);
    return { ID: l.str("ID"), Name: l.str("Name") };
  });
}

function timeField(f: Fields, key: string): Uint8Array | null {
  const b = f.bytes(key);
  if (b !== null && b.length !== 15 && b.length !== 16) {
    throw new RecordDecodeError(
      `decode ACLToken field "${key}": a time.Time is 15 or 16 bytes, not ${b.length}`,
    );
  }
  return b;
}

export function decodeAclToken(f: Fields): AclTokenRecord {
  return {
    AccessorID: f.str("AccessorID"),
    AuthMethod: f.str("AuthMethod"),
    CreateIndex: f.uint("CreateIndex"),
    CreateTime: timeField(f, "CreateTime") ?? GO_ZERO_TIME,
    Description: f.str("Description"),
    ExpirationTTL: f.int("ExpirationTTL"),
    ExpirationTime: timeField(f, "ExpirationTime"),
    Hash: f.bytes("Hash"),
    Local: f.bool("Local"),
    ModifyIndex: f.uint("ModifyIndex"),
    Policies: decodeLinks(f, "Policies", "ACLToken"),
    SecretID: f.str("SecretID"),
    ...withExtra(f.rest()),
  };
}

export function aclTokenToGo(t: AclTokenRecord): GoStruct {
  return {
    // What Consul writes for a token with none of these; a restored record's own values (extra) win.
    AuthMethodNamespace: "",
    NodeIdentities: null,
    Roles: null,
    ServiceIdentities: null,
    TemplatedPolicies: null,
    ...t.extra,
    AccessorID: t.AccessorID,
    AuthMethod: t.AuthMethod,
    CreateIndex: t.CreateIndex,
    CreateTime: t.CreateTime,
    Description: t.Description,
    ExpirationTTL: t.ExpirationTTL,
    ExpirationTime: t.ExpirationTime,
    Hash: t.Hash,
    Local: t.Local,
    ModifyIndex: t.ModifyIndex,
    Policies: t.Policies === null ? null : t.Policies.map((l) => ({ ID: l.ID, Name: l.Name })),
    SecretID: t.SecretID,
  };
}

export function decodeAclPolicy(f: Fields): AclPolicyRecord {
  return {
    CreateIndex: f.uint("CreateIndex"),
    Datacenters: f.strList("Datacenters"),
    Description: f.str("Description"),
    Hash: f.bytes("Hash"),
    ID: f.str("ID"),
    ModifyIndex: f.uint("ModifyIndex"),
    Name: f.str("Name"),
    Rules: f.str("Rules"),
    ...withExtra(f.rest()),
  };
}

export function aclPolicyToGo(p: AclPolicyRecord): GoStruct {
  return {
    ...p.extra,
    CreateIndex: p.CreateIndex,
    Datacenters: p.Datacenters,
    Description: p.Description,
    Hash: p.Hash,
    ID: p.ID,
    ModifyIndex: p.ModifyIndex,
    Name: p.Name,
    Rules: p.Rules,
  };
}

/** Seconds from 0001-01-01 to 1970-01-01, Go's unixToInternal. */
const UNIX_TO_INTERNAL = 62_135_596_800n;

/** Go's zero time.Time (0001-01-01T00:00:00Z) in MarshalBinary form. */
export const GO_ZERO_TIME: Uint8Array = Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff);

/** A UTC time.Time at `ms` since the Unix epoch, as MarshalBinary writes it (version 1, zone offset -1 = UTC). */
export function goTimeFromMs(ms: number): Uint8Array {
  const out = new Uint8Array(15);
  const view = new DataView(out.buffer);
  const sec = Math.floor(ms / 1000);
  out[0] = 1;
  view.setBigInt64(1, BigInt(sec) + UNIX_TO_INTERNAL);
  view.setInt32(9, (ms - sec * 1000) * 1_000_000);
  view.setInt16(13, -1);
  return out;
}

interface GoTimeParts {
  /** Unix seconds. */
  readonly sec: bigint;
  readonly nsec: number;
  /** Zone offset in seconds east of UTC, or null for UTC itself. */
  readonly offset: number | null;
}

function goTimeParts(b: Uint8Array): GoTimeParts {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = b[0];
  if ((version !== 1 || b.length !== 15) && (version !== 2 || b.length !== 16)) {
    throw new RecordDecodeError(`decode time.Time: unsupported MarshalBinary form (version ${version})`);
  }
  const minutes = view.getInt16(13);
  const extraSec = version === 2 ? view.getInt8(15) : 0;
  return {
    sec: view.getBigInt64(1) - UNIX_TO_INTERNAL,
    nsec: view.getInt32(9),
    offset: minutes === -1 ? null : minutes * 60 + extraSec,
  };
}

/** Milliseconds since the Unix epoch (truncated), for expiry checks. */
export function goTimeMs(b: Uint8Array): number {
  const p = goTimeParts(b);
  return Number(p.sec) * 1000 + Math.floor(p.nsec / 1_000_000);
}

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

/** time.Time's JSON (RFC 3339 with nanoseconds, trailing zeros trimmed, "Z" for UTC), as Go's MarshalJSON. */
export function goTimeJson(b: Uint8Array): string {
  const p = goTimeParts(b);
  const offset = p.offset ?? 0;
  const local = new Date((Number(p.sec) + offset) * 1000);
  const year = local.getUTCFullYear();
  const date = `${pad(year, 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}`;
  const clock = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  const frac = p.nsec === 0 ? "" : `.${pad(p.nsec, 9).replace(/0+$/, "")}`;
  let zone = "Z";
  if (p.offset !== null) {
    const abs = Math.abs(p.offset);
    zone = `${p.offset < 0 ? "-" : "+"}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}`;
  }
  return `${date}T${clock}${frac}${zone}`;
}
