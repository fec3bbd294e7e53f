/**
 * The tar layer, hand-written so the writer produces exactly the USTAR headers Go's archive/tar writes for
 * Consul (snapshot-format.md §1.2) and the reader follows Go's reader semantics that Consul inherits: an end
 * marker of two zero blocks (or plain end of stream), PAX and GNU long names handled, and the exact count of
 * bytes left after the end marker (Consul refuses any).
 */
import { assert } from "../util/assert.js";
import { sharedZeros, zeroBytes } from "./bytes.js";
import { ArchiveFormatError } from "./errors.js";

export const BLOCK_BYTES = 512;
/** Octal size fields have 11 digits: Go switches to PAX beyond this, which cairn never needs to write. */
export const TAR_ENTRY_BYTES_MAX = 8 ** 11 - 1;

const utf8Encoder = new TextEncoder();

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  // ASCII (every field cairn writes) byte by byte: a header is written per snapshot, a dozen fields each.
  let ascii = value.length <= length;
  for (let i = 0; ascii && i < value.length; i++) ascii = value.charCodeAt(i) < 0x80;
  if (ascii) {
    for (let i = 0; i < value.length; i++) block[offset + i] = value.charCodeAt(i);
    return;
  }
  const bytes = utf8Encoder.encode(value);
  assert(bytes.length <= length, `fit tar field "${value}" into ${length} bytes`);
  block.set(bytes, offset);
}

function octal(value: number, digits: number): string {
  return value.toString(8).padStart(digits, "0");
}

/** One USTAR header as Go writes it: mode 0600, uid/gid 0, empty uname/gname, typeflag '0'. */
export function tarHeader(name: string, size: number, mtimeSec: number): Uint8Array {
  assert(
    Number.isSafeInteger(size) && size >= 0 && size <= TAR_ENTRY_BYTES_MAX,
    `fit tar size ${size} in 11 octal digits`,
  );
  assert(
    Number.isSafeInteger(mtimeSec) && mtimeSec >= 0 && mtimeSec <= 8 ** 11 - 1,
    `fit tar mtime ${mtimeSec}`,
  );
  const h = zeroBytes(BLOCK_BYTES);
  putString(h, 0, 100, name);
  putString(h, 100, 8, "0000600\0");
  putString(h, 108, 8, "0000000\0");
  putString(h, 116, 8, "0000000\0");
  putString(h, 124, 12, `${octal(size, 11)}\0`);
  putString(h, 136, 12, `${octal(mtimeSec, 11)}\0`);
  putString(h, 148, 8, "        "); // checksum is computed with this field as spaces
  putString(h, 156, 1, "0");
  putString(h, 257, 6, "ustar\0");
  putString(h, 263, 2, "00");
  putString(h, 329, 8, "0000000\0");
  putString(h, 337, 8, "0000000\0");
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, `${octal(sum, 6)}\0 `);
  return h;
}

/** How many zero bytes pad an entry of `size` bytes to a whole block. */
export function tarPaddingBytes(size: number): number {
  const rem = size % BLOCK_BYTES;
  return rem === 0 ? 0 : BLOCK_BYTES - rem;
}

/** Zero bytes that pad an entry of `size` bytes to a whole block: shared, read-only (sharedZeros). */
export function tarPadding(size: number): Uint8Array {
  return sharedZeros(tarPaddingBytes(size));
}

/**
 * The end-of-archive marker: exactly two zero blocks, and nothing after (no padding to a 10 KiB record).
 * Shared, read-only (sharedZeros).
 */
export function tarEnd(): Uint8Array {
  return sharedZeros(2 * BLOCK_BYTES);
}

/** Pulls exact byte counts out of a chunked stream. */
export class ByteReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private done = false;
  /** Bytes handed out so far. */
  consumed = 0;

  /** A sync iterator too: a tar held in memory (archive-read.ts readContainerBytes). */
  constructor(private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>) {}

  private async fill(): Promise<boolean> {
    while (this.chunk.length === 0 && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else this.chunk = next.value;
    }
    return this.chunk.length > 0;
  }

  /** Reads n bytes, or fewer only when the stream ends first. */
  async readUpTo(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n && (await this.fill())) {
      const take = Math.min(n - have, this.chunk.length);
      out.set(this.chunk.subarray(0, take), have);
      this.chunk = this.chunk.subarray(take);
      have += take;
    }
    this.consumed += have;
    return have === n ? out : out.subarray(0, have);
  }

  /** Yields exactly n bytes in chunks; throws `unexpected EOF` when the stream ends first. */
  async *stream(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (!(await this.fill())) throw new TarError("unexpected EOF");
      const take = Math.min(left, this.chunk.length);
      const piece = this.chunk.subarray(0, take);
      this.chunk = this.chunk.subarray(take);
      left -= take;
      this.consumed += take;
      yield piece;
    }
  }

  /** Reads to the end and counts what was left. */
  async countRest(): Promise<number> {
    let n = 0;
    while (await this.fill()) {
      n += this.chunk.length;
      this.chunk = new Uint8Array(0);
    }
    return n;
  }
}

/** A tar structure error; the archive reader wraps it as `failed reading snapshot: <message>`. */
export class TarError extends Error {
  override name = "TarError";
}

export interface TarEntry {
  readonly name: string;
  readonly typeflag: string;
  /** Bytes of content. */
  readonly size: number;
}

const utf8 = new TextDecoder();
const INVALID_HEADER = "archive/tar: invalid tar header";
/** Bound on PAX and GNU long-name bodies, which are read whole. */
const META_ENTRY_BYTES_MAX = 1024 * 1024;

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return utf8.decode(nul < 0 ? b : b.subarray(0, nul));
}

/** Go's parseNumeric: octal with surrounding spaces/NULs, or base-256 when the high bit is set. */
function parseNumeric(b: Uint8Array): number {
  if (b.length > 0 && ((b[0] as number) & 0x80) !== 0) {
    let v = (b[0] as number) & 0x7f;
    for (const x of b.subarray(1)) v = v * 256 + x;
    if (!Number.isSafeInteger(v)) throw new TarError(INVALID_HEADER);
    return v;
  }
  const s = cString(b).replace(/^[ \0]+|[ \0]+$/g, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(INVALID_HEADER);
  return Number.parseInt(s, 8);
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** Go accepts either the unsigned or the signed (historic) byte sum. */
function checksumOk(h: Uint8Array): boolean {
  const want = parseNumeric(h.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_BYTES; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    unsigned += b;
    signed += b < 128 ? b : b - 256;
  }
  return want === unsigned || want === signed;
}

/** Types whose size field Go ignores: they carry no data. */
const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);

/** PAX records: "<len> <key>=<value>\n". Only `path` and `size` matter to a Consul reader. */
function parsePax(body: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let rest = utf8.decode(body);
  while (rest.length > 0) {
    const sp = rest.indexOf(" ");
    const len = Number.parseInt(rest.slice(0, sp), 10);
    if (sp <= 0 || !Number.isSafeInteger(len) || len <= sp) throw new TarError(INVALID_HEADER);
    const rec = rest.slice(sp + 1, len - 1);
    const eq = rec.indexOf("=");
    if (eq <= 0 || rest[len - 1] !== "\n") throw new TarError(INVALID_HEADER);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    rest = rest.slice(len);
  }
  return out;
}

async function readSmallBody(r: ByteReader, size: number): Promise<Uint8Array> {
  if (size > META_ENTRY_BYTES_MAX)
    throw new TarError(`extended header of ${size} bytes exceeds ${META_ENTRY_BYTES_MAX}`);
  const body = await r.readUpTo(size);
  if (body.length < size) throw new TarError("unexpected EOF");
  await skipPadding(r, size);
  return body;
}

async function skipPadding(r: ByteReader, size: number): Promise<void> {
  const pad = tarPaddingBytes(size);
  if (pad > 0 && (await r.readUpTo(pad)).length < pad) throw new TarError("unexpected EOF");
}

/** Reads one 512-byte header block; null at a clean end (stream end or two zero blocks), as Go's reader. */
async function readBlock(r: ByteReader): Promise<Uint8Array | null> {
  const block = await r.readUpTo(BLOCK_BYTES);
  if (block.length === 0) return null;
  if (block.length < BLOCK_BYTES) throw new TarError("unexpected EOF");
  if (!isZero(block)) return block;
  const second = await r.readUpTo(BLOCK_BYTES);
  if (second.length === 0) return null;
  if (second.length < BLOCK_BYTES) throw new TarError("unexpected EOF");
  if (isZero(second)) return null;
  throw new TarError(INVALID_HEADER);
}

/**
 * Iterates the entries of a tar stream. The caller reads each entry's content with `r.stream(entry.size)`
 * before asking for the next entry, then calls `skipPadding`; headers-only entries report size 0.
 */
export async function nextEntry(r: ByteReader): Promise<TarEntry | null> {
  let longName: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    const h = await readBlock(r);
    if (h === null) return null;
    if (!checksumOk(h)) throw new TarError(INVALID_HEADER);
    const typeflag = h[156] === 0 ? "0" : String.fromCharCode(h[156] as number);
    let size = parseNumeric(h.subarray(124, 136));
    if (typeflag === "x" || typeflag === "L") {
      const body = await readSmallBody(r, size);
      if (typeflag === "x") pax = parsePax(body);
      else longName = cString(body);
      continue;
    }
    if (typeflag === "S") throw new TarError(`unsupported GNU sparse entry "${cString(h.subarray(0, 100))}"`);
    let name = cString(h.subarray(0, 100));
    const magic = cString(h.subarray(257, 263));
    const prefix = cString(h.subarray(345, 500));
    if (magic === "ustar" && h[262] === 0 && prefix !== "") name = `${prefix}/${name}`;
    if (longName !== undefined) name = longName;
    const paxPath = pax.get("path");
    if (paxPath !== undefined) name = paxPath;
    const paxSize = pax.get("size");
    if (paxSize !== undefined) {
      if (!/^[0-9]+$/.test(paxSize)) throw new TarError(INVALID_HEADER);
      size = Number.parseInt(paxSize, 10);
    }
    if (HEADER_ONLY.has(typeflag)) size = 0;
    return { name, typeflag, size };
  }
}

export { skipPadding };

/** Wraps a tar structure error the way Consul reports it. */
export function tarFailure(err: TarError): ArchiveFormatError {
  return new ArchiveFormatError(
    "snapshot_tar",
    `failed to read snapshot file: failed reading snapshot: ${err.message}`,
    {
      cause: err,
    },
  );
}
