/**
 * Bodies and bounded waits for the store-specific tests of the backup stores (the contract suite,
 * src/snapshot-agent/store-contract.ts, has the small helpers: metaOf, streamOf, readAll…).
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { BackupMeta } from "../../src/snapshot-agent/store.js";

export const MiB = 1024 * 1024;

/**
 * A body of `total` bytes in 64 KiB chunks made as they are read (never held whole, however large), with its true
 * metadata. `onBytes(offset)` runs before each chunk is given: a test kills a server there, mid-upload.
 */
export function generatedBody(total: number): {
  readonly meta: BackupMeta;
  make: (onBytes: (offset: number) => Promise<void> | void) => Readable;
} {
  const CHUNK = 64 * 1024;
  const chunkAt = (i: number): Buffer => Buffer.alloc(Math.min(CHUNK, total - i * CHUNK), (i * 7 + 1) % 251);
  const hash = createHash("sha256");
  for (let i = 0; i * CHUNK < total; i++) hash.update(chunkAt(i));
  return {
    meta: { index: 1, term: 1, size: total, sha256: hash.digest("hex"), version: "0.1.0-test" },
    make: (onBytes) =>
      Readable.from(
        (async function* () {
          for (let i = 0; i * CHUNK < total; i++) {
            await onBytes(i * CHUNK);
            yield chunkAt(i);
          }
        })(),
      ),
  };
}

/**
 * How `p` settled, or "still pending" if it has not within `ms`: a bound on a wait, so a hang fails the test
 * instead of stalling it.
 */
export async function settledWithin<T>(
  p: Promise<T>,
  ms: number,
): Promise<{ value: T } | { error: unknown } | "still pending"> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"still pending">((resolve) => {
    timer = setTimeout(() => resolve("still pending"), ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
