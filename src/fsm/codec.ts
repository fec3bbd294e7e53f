/**
 * The byte-level pieces of the command encoding (see command.ts): a writer and a strict reader.
 */
import { assert } from "../util/index.js";
import { CommandDecodeError, CommandLimitError, InvalidKeyError } from "./errors.js";
/** Consul's kv_max_value_size default: 512 KiB. */
export const VALUE_BYTES_MAX = 512 * 1024;
/** Consul sets no key limit; cairn bounds keys (and prefixes, session ids) at 64 KiB of UTF-8. */
export const KEY_BYTES_MAX = 64 * 1024;
/** A value as Consul stores it: bytes, or null for Go's nil (a PUT with an empty body). */
export type KvValue = Uint8Array | null;

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

export class Writer {
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
  /** A non-negative safe integer (milliseconds, nanoseconds) as a u64. */
  num(n: number, what: string): void {
    assert(Number.isSafeInteger(n) && n >= 0, `encode ${what} ${n} as a non-negative safe integer`);
    this.u64(BigInt(n));
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

export class Reader {
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
  num(what: string): number {
    const n = this.u64(what);
    if (n > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CommandDecodeError(`decode command ${what}: ${n} is above 2^53`);
    return Number(n);
  }
  end(): void {
    const left = this.buf.length - this.at;
    if (left !== 0) throw new CommandDecodeError(`decode command: ${left} bytes after the last field`);
  }
}
