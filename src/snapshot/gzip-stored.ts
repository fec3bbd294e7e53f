/**
 * A gzip stream of stored (uncompressed) deflate blocks, framed here rather than by zlib: what an archive of
 * incompressible state is written as (gzip-level.ts chooses level 0). zlib's level 0 still copies every byte
 * through libuv's thread pool and hands back fresh 256 KiB buffers; framing stored blocks is a header of 5
 * bytes per 64 KiB, so each chunk is copied once into its framed form on the loop, with its CRC-32 (zlib's
 * native crc32), and nothing else. Any gunzip reads it: RFC 1951 §3.2.4 (stored blocks), RFC 1952 (gzip).
 *
 * The framing follows the chunks (each chunk its own blocks): the streamed writer (gzipStored) and the
 * in-memory one (gzipStoredOf, given the same chunks) make the same bytes.
 */
import { crc32 } from "node:zlib";

/** Largest stored block: LEN is 16 bits. */
const STORED_BLOCK_BYTES_MAX = 0xffff;
/** BFINAL/BTYPE byte, LEN, NLEN. */
const STORED_HEADER_BYTES = 5;
/** The final empty block, CRC-32 and ISIZE. */
const TRAILER_BYTES = STORED_HEADER_BYTES + 8;

/**
 * ID1 ID2, CM 8 (deflate), no flags, MTIME 0, XFL 0, OS 255 ("unknown"): the header Go's gzip writer gives
 * a stream written at NoCompression.
 */
const GZIP_HEADER = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff);

/** Bytes of `chunkBytes` framed as stored blocks. */
function framedBytes(chunkBytes: number): number {
  return chunkBytes + Math.ceil(chunkBytes / STORED_BLOCK_BYTES_MAX) * STORED_HEADER_BYTES;
}

/** Writes `chunk` as stored blocks (none final) into `out` at `at`; returns where they end. */
function putStoredBlocks(out: Buffer, at: number, chunk: Uint8Array): number {
  for (let from = 0; from < chunk.length; from += STORED_BLOCK_BYTES_MAX) {
    const n = Math.min(STORED_BLOCK_BYTES_MAX, chunk.length - from);
    out[at] = 0; // BFINAL 0, BTYPE 00; the block starts on a byte boundary, so the rest of the byte is padding
    out.writeUInt16LE(n, at + 1);
    out.writeUInt16LE(~n & 0xffff, at + 3);
    out.set(chunk.subarray(from, from + n), at + STORED_HEADER_BYTES);
    at += STORED_HEADER_BYTES + n;
  }
  return at;
}

/** Writes the empty final block, the CRC-32 and the size modulo 2^32 into `out` at `at`. */
function putTrailer(out: Buffer, at: number, crc: number, size: number): void {
  out.fill(0, at, at + TRAILER_BYTES);
  out[at] = 1; // BFINAL 1, BTYPE 00, LEN 0
  out.writeUInt16LE(0xffff, at + 3); // NLEN
  out.writeUInt32LE(crc >>> 0, at + 5);
  out.writeUInt32LE(size % 2 ** 32, at + 9); // ISIZE: the size modulo 2^32
}

/** The gzip stream of `source`'s bytes in stored blocks: header, blocks, an empty final block, CRC-32, size. */
export async function* gzipStored(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield GZIP_HEADER;
  let crc = 0;
  let size = 0;
  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    crc = crc32(chunk, crc);
    size += chunk.length;
    const out = Buffer.allocUnsafe(framedBytes(chunk.length));
    putStoredBlocks(out, 0, chunk);
    yield out;
  }
  const tail = Buffer.allocUnsafe(TRAILER_BYTES);
  putTrailer(tail, 0, crc, size);
  yield tail;
}

/** gzipStored over `chunks`, made in one buffer: the same bytes. */
export function gzipStoredOf(chunks: readonly Uint8Array[]): Buffer {
  let total = GZIP_HEADER.length + TRAILER_BYTES;
  for (const chunk of chunks) total += framedBytes(chunk.length);
  const out = Buffer.allocUnsafe(total);
  out.set(GZIP_HEADER, 0);
  let at = GZIP_HEADER.length;
  let crc = 0;
  let size = 0;
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    crc = crc32(chunk, crc);
    size += chunk.length;
    at = putStoredBlocks(out, at, chunk);
  }
  putTrailer(out, at, crc, size);
  return out;
}
