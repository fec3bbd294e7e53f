/**
 * Crash-safe replacement of a small file: after a crash at any instant, `path` holds either the old content or
 * the new content, never a mix or nothing (hashicorp/raft's file snapshot store and etcd do the same).
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface WriteFileAtomicOptions {
  /** Permission bits of the new file (before umask); 0o600 unless told, as data-dir files are private. */
  readonly mode?: number;
}

/**
 * Write `data` to `path` atomically and durably: write a temp file in the same directory (a rename is atomic only
 * within one file system), fsync it, rename it over `path`, then fsync the directory so the rename itself survives
 * a power loss. On any failure the temp file is removed and the error rethrown; `path` is untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const dir = dirname(path);
  // The pid and random suffix keep two writers (or a leftover from a crash) from sharing a temp name.
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, "wx", options.mode ?? 0o600);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * fsync a directory, making the creation, rename or removal of its entries durable. On Linux a file's own fsync
 * does not cover its directory entry.
 */
export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates `path` and any missing parents (mode 0700: data-dir contents are private), then fsyncs the parent of
 * each directory it created, so the new tree survives a power loss before files inside it are trusted.
 */
export async function mkdirDurable(path: string): Promise<void> {
  const created = await mkdir(path, { recursive: true, mode: 0o700 });
  if (created === undefined) return;
  for (let d = path; d !== dirname(created); d = dirname(d)) await fsyncDir(dirname(d));
}
