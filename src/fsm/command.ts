/**
 * Commands: the payload of a Raft log entry, and their binary encoding.
 *
 * Encoding (version 1), all integers big-endian, no padding, nothing after the last field:
 *   u8 version (= 1), u8 opcode, then the opcode's fields in the order listed in `OPCODES`:
 *   - str:   u32 byte length, then that many bytes of UTF-8 (key, prefix, session id)
 *   - value: u8 tag (0 = no value / Go nil, 1 = bytes), then for tag 1 a u32 length and the bytes
 *   - u64:   8 bytes (flags, cas index, reap index, time in ms, durations in ns)
 *   - strs:  u8 tag (0 = Go nil, 1 = list), then for tag 1 a u32 count and the strings
 * Values are arbitrary bytes, so nothing is escaped or text-encoded. The decoder refuses an unknown version
 * or opcode, a truncated field, invalid UTF-8, a value tag other than 0/1, sizes above the limits and
 * trailing bytes, so that every byte string decodes to at most one command and encodes back to itself.
 * Opcodes 9.. (sessions, txn, acquire with a time) and 15.. (catalog, session-create judged against the
 * catalog) were added without a version bump: entries written before them keep decoding, and applying, as they
 * did. Catalog payloads are JSON text in one str field (catalog-codec.ts). Opcodes 18.. are the ACL writes
 * (acl.ts): a token is AccessorID, SecretID, Description, Policies (strs: ID, Name, ID, Name, ...), Local (u8
 * 0/1), ExpirationTime (u8 tag 0 = none, 1 = a u64 of ms), Hash (hex str); a policy is ID, Name, Description,
 * Rules, Datacenters (strs), Hash.
 */
import type { ServiceCheck } from "../snapshot/index.js";
import { assert, unreachable } from "../util/index.js";
import type { AclPolicySpec, AclTokenSpec } from "./acl.js";
import {
  decodeDeregisterPayload,
  decodeRegisterPayload,
  encodeDeregisterPayload,
  encodeRegisterPayload,
} from "./catalog-codec.js";
import type { CatalogDeregisterRequest, CatalogRegisterRequest } from "./catalog-types.js";
import { type KvValue, Reader, Writer } from "./codec.js";
import { CommandDecodeError } from "./errors.js";
import { LOCK_DELAY_PASSED } from "./lock-delay.js";
import type { SessionSpec } from "./session.js";
import { decodeTxnOps, encodeTxnOps, type TxnOp } from "./txn.js";

export { isWellFormed, KEY_BYTES_MAX, type KvValue, VALUE_BYTES_MAX } from "./codec.js";

const U64_MAX = (1n << 64n) - 1n;
const VERSION = 1;

/** Fields every write of an entry carries. */
interface Write {
  readonly key: string;
  readonly value: KvValue;
  /** uint64 */
  readonly flags: bigint;
}

/** The leader's wall clock (ms since the epoch) when it proposed the command: the FSM's only notion of time. */
interface Timed {
  readonly time: number;
}

export type KvCommand =
  /** PUT /v1/kv/<key>: always applies. */
  | ({ readonly op: "set" } & Write)
  /** PUT ?cas=<index>: 0 = only if absent; N = only if ModifyIndex == N. uint64, so a bigint. */
  | ({ readonly op: "cas"; readonly index: bigint } & Write)
  /** PUT ?acquire. `time` (ms) is judged against lock-delays; entries from before sessions have none. */
  | ({ readonly op: "acquire"; readonly session: string; readonly time?: number } & Write)
  | ({ readonly op: "release"; readonly session: string } & Write)
  | { readonly op: "delete"; readonly key: string }
  /** DELETE ?cas=<index>. */
  | { readonly op: "delete-cas"; readonly key: string; readonly index: bigint }
  /** DELETE ?recurse: every key starting with `prefix` ("" = all). */
  | { readonly op: "delete-tree"; readonly prefix: string }
  /** The tombstone GC: drops tombstones with index <= `index` (Consul's TombstoneRequest, op reap). */
  | { readonly op: "tombstone-reap"; readonly index: bigint }
  /**
   * PUT /v1/session/create, with the uuid and defaults filled in by the proposer. `checked`: the catalog must
   * hold the node and the session's checks, none critical (opcode 17); entries from before the catalog have no
   * such check (opcode 9).
   */
  | ({ readonly op: "session-create"; readonly session: SessionSpec; readonly checked?: boolean } & Timed)
  /** PUT /v1/catalog/register, validated and normalized by the proposer. */
  | ({ readonly op: "catalog-register"; readonly req: CatalogRegisterRequest } & Timed)
  /** PUT /v1/catalog/deregister. */
  | ({ readonly op: "catalog-deregister"; readonly req: CatalogDeregisterRequest } & Timed)
  /** PUT /v1/session/destroy/<id>. */
  | ({ readonly op: "session-destroy"; readonly id: string } & Timed)
  /** PUT /v1/session/renew/<id>: a linearizable existence check; changes no state. */
  | ({ readonly op: "session-renew"; readonly id: string } & Timed)
  /** What the leader's TTL timer commits when a session expires; same effects as destroy. */
  | ({ readonly op: "session-invalidate"; readonly id: string } & Timed)
  /** PUT /v1/txn with KV ops only (at most TXN_OPS_MAX). */
  | ({ readonly op: "txn"; readonly ops: readonly TxnOp[] } & Timed)
  /** PUT /v1/acl/bootstrap: `resetIndex` 0, or the reset index an operator wrote into acl-bootstrap-reset. */
  | ({ readonly op: "acl-bootstrap"; readonly token: AclTokenSpec; readonly resetIndex: number } & Timed)
  /** A token create or update (the store tells which by its AccessorID); `time` becomes a new token's CreateTime. */
  | ({ readonly op: "acl-token-set"; readonly token: AclTokenSpec } & Timed)
  | { readonly op: "acl-token-delete"; readonly accessor: string }
  | { readonly op: "acl-policy-set"; readonly policy: AclPolicySpec }
  | { readonly op: "acl-policy-delete"; readonly id: string };

export type KvOp = KvCommand["op"];

/** Opcode 6 is an acquire without a time (written before sessions existed), 14 one with. */
const OPCODES: Readonly<Record<KvOp, number>> = {
  set: 1, // key, value, flags
  cas: 2, // key, value, flags, index
  delete: 3, // key
  "delete-cas": 4, // key, index
  "delete-tree": 5, // prefix
  acquire: 6, // key, value, flags, session [, time: opcode 14]
  release: 7, // key, value, flags, session
  "tombstone-reap": 8, // index
  "session-create": 9, // time, ID, Name, Node, LockDelay, Behavior, TTL, NodeChecks, ServiceChecks
  "session-destroy": 10, // time, id
  "session-renew": 11, // time, id
  "session-invalidate": 12, // time, id
  txn: 13, // time, u32 count, ops (see txn.ts)
  "catalog-register": 15, // time, JSON payload
  "catalog-deregister": 16, // time, JSON payload
  "acl-bootstrap": 18, // time, reset index, token
  "acl-token-set": 19, // time, token
  "acl-token-delete": 20, // accessor
  "acl-policy-set": 21, // policy
  "acl-policy-delete": 22, // id
};
const ACQUIRE_AT = 14;
const SESSION_CHECKED = 17;
const OPS_BY_CODE = new Map<number, KvOp>(Object.entries(OPCODES).map(([op, code]) => [code, op as KvOp]));

function checkU64(n: bigint, what: string): bigint {
  assert(n >= 0n && n <= U64_MAX, `encode ${what} ${n} as a uint64`);
  return n;
}

function writeStrs(w: Writer, list: readonly string[] | null, what: string): void {
  if (list === null) {
    w.u8(0);
    return;
  }
  w.u8(1);
  w.u32(list.length);
  for (const s of list) w.str(s, what);
}

function readStrs(r: Reader, what: string): string[] | null {
  const tag = r.u8(`${what} tag`);
  if (tag === 0) return null;
  if (tag !== 1) throw new CommandDecodeError(`decode command ${what}: tag ${tag} is neither 0 nor 1`);
  const n = r.u32(`${what} count`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.str(what));
  return out;
}

function encodeSession(w: Writer, s: SessionSpec): void {
  w.str(s.ID, "session ID");
  w.str(s.Name, "session Name");
  w.str(s.Node, "session Node");
  w.num(s.LockDelay, "session LockDelay");
  w.str(s.Behavior, "session Behavior");
  w.str(s.TTL, "session TTL");
  writeStrs(w, s.NodeChecks, "session NodeChecks");
  // ServiceChecks as a flat list: ID, Namespace, ID, Namespace, ...
  writeStrs(
    w,
    s.ServiceChecks === null ? null : s.ServiceChecks.flatMap((c) => [c.ID, c.Namespace]),
    "checks",
  );
}

function decodeSession(r: Reader): SessionSpec {
  const ID = r.str("session ID");
  const Name = r.str("session Name");
  const Node = r.str("session Node");
  const LockDelay = r.num("session LockDelay");
  const Behavior = r.str("session Behavior");
  const TTL = r.str("session TTL");
  const NodeChecks = readStrs(r, "session NodeChecks");
  const flat = readStrs(r, "checks");
  if (flat !== null && flat.length % 2 !== 0)
    throw new CommandDecodeError("decode command: odd ServiceChecks list");
  let ServiceChecks: ServiceCheck[] | null = null;
  if (flat !== null) {
    ServiceChecks = [];
    for (let i = 0; i < flat.length; i += 2)
      ServiceChecks.push({ ID: flat[i] as string, Namespace: flat[i + 1] as string });
  }
  return { ID, Name, Node, LockDelay, Behavior, TTL, NodeChecks, ServiceChecks };
}

function encodeAclToken(w: Writer, t: AclTokenSpec): void {
  w.str(t.AccessorID, "token AccessorID");
  w.str(t.SecretID, "token SecretID");
  w.str(t.Description, "token Description");
  writeStrs(
    w,
    t.Policies.flatMap((l) => [l.ID, l.Name]),
    "token Policies",
  );
  w.u8(t.Local ? 1 : 0);
  if (t.ExpirationTime === null) w.u8(0);
  else {
    w.u8(1);
    w.num(t.ExpirationTime, "token ExpirationTime");
  }
  w.str(t.Hash, "token Hash");
}

function readFlag(r: Reader, what: string): boolean {
  const b = r.u8(what);
  if (b !== 0 && b !== 1) throw new CommandDecodeError(`decode command ${what}: ${b} is neither 0 nor 1`);
  return b === 1;
}

function decodeAclToken(r: Reader): AclTokenSpec {
  const AccessorID = r.str("token AccessorID");
  const SecretID = r.str("token SecretID");
  const Description = r.str("token Description");
  const flat = readStrs(r, "token Policies") ?? [];
  if (flat.length % 2 !== 0) throw new CommandDecodeError("decode command: odd token Policies list");
  const Policies = [];
  for (let i = 0; i < flat.length; i += 2)
    Policies.push({ ID: flat[i] as string, Name: flat[i + 1] as string });
  const Local = readFlag(r, "token Local");
  const ExpirationTime = readFlag(r, "token ExpirationTime tag") ? r.num("token ExpirationTime") : null;
  const Hash = r.str("token Hash");
  return { AccessorID, SecretID, Description, Policies, Local, ExpirationTime, Hash };
}

function encodeAclPolicy(w: Writer, p: AclPolicySpec): void {
  w.str(p.ID, "policy ID");
  w.str(p.Name, "policy Name");
  w.str(p.Description, "policy Description");
  w.str(p.Rules, "policy Rules");
  writeStrs(w, p.Datacenters, "policy Datacenters");
  w.str(p.Hash, "policy Hash");
}

function decodeAclPolicy(r: Reader): AclPolicySpec {
  const ID = r.str("policy ID");
  const Name = r.str("policy Name");
  const Description = r.str("policy Description");
  const Rules = r.str("policy Rules");
  const Datacenters = readStrs(r, "policy Datacenters");
  const Hash = r.str("policy Hash");
  return { ID, Name, Description, Rules, Datacenters, Hash };
}

/** Encodes a command. Throws CommandLimitError / InvalidKeyError / TxnTooLargeError for input a user could send. */
export function encodeCommand(cmd: KvCommand): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  w.u8(opcodeOf(cmd));
  switch (cmd.op) {
    case "set":
    case "cas":
    case "acquire":
    case "release":
      w.str(cmd.key, "key");
      w.value(cmd.value);
      w.u64(checkU64(cmd.flags, "flags"));
      if (cmd.op === "cas") w.u64(checkU64(cmd.index, "cas index"));
      if (cmd.op === "acquire" || cmd.op === "release") w.str(cmd.session, "session");
      if (cmd.op === "acquire" && cmd.time !== undefined) w.num(cmd.time, "time");
      break;
    case "delete":
      w.str(cmd.key, "key");
      break;
    case "delete-cas":
      w.str(cmd.key, "key");
      w.u64(checkU64(cmd.index, "cas index"));
      break;
    case "delete-tree":
      w.str(cmd.prefix, "prefix");
      break;
    case "tombstone-reap":
      w.u64(checkU64(cmd.index, "reap index"));
      break;
    case "session-create":
      w.num(cmd.time, "time");
      encodeSession(w, cmd.session);
      break;
    case "session-destroy":
    case "session-renew":
    case "session-invalidate":
      w.num(cmd.time, "time");
      w.str(cmd.id, "session id");
      break;
    case "catalog-register":
      w.num(cmd.time, "time");
      w.str(encodeRegisterPayload(cmd.req), "catalog payload");
      break;
    case "catalog-deregister":
      w.num(cmd.time, "time");
      w.str(encodeDeregisterPayload(cmd.req), "catalog payload");
      break;
    case "txn":
      w.num(cmd.time, "time");
      for (const op of cmd.ops) {
        checkU64(op.flags, "txn flags");
        checkU64(op.index, "txn index");
      }
      encodeTxnOps(w, cmd.ops);
      break;
    case "acl-bootstrap":
      w.num(cmd.time, "time");
      w.num(cmd.resetIndex, "reset index");
      encodeAclToken(w, cmd.token);
      break;
    case "acl-token-set":
      w.num(cmd.time, "time");
      encodeAclToken(w, cmd.token);
      break;
    case "acl-token-delete":
      w.str(cmd.accessor, "token accessor");
      break;
    case "acl-policy-set":
      encodeAclPolicy(w, cmd.policy);
      break;
    case "acl-policy-delete":
      w.str(cmd.id, "policy id");
      break;
    default:
      unreachable(cmd, "encode command");
  }
  return w.finish();
}

function opcodeOf(cmd: KvCommand): number {
  if (cmd.op === "acquire" && cmd.time !== undefined) return ACQUIRE_AT;
  if (cmd.op === "session-create" && cmd.checked === true) return SESSION_CHECKED;
  return OPCODES[cmd.op];
}

function decodeWrite(r: Reader): Write {
  const key = r.str("key");
  const value = r.value();
  const flags = r.u64("flags");
  return { key, value, flags };
}

/** Decodes a command. Throws CommandDecodeError / CommandLimitError on anything but an encoded command. */
export function decodeCommand(bytes: Uint8Array): KvCommand {
  const r = new Reader(bytes);
  const version = r.u8("version");
  if (version !== VERSION) throw new CommandDecodeError(`decode command: unknown version ${version}`);
  const code = r.u8("opcode");
  let cmd: KvCommand;
  if (code === ACQUIRE_AT) {
    const w = decodeWrite(r);
    const session = r.str("session");
    cmd = { op: "acquire", ...w, session, time: r.num("time") };
  } else if (code === SESSION_CHECKED) {
    const time = r.num("time");
    cmd = { op: "session-create", time, session: decodeSession(r), checked: true };
  } else {
    const op = OPS_BY_CODE.get(code);
    if (op === undefined) throw new CommandDecodeError(`decode command: unknown opcode ${code}`);
    cmd = decodeFields(op, r);
  }
  r.end();
  return cmd;
}

function decodeFields(op: KvOp, r: Reader): KvCommand {
  switch (op) {
    case "set":
      return { op, ...decodeWrite(r) };
    case "cas": {
      const w = decodeWrite(r);
      return { op, ...w, index: r.u64("cas index") };
    }
    case "acquire":
    case "release": {
      const w = decodeWrite(r);
      return { op, ...w, session: r.str("session") };
    }
    case "delete":
      return { op, key: r.str("key") };
    case "delete-cas": {
      const key = r.str("key");
      return { op, key, index: r.u64("cas index") };
    }
    case "delete-tree":
      return { op, prefix: r.str("prefix") };
    case "tombstone-reap":
      return { op, index: r.u64("reap index") };
    case "session-create": {
      const time = r.num("time");
      return { op, time, session: decodeSession(r) };
    }
    case "session-destroy":
    case "session-renew":
    case "session-invalidate": {
      const time = r.num("time");
      return { op, time, id: r.str("session id") };
    }
    case "txn": {
      const time = r.num("time");
      return { op, time, ops: decodeTxnOps(r) };
    }
    case "catalog-register": {
      const time = r.num("time");
      return { op, time, req: decodeRegisterPayload(r.str("catalog payload")) };
    }
    case "catalog-deregister": {
      const time = r.num("time");
      return { op, time, req: decodeDeregisterPayload(r.str("catalog payload")) };
    }
    case "acl-bootstrap": {
      const time = r.num("time");
      const resetIndex = r.num("reset index");
      return { op, time, resetIndex, token: decodeAclToken(r) };
    }
    case "acl-token-set": {
      const time = r.num("time");
      return { op, time, token: decodeAclToken(r) };
    }
    case "acl-token-delete":
      return { op, accessor: r.str("token accessor") };
    case "acl-policy-set":
      return { op, policy: decodeAclPolicy(r) };
    case "acl-policy-delete":
      return { op, id: r.str("policy id") };
    default:
      return unreachable(op, "decode command");
  }
}

/**
 * The leader's clock (ms) goes into every command that carries one, whatever the caller put there: the FSM's
 * only notion of time. Used by the server before proposing, and by the simulator's leader alike.
 */
export function stampTime(cmd: KvCommand, now: number): KvCommand {
  switch (cmd.op) {
    case "acquire":
    case "session-create":
    case "session-destroy":
    case "session-renew":
    case "session-invalidate":
    case "txn":
    case "catalog-register":
    case "catalog-deregister":
    case "acl-bootstrap":
    case "acl-token-set":
      return { ...cmd, time: now };
    default:
      return cmd;
  }
}

/**
 * What leaders did before lock-delay was judged at apply: after judging it in memory, they stamped acquires and
 * txns LOCK_DELAY_PASSED, so every replica applied them unjudged. Such entries still apply that way
 * (lock-delay.ts); no server writes them now. The simulator's broken variant skip-lock-delay proposes through
 * this, to show that its lock checker catches a grant inside a lock-delay.
 */
export function passLockDelay(cmd: KvCommand): KvCommand {
  return cmd.op === "acquire" || cmd.op === "txn" ? { ...cmd, time: LOCK_DELAY_PASSED } : cmd;
}
