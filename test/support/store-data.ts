/** Data, bodies and metadata for the tests of the backup stores. */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { BackupMeta } from "../../src/snapshot-agent/store.js";

export const MiB = 1024 * 1024;

/** The metadata the agent would record for `data` as the backup at `index`. */
export function metaOf(data: Buffer, index: number): BackupMeta {
  return {
    index,
    term: 3,
    size: data.length,
    sha256: createHash("sha256").update(data).digest("hex"),
    version: "0.1.0",
  };
}

/** The data in 1 MiB pieces, as a stream of a real file or response would deliver it. */
export function bodyOf(data: Buffer): Readable {
  return Readable.from(
    (function* () {
      for (let off = 0; off < data.length; off += MiB) yield data.subarray(off, off + MiB);
    })(),
  );
}

/** The SHA-256 and size of everything a stream yields. */
export async function sha256Of(body: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of body) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), size };
}
