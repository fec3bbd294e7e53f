/**
 * Encrypted backups (`.snap.enc`, snapshot-format.md §9): an archive sealed with AES-256-GCM in chunks, after
 * the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015), as age and Tink do. Each file gets its
 * own key, derived with HKDF-SHA256 from the user's key and a random salt in the header; chunk i is sealed
 * with the nonce prefix ‖ i and additional data binding i and whether it is the last chunk. Hence a reader
 * refuses, each with its own message: a file cut short (the chunk marked final is missing), chunks reordered
 * or repeated, any flipped bit, and bytes after the final chunk.
 *
 * Both directions are node:stream Transforms holding one chunk at a time. The decrypting stream emits a
 * chunk's plaintext only once that chunk is authenticated, and holds the final chunk until the input has
 * ended; but the chunks before a damaged one have been emitted by the time it fails. A consumer must treat a
 * stream error as "discard everything written so far": write to a temp file and use it only once the stream
 * has ended cleanly.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { assert } from "../util/assert.js";
import { assertKey, KEY_ID_BYTES, keyIdBytes } from "./envelope-key.js";
import { EnvelopeError } from "./errors.js";

/** The first 8 bytes of every encrypted backup. */
export const ENVELOPE_MAGIC: Uint8Array = Buffer.from("CAIRNENC", "latin1");
export const ENVELOPE_VERSION = 1;
/** Plaintext bytes per chunk unless told otherwise: per-chunk overhead 25 bytes in 1 MiB. */
export const ENVELOPE_CHUNK_SIZE_DEFAULT = 1024 * 1024;
/** The decrypting side buffers one chunk, so a header may not ask it for more than this. */
export const ENVELOPE_CHUNK_SIZE_MAX = 16 * 1024 * 1024;

const SALT_BYTES = 32;
const HEADER_MAC_BYTES = 32;
const HEADER_MAC_OFFSET = 8 + 1 + 4 + SALT_BYTES + KEY_ID_BYTES;
/** magic, version, chunk size, salt, key id, header MAC. */
export const ENVELOPE_HEADER_BYTES = HEADER_MAC_OFFSET + HEADER_MAC_BYTES;
/** Per chunk: index (u32), flags (u8), plaintext length (u32). */
export const CHUNK_HEADER_BYTES = 9;
export const TAG_BYTES = 16;
const FLAG_FINAL = 0x01;
/** The chunk counter is the nonce's last 4 bytes: 2^32 chunks at most, 4 PiB at the default chunk size. */
const CHUNKS_MAX = 2 ** 32;
const NONCE_PREFIX_BYTES = 8;
const AES_KEY_BYTES = 32;
const HEADER_MAC_KEY_BYTES = 32;
const HKDF_INFO = "cairn backup envelope v1";

/** What HKDF derives per file: the chunks' AES key, their nonce prefix, and the header's HMAC key. */
interface FileKeys {
  readonly aes: Buffer;
  readonly noncePrefix: Buffer;
  readonly headerMac: Buffer;
}

function deriveFileKeys(key: Uint8Array, salt: Uint8Array): FileKeys {
  const okm = Buffer.from(
    hkdfSync("sha256", key, salt, HKDF_INFO, AES_KEY_BYTES + NONCE_PREFIX_BYTES + HEADER_MAC_KEY_BYTES),
  );
  return {
    aes: okm.subarray(0, AES_KEY_BYTES),
    noncePrefix: okm.subarray(AES_KEY_BYTES, AES_KEY_BYTES + NONCE_PREFIX_BYTES),
    headerMac: okm.subarray(AES_KEY_BYTES + NONCE_PREFIX_BYTES),
  };
}

/** True when `firstBytes` (at least the first 8 bytes of a file) begin an encrypted backup. */
export function isEncrypted(firstBytes: Uint8Array): boolean {
  return (
    firstBytes.length >= ENVELOPE_MAGIC.length &&
    Buffer.from(firstBytes.buffer, firstBytes.byteOffset, ENVELOPE_MAGIC.length).equals(ENVELOPE_MAGIC)
  );
}

/** The size of the encrypted backup of `plainBytes` bytes. */
export function encryptedSize(plainBytes: number, chunkSize = ENVELOPE_CHUNK_SIZE_DEFAULT): number {
  const chunks = Math.max(1, Math.ceil(plainBytes / chunkSize));
  return ENVELOPE_HEADER_BYTES + chunks * (CHUNK_HEADER_BYTES + TAG_BYTES) + plainBytes;
}

/** The header without its MAC: magic, version, chunk size, salt, key id. */
function headerFields(chunkSize: number, salt: Uint8Array, id: Uint8Array): Buffer {
  const fields = Buffer.alloc(HEADER_MAC_OFFSET);
  fields.set(ENVELOPE_MAGIC, 0);
  fields[8] = ENVELOPE_VERSION;
  fields.writeUInt32BE(chunkSize, 9);
  fields.set(salt, 13);
  fields.set(id, 13 + SALT_BYTES);
  return fields;
}

function headerMac(keys: FileKeys, fields: Uint8Array): Buffer {
  return createHmac("sha256", keys.headerMac).update(fields).digest();
}

function nonce(keys: FileKeys, index: number): Buffer {
  const n = Buffer.alloc(NONCE_PREFIX_BYTES + 4);
  keys.noncePrefix.copy(n);
  n.writeUInt32BE(index, NONCE_PREFIX_BYTES);
  return n;
}

/** The additional data of chunk `index`: the index (u32) and the flags byte. */
function additionalData(index: number, final: boolean): Buffer {
  const ad = Buffer.alloc(5);
  ad.writeUInt32BE(index, 0);
  ad[4] = final ? FLAG_FINAL : 0;
  return ad;
}

function sealChunk(keys: FileKeys, index: number, final: boolean, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-gcm", keys.aes, nonce(keys, index), { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(index, final));
  // The chunk header is the additional data (index, flags) and the plaintext length.
  const head = Buffer.alloc(CHUNK_HEADER_BYTES);
  additionalData(index, final).copy(head);
  head.writeUInt32BE(plaintext.length, 5);
  const body = cipher.update(plaintext);
  const rest = cipher.final();
  return Buffer.concat([head, body, rest, cipher.getAuthTag()]);
}

/** The plaintext of a chunk sealed as chunk `index` with this flag, or null when it was not. */
function openChunk(keys: FileKeys, index: number, final: boolean, sealed: Uint8Array): Buffer | null {
  const decipher = createDecipheriv("aes-256-gcm", keys.aes, nonce(keys, index), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(additionalData(index, final));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([plaintext, decipher.final()]);
  } catch {
    return null; // final() throws exactly when authentication fails
  }
}

/** Bytes received but not yet consumed; taking n bytes copies only when they span two pieces. */
class ByteQueue {
  private pieces: Buffer[] = [];
  length = 0;

  push(piece: Buffer): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.length += piece.length;
  }

  /** The first n bytes without consuming them (n ≤ length). */
  peek(n: number): Buffer {
    const first = this.pieces[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const piece of this.pieces) {
      if (at === n) break;
      at += piece.copy(out, at, 0, Math.min(piece.length, n - at));
    }
    return out;
  }

  take(n: number): Buffer {
    assert(n <= this.length, `take ${n} of ${this.length} queued bytes`);
    const out = this.peek(n);
    let left = n;
    while (left > 0) {
      const first = this.pieces[0]!;
      if (first.length > left) {
        this.pieces[0] = first.subarray(left);
        left = 0;
      } else {
        this.pieces.shift();
        left -= first.length;
      }
    }
    this.length -= n;
    return out;
  }
}

export interface EncryptOptions {
  /**
   * Plaintext bytes per chunk, 1..ENVELOPE_CHUNK_SIZE_MAX [ENVELOPE_CHUNK_SIZE_DEFAULT]; tests use small
   * ones.
   */
  readonly chunkSize?: number;
}

/** A Transform from an archive's bytes to its encrypted backup under `key` (32 bytes). */
export function encryptStream(key: Uint8Array, options: EncryptOptions = {}): Transform {
  return new EncryptTransform(key, options.chunkSize ?? ENVELOPE_CHUNK_SIZE_DEFAULT);
}

class EncryptTransform extends Transform {
  private readonly keys: FileKeys;
  private header: Buffer | null;
  private readonly pending = new ByteQueue();
  private index = 0;

  constructor(
    key: Uint8Array,
    private readonly chunkSize: number,
  ) {
    super();
    assertKey(key);
    assert(
      Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= ENVELOPE_CHUNK_SIZE_MAX,
      `chunk size ${chunkSize} is not an integer in 1..${ENVELOPE_CHUNK_SIZE_MAX}`,
    );
    const salt = randomBytes(SALT_BYTES);
    this.keys = deriveFileKeys(key, salt);
    const fields = headerFields(chunkSize, salt, keyIdBytes(key));
    this.header = Buffer.concat([fields, headerMac(this.keys, fields)]);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    // A chunk is sealed as not final only once a byte after it has arrived: the last one is sealed at the
    // end.
    while (this.pending.length > this.chunkSize) {
      const err = this.seal(false, this.pending.take(this.chunkSize));
      if (err !== null) {
        done(err);
        return;
      }
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    done(this.seal(true, this.pending.take(this.pending.length)));
  }

  private seal(final: boolean, plaintext: Buffer): Error | null {
    if (this.index >= CHUNKS_MAX)
      return new RangeError(
        `too large to encrypt: more than ${CHUNKS_MAX} chunks of ${this.chunkSize} bytes`,
      );
    if (this.header !== null) {
      this.push(this.header);
      this.header = null;
    }
    this.push(sealChunk(this.keys, this.index, final, plaintext));
    this.index++;
    return null;
  }
}

/**
 * A Transform from an encrypted backup to the archive it holds; fails with an EnvelopeError (module comment).
 */
export function decryptStream(key: Uint8Array): Transform {
  return new DecryptTransform(key);
}

interface ChunkHeader {
  readonly index: number;
  readonly final: boolean;
  readonly length: number;
}

class DecryptTransform extends Transform {
  private readonly queue = new ByteQueue();
  /** Bytes received, and bytes consumed (the offset of the queue's first byte in the file). */
  private received = 0;
  private consumed = 0;
  private keys: FileKeys | null = null;
  private chunkSize = 0;
  private index = 0;
  private chunk: ChunkHeader | null = null;
  /** The final chunk's plaintext, emitted once the input has ended with nothing after it. */
  private last: Buffer | null = null;

  constructor(private readonly key: Uint8Array) {
    super();
    assertKey(key);
  }

  override _transform(piece: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.received += piece.length;
    this.queue.push(piece);
    try {
      this.advance();
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.finish();
      if (this.last !== null && this.last.length > 0) this.push(this.last);
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  private consume(n: number): Buffer {
    this.consumed += n;
    return this.queue.take(n);
  }

  /** Consumes every complete header and chunk queued; each turn of the loop consumes bytes or returns. */
  private advance(): void {
    for (;;) {
      if (this.keys === null) {
        if (!this.readHeader()) return;
      } else if (this.last !== null) {
        if (this.queue.length > 0)
          throw damaged(
            `there is data after its final chunk (the backup should end at byte ${this.consumed})`,
          );
        return;
      } else if (this.chunk === null) {
        if (this.queue.length < CHUNK_HEADER_BYTES) return;
        this.chunk = this.readChunkHeader(this.consume(CHUNK_HEADER_BYTES));
      } else {
        if (this.queue.length < this.chunk.length + TAG_BYTES) return;
        const start = this.consumed - CHUNK_HEADER_BYTES;
        this.openChunk(this.chunk, start, this.consume(this.chunk.length + TAG_BYTES));
        this.chunk = null;
      }
    }
  }

  /** Checks the header as far as it has arrived; true once it is whole and good. */
  private readHeader(): boolean {
    const have = this.queue.peek(Math.min(this.queue.length, ENVELOPE_HEADER_BYTES));
    const magicPart = have.subarray(0, ENVELOPE_MAGIC.length);
    if (!magicPart.equals(ENVELOPE_MAGIC.subarray(0, magicPart.length))) throw notEncrypted(have);
    if (have.length > 8 && have[8] !== ENVELOPE_VERSION)
      throw new EnvelopeError(
        "unsupported_version",
        `encrypted backup has format version ${have[8]}; this cairn reads version ${ENVELOPE_VERSION} only ` +
          "(written by a newer cairn? decrypt it with that one)",
      );
    if (have.length < ENVELOPE_HEADER_BYTES) return false;
    const header = this.consume(ENVELOPE_HEADER_BYTES);
    const chunkSize = header.readUInt32BE(9);
    if (chunkSize < 1 || chunkSize > ENVELOPE_CHUNK_SIZE_MAX)
      throw damaged(
        `header is damaged: its chunk size ${chunkSize} is outside 1..${ENVELOPE_CHUNK_SIZE_MAX}`,
      );
    const salt = header.subarray(13, 13 + SALT_BYTES);
    const theirs = header.subarray(13 + SALT_BYTES, HEADER_MAC_OFFSET);
    const ours = keyIdBytes(this.key);
    const keys = deriveFileKeys(this.key, salt);
    // The MAC is checked against the header as our key would have written it, with our key id: if it holds
    // while the id differs, our key wrote this file and only the id field is damaged; if not, another key
    // wrote it.
    const expected = headerMac(keys, headerFields(chunkSize, salt, ours));
    const authentic = timingSafeEqual(expected, header.subarray(HEADER_MAC_OFFSET));
    if (!theirs.equals(ours)) {
      if (authentic) throw damaged(`header is damaged: its key id field reads ${theirs.toString("hex")}`);
      throw new EnvelopeError(
        "wrong_key",
        `encrypted backup was encrypted with a different key (key id ${theirs.toString("hex")}, ` +
          `this key ${ours.toString("hex")})`,
      );
    }
    if (!authentic) throw damaged("header is damaged: its authentication failed");
    this.keys = keys;
    this.chunkSize = chunkSize;
    return true;
  }

  private readChunkHeader(bytes: Buffer): ChunkHeader {
    const at = this.consumed - CHUNK_HEADER_BYTES;
    const flags = bytes[4]!;
    const chunk: ChunkHeader = {
      index: bytes.readUInt32BE(0),
      final: (flags & FLAG_FINAL) !== 0,
      length: bytes.readUInt32BE(5),
    };
    const where = `chunk ${this.index} (at byte ${at}) is damaged`;
    if ((flags & ~FLAG_FINAL) !== 0) throw damaged(`${where}: its flags byte is 0x${flags.toString(16)}`);
    if (chunk.length > this.chunkSize)
      throw damaged(`${where}: its length ${chunk.length} exceeds the chunk size ${this.chunkSize}`);
    if (!chunk.final && chunk.length !== this.chunkSize)
      throw damaged(
        `${where}: it is not the final chunk but holds ${chunk.length} bytes, not ${this.chunkSize}`,
      );
    return chunk;
  }

  private openChunk(chunk: ChunkHeader, at: number, sealed: Buffer): void {
    const keys = this.keys!;
    const i = this.index;
    const plaintext = openChunk(keys, i, chunk.final, sealed);
    if (plaintext === null || chunk.index !== i) {
      const where = `chunk ${i} (bytes ${at}–${at + CHUNK_HEADER_BYTES + sealed.length - 1})`;
      // Diagnosis only: a chunk whose index field names another is either that chunk, misplaced, or damaged.
      if (chunk.index !== i && openChunk(keys, chunk.index, chunk.final, sealed) !== null)
        throw damaged(
          `${where} is out of place: it is chunk ${chunk.index} of this backup ` +
            `(chunks ${chunk.index < i ? "duplicated" : "missing"} or out of order)`,
        );
      if (plaintext !== null) throw damaged(`${where} is damaged: its index field reads ${chunk.index}`);
      throw damaged(`${where} is damaged: its authentication failed`);
    }
    if (chunk.final) this.last = plaintext;
    else {
      if (i + 1 >= CHUNKS_MAX) throw damaged(`chunk ${i} is not final but is the last one the format allows`);
      this.index = i + 1;
      this.push(plaintext);
    }
  }

  /** At the end of input: the final chunk must have been read; else say how the file was cut. */
  private finish(): void {
    if (this.last !== null) return;
    const cut = `encrypted backup is truncated after ${this.received} bytes`;
    if (this.keys === null) {
      if (this.queue.length === 0) throw new EnvelopeError("truncated", `${cut}: it is empty`);
      throw new EnvelopeError("truncated", `${cut}: its header takes ${ENVELOPE_HEADER_BYTES}`);
    }
    const chunk = this.chunk;
    if (chunk === null) {
      if (this.queue.length === 0) throw new EnvelopeError("truncated", `${cut}: the final chunk is missing`);
      throw new EnvelopeError("truncated", `${cut}: chunk ${this.index} is cut short in its header`);
    }
    // A final chunk whose length field was damaged upwards looks cut short: if what is there authenticates as
    // the final chunk, it is whole and the field is what is wrong.
    const rest = this.queue.take(this.queue.length);
    if (chunk.final && rest.length >= TAG_BYTES && openChunk(this.keys, this.index, true, rest) !== null)
      throw damaged(
        `chunk ${this.index} is damaged: its length field reads ${chunk.length} but it holds ` +
          `${rest.length - TAG_BYTES} bytes`,
      );
    const which = chunk.final ? `the final chunk (chunk ${this.index})` : `chunk ${this.index}`;
    throw new EnvelopeError(
      "truncated",
      `${cut}: ${which} is cut short${chunk.final ? "" : " and the final chunk is missing"}`,
    );
  }
}

function damaged(what: string): EnvelopeError {
  return new EnvelopeError("corrupt", `encrypted backup is corrupt: ${what}`);
}

function notEncrypted(first: Buffer): EnvelopeError {
  const gzip = first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
  return new EnvelopeError(
    "not_encrypted",
    gzip
      ? "not an encrypted backup: it begins as gzip does, like a plain snapshot archive (.snap)"
      : "not an encrypted backup: it does not begin with CAIRNENC",
  );
}
