/**
 * Small byte arrays without an ArrayBuffer each: carved from Node's Buffer pool (allocations under 4 KiB share
 * 8 KiB slabs). A small archive is a dozen such pieces (tar headers, meta.json, SHA256SUMS) made per snapshot,
 * and a server of a small state snapshots every few entries: an ArrayBuffer apiece is external memory the
 * collector must track and sweep. Returned as plain Uint8Array views, as the callers' types say.
 */

function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** `n` zero bytes. */
export function zeroBytes(n: number): Uint8Array {
  return view(Buffer.allocUnsafe(n).fill(0));
}

/** The UTF-8 bytes of `s`. */
export function utf8Bytes(s: string): Uint8Array {
  return view(Buffer.from(s, "utf8"));
}

/** Zeros shared by every reader: never written (tar padding and end markers are views of it). */
const ZEROS = new Uint8Array(1024);

/** A read-only view of `n` ≤ 1024 zero bytes, shared: the caller must not write into it. */
export function sharedZeros(n: number): Uint8Array {
  return n <= ZEROS.length ? ZEROS.subarray(0, n) : new Uint8Array(n);
}
