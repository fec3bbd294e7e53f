/**
 * A gzip stream of stored (uncompressed) deflate blocks, framed here rather than by zlib: what an archive of
 * incompressible state is written as (gzip-level.ts chooses level 0). zlib's level 0 still copies every byte
 * through libuv's thread pool and hands back fresh 256 KiB buffers; framing stored blocks is a header of 5
 * bytes per 64 KiB, so each chunk is copied once into its framed form on the loop, with its CRC-32 (zlib's
 * native crc32), and nothing else. Any gunzip reads it: RFC 1951 §3.2.4 (stored blocks), RFC 1952 (gzip).
 */
import { crc32 } from "node:zlib";

/** Largest stored block: LEN is 16 bits. */
const STORED_BLOCK_BYTES_MAX = 0xffff;
/** BFINAL/BTYPE byte, LEN, NLEN. */
const STORED_HEADER_BYTES = 5;

/**
 * ID1 ID2, CM 8 (deflate), no flags, MTIME 0, XFL 0, OS 255 ("unknown"): the header Go's gzip writer gives
 * a stream written at NoCompression.
 */
const GZIP_HEADER = Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff);

/** `chunk` as stored blocks of at most STORED_BLOCK_BYTES_MAX bytes each, none of them final. */
function storedBlocks(chunk: Uint8Array): Uint8Array {
  const blocks = Math.ceil(chunk.length / STORED_BLOCK_BYTES_MAX);
  const out = Buffer.allocUnsafe(chunk.length + blocks * STORED_HEADER_BYTES);
  let at = 0;
  for (let from = 0; from < chunk.length; from += STORED_BLOCK_BYTES_MAX) {
    const n = Math.min(STORED_BLOCK_BYTES_MAX, chunk.length - from);
    out[at] = 0; // BFINAL 0, BTYPE 00; the block starts on a byte boundary, so the rest of the byte is padding
    out.writeUInt16LE(n, at + 1);
    out.writeUInt16LE(~n & 0xffff, at + 3);
    out.set(chunk.subarray(from, from + n), at + STORED_HEADER_BYTES);
    at += STORED_HEADER_BYTES + n;
  }
  return out;
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
    yield storedBlocks(chunk);
  }
  const tail = Buffer.alloc(STORED_HEADER_BYTES + 8);
  tail[0] = 1; // BFINAL 1, BTYPE 00, LEN 0
  tail.writeUInt16LE(0xffff, 3); // NLEN
  tail.writeUInt32LE(crc >>> 0, 5);
  tail.writeUInt32LE(size % 2 ** 32, 9); // ISIZE: the size modulo 2^32
  yield tail;
}
