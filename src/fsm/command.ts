/**
 * KV commands: the payload of a Raft log entry, and their binary encoding.
 *
 * Encoding (version 1), all integers big-endian, no padding, nothing after the last field:
 *   u8 version (= 1), u8 opcode, then the opcode's fields in the order listed in `OPCODES`:
 *   - str:   u32 byte length, then that many bytes of UTF-8 (key, prefix, session id)
 *   - value: u8 tag (0 = no value / Go nil, 1 = bytes), then for tag 1 a u32 length and the bytes
 *   - u64:   8 bytes (flags, cas index, reap index)
 * Values are arbitrary bytes, so nothing is escaped or text-encoded. The decoder refuses an unknown version
 * or opcode, a truncated field, invalid UTF-8, a value tag other than 0/1, sizes above the limits and
 * trailing bytes, so that every byte string decodes to at most one command and encodes back to itself.
 */
import { assert, unreachable } from "../util/index.js";
import { CommandDecodeError, CommandLimitError, InvalidKeyError } from "./errors.js";

/** Consul's kv_max_value_size default: 512 KiB. */
export const VALUE_BYTES_MAX = 512 * 1024;
/** Consul sets no key limit; cairn bounds keys (and prefixes, session ids) at 64 KiB of UTF-8. */
export const KEY_BYTES_MAX = 64 * 1024;
const U64_MAX = (1n << 64n) - 1n;
const VERSION = 1;

/** A value as Consul stores it: bytes, or null for Go's nil (a PUT with an empty body). */
export type KvValue = Uint8Array | null;

/** Fields every write of an entry carries. */
interface Write {
  readonly key: string;
  readonly value: KvValue;
  /** uint64 */
  readonly flags: bigint;
}

export type KvCommand =
  /** PUT /v1/kv/<key>: always applies. */
  | ({ readonly op: "set" } & Write)
  /** PUT ?cas=<index>: 0 = only if absent; N = only if ModifyIndex == N. uint64, so a bigint. */
  | ({ readonly op: "cas"; readonly index: bigint } & Write)
  | ({ readonly op: "acquire"; readonly session: string } & Write)
  | ({ readonly op: "release"; readonly session: string } & Write)
  | { readonly op: "delete"; readonly key: string }
  /** DELETE ?cas=<index>. */
  | { readonly op: "delete-cas"; readonly key: string; readonly index: bigint }
  /** DELETE ?recurse: every key starting with `prefix` ("" = all). */
  | { readonly op: "delete-tree"; readonly prefix: string }
  /** The tombstone GC: drops tombstones with index <= `index` (Consul's TombstoneRequest, op reap). */
  | { readonly op: "tombstone-reap"; readonly index: bigint };

export type KvOp = KvCommand["op"];

const OPCODES: Readonly<Record<KvOp, number>> = {
  set: 1, // key, value, flags
  cas: 2, // key, value, flags, index
  delete: 3, // key
  "delete-cas": 4, // key, index
  "delete-tree": 5, // prefix
  acquire: 6, // key, value, flags, session
  release: 7, // key, value, flags, session
  "tombstone-reap": 8, // index
};
const OPS_BY_CODE = new Map<number, KvOp>(Object.entries(OPCODES).map(([op, code]) => [code, op as KvOp]));

/** True when `s` has no lone surrogate, i.e. it has a UTF-8 form (String#isWellFormed is not in Node 20). */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c >= 0xdc00) return false;
    const d = s.charCodeAt(i + 1);
    if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
    i++;
  }
  return true;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Writer {
  private readonly parts: Uint8Array[] = [];
  private total = 0;
  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.total += b.length;
  }
  u8(n: number): void {
    this.bytes(Uint8Array.of(n));
  }
  u32(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    this.bytes(b);
  }
  u64(n: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, n);
    this.bytes(b);
  }
  str(s: string, what: string): void {
    if (!isWellFormed(s)) throw new InvalidKeyError(`encode ${what}: it holds a lone UTF-16 surrogate`);
    const b = utf8.encode(s);
    if (b.length > KEY_BYTES_MAX) {
      throw new CommandLimitError(`encode ${what}: ${b.length} bytes exceed the limit of ${KEY_BYTES_MAX}`);
    }
    this.u32(b.length);
    this.bytes(b);
  }
  value(v: KvValue): void {
    if (v === null) {
      this.u8(0);
      return;
    }
    if (v.length > VALUE_BYTES_MAX) {
      throw new CommandLimitError(`encode value: ${v.length} bytes exceed the limit of ${VALUE_BYTES_MAX}`);
    }
    this.u8(1);
    this.u32(v.length);
    this.bytes(v);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.total);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function checkU64(n: bigint, what: string): bigint {
  assert(n >= 0n && n <= U64_MAX, `encode ${what} ${n} as a uint64`);
  return n;
}

/** Encodes a command. Throws CommandLimitError / InvalidKeyError for input a user could send. */
export function encodeCommand(cmd: KvCommand): Uint8Array {
  const w = new Writer();
  w.u8(VERSION);
  w.u8(OPCODES[cmd.op]);
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
    default:
      unreachable(cmd, "encode command");
  }
  return w.finish();
}

class Reader {
  private at = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number, what: string): number {
    if (this.buf.length - this.at < n) {
      throw new CommandDecodeError(
        `decode command ${what}: need ${n} bytes at offset ${this.at}, have ${this.buf.length - this.at}`,
      );
    }
    const at = this.at;
    this.at += n;
    return at;
  }
  u8(what: string): number {
    return this.view.getUint8(this.need(1, what));
  }
  u32(what: string): number {
    return this.view.getUint32(this.need(4, what));
  }
  u64(what: string): bigint {
    return this.view.getBigUint64(this.need(8, what));
  }
  str(what: string): string {
    const n = this.u32(what);
    if (n > KEY_BYTES_MAX)
      throw new CommandLimitError(`decode command ${what}: ${n} bytes exceed ${KEY_BYTES_MAX}`);
    const at = this.need(n, what);
    try {
      return utf8Strict.decode(this.buf.subarray(at, at + n));
    } catch (err) {
      throw new CommandDecodeError(`decode command ${what}: invalid UTF-8`, { cause: err });
    }
  }
  value(): KvValue {
    const tag = this.u8("value tag");
    if (tag === 0) return null;
    if (tag !== 1) throw new CommandDecodeError(`decode command value: tag ${tag} is neither 0 nor 1`);
    const n = this.u32("value length");
    if (n > VALUE_BYTES_MAX)
      throw new CommandLimitError(`decode command value: ${n} bytes exceed ${VALUE_BYTES_MAX}`);
    const at = this.need(n, "value");
    return this.buf.slice(at, at + n);
  }
  end(): void {
    const left = this.buf.length - this.at;
    if (left !== 0) throw new CommandDecodeError(`decode command: ${left} bytes after the last field`);
  }
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
  const op = OPS_BY_CODE.get(code);
  if (op === undefined) throw new CommandDecodeError(`decode command: unknown opcode ${code}`);
  const cmd = decodeFields(op, r);
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
    default:
      return unreachable(op, "decode command");
  }
}
