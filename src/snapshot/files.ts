import type { FileHandle } from "node:fs/promises";

/** Writes all of `chunk` at the file's position: a single write() may write fewer bytes than asked. */
export async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
