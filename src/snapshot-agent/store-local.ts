/**
 * The local-disk backup store (`local_storage.path`): one file per backup, its metadata in a sidecar
 * `<name>.meta.json` beside it. Every write is a temp file (`<name>.tmp-<random>`, mode 0600) that is fsynced and
 * renamed, then the directory is fsynced, so after a crash at any instant a name holds a whole backup or nothing.
 *
 * Crash leftovers (temp files, a sidecar whose backup is gone) are never listed as backups; `sweep()` removes
 * them. `list` does not: it may run while a `put` in this process is writing its temp file, and removing that
 * would fail the put. The agent sweeps once it holds leadership, before its first save.
 */
import { randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import { createWriteStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";
import {
  BackupNotFoundError,
  backupNameProblem,
  byName,
  checkBackupName,
  checkListPrefix,
  META_SUFFIX,
  parseBackupMeta,
  putVerified,
  storedObject,
  TEMP_MARK,
} from "./store-checks.js";

/** Backups are private: the files 0600, the directory (when this store creates it) 0700. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/** fsync a directory, so the creation, rename or removal of its entries survives a power loss. */
async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes everything `source` gives into a new file `path` (failing if it exists), then fsyncs it. */
async function writeNewFile(path: string, source: Readable): Promise<void> {
  await pipeline(source, createWriteStream(path, { flags: "wx", mode: FILE_MODE }));
  // fsync through a descriptor of its own: it flushes the file, whichever descriptor wrote it.
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class LocalStore implements BackupStore {
  readonly label: string;
  /** The directory, absolute. */
  readonly dir: string;
  private made: Promise<void> | undefined;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.label = `local:${this.dir}`;
  }

  put(name: string, body: Readable, meta: BackupMeta): Promise<void> {
    return putVerified(this.label, name, body, meta, (source) => this.write(name, source, meta));
  }

  /** Writes the verified `source` and the sidecar of `meta` under `name`; leaves no temp file when it fails. */
  private async write(name: string, source: Readable, meta: BackupMeta): Promise<void> {
    await this.ensureDir();
    const suffix = `${TEMP_MARK}${randomBytes(6).toString("hex")}`;
    const objectPath = this.pathOf(name);
    const sidecarPath = `${objectPath}${META_SUFFIX}`;
    const objectTemp = `${objectPath}${suffix}`;
    const sidecarTemp = `${sidecarPath}${suffix}`;
    let renamed = false;
    try {
      await writeNewFile(objectTemp, source);
      await writeNewFile(sidecarTemp, Readable.from([`${JSON.stringify(meta)}\n`]));
      // The old sidecar goes first: a crash between the renames leaves a backup without metadata, never a
      // backup beside the metadata of the one it replaced.
      await rm(sidecarPath, { force: true });
      await rename(objectTemp, objectPath);
      renamed = true;
      await rename(sidecarTemp, sidecarPath);
    } catch (e) {
      // A put that fails leaves nothing under `name` (the old backup, if any, is already gone once renamed).
      await rm(objectTemp, { force: true }).catch(() => {});
      await rm(sidecarTemp, { force: true }).catch(() => {});
      if (renamed) await rm(objectPath, { force: true }).catch(() => {});
      throw e;
    }
    await fsyncDir(this.dir);
  }

  async head(name: string): Promise<StoredObject | null> {
    checkBackupName(name);
    await this.ensureDir();
    let st: Stats;
    try {
      st = await stat(this.pathOf(name));
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
    return st.isFile() ? this.described(name, st) : null;
  }

  async get(name: string): Promise<Readable> {
    checkBackupName(name);
    await this.ensureDir();
    let fh: FileHandle;
    try {
      // Opened here, not lazily by the stream, so a missing backup rejects `get` itself.
      fh = await open(this.pathOf(name), "r");
    } catch (e) {
      if (isMissing(e)) throw new BackupNotFoundError(this.label, name);
      throw e;
    }
    try {
      if (!(await fh.stat()).isFile()) throw new BackupNotFoundError(this.label, name);
    } catch (e) {
      await fh.close();
      throw e;
    }
    return fh.createReadStream();
  }

  async list(startsWith: string): Promise<StoredObject[]> {
    checkListPrefix(startsWith);
    await this.ensureDir();
    const names = (await readdir(this.dir, { withFileTypes: true }))
      .filter((d) => d.isFile() && d.name.startsWith(startsWith) && backupNameProblem(d.name) === "")
      .map((d) => d.name)
      .sort(byName);
    const out: StoredObject[] = [];
    for (const name of names) {
      try {
        out.push(await this.described(name, await stat(this.pathOf(name))));
      } catch (e) {
        if (!isMissing(e)) throw e; // deleted since readdir: not listed
      }
    }
    return out;
  }

  async delete(name: string): Promise<void> {
    checkBackupName(name);
    await this.ensureDir();
    // The backup goes first: a crash in between leaves an orphan sidecar, which is never listed and is swept.
    await rm(this.pathOf(name), { force: true });
    await rm(`${this.pathOf(name)}${META_SUFFIX}`, { force: true });
    await fsyncDir(this.dir);
  }

  /**
   * Removes what crashes leave: temp files of unfinished puts, and sidecars whose backup is gone. Returns the
   * file names removed. Must not run while a put into this directory is under way (it would remove its temp).
   */
  async sweep(): Promise<string[]> {
    await this.ensureDir();
    const entries = (await readdir(this.dir, { withFileTypes: true })).filter((d) => d.isFile());
    const present = new Set(entries.map((d) => d.name));
    const removed: string[] = [];
    for (const { name } of entries) {
      const isTemp = isTempOf(name);
      const isOrphanSidecar = name.endsWith(META_SUFFIX) && !present.has(name.slice(0, -META_SUFFIX.length));
      if (isTemp || isOrphanSidecar) {
        await rm(join(this.dir, name), { force: true });
        removed.push(name);
      }
    }
    if (removed.length > 0) await fsyncDir(this.dir);
    return removed.sort(byName);
  }

  private pathOf(name: string): string {
    return join(this.dir, name);
  }

  /** The object as listed: its metadata from the sidecar, unless that is missing, unreadable or not its own. */
  private async described(name: string, st: Stats): Promise<StoredObject> {
    return storedObject(name, st.size, st.mtime, await this.readSidecar(name));
  }

  private async readSidecar(name: string): Promise<BackupMeta | null> {
    let text: string;
    try {
      text = await readFile(`${this.pathOf(name)}${META_SUFFIX}`, "utf8");
    } catch (e) {
      if (isMissing(e)) return null;
      throw e;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      return typeof parsed === "object" && parsed !== null
        ? parseBackupMeta(parsed as Record<string, unknown>)
        : null;
    } catch {
      return null; // a damaged sidecar: the backup is still listed (and verifiable), without metadata
    }
  }

  /** Creates the directory (0700, with fsyncs of the parents of what it creates) on first use. */
  private ensureDir(): Promise<void> {
    this.made ??= mkdirDurable(this.dir).catch((e: unknown) => {
      this.made = undefined; // let the next call try again (a mount that was not there yet)
      throw e;
    });
    return this.made;
  }
}

/** Whether `file` is a temp file of a put: `<name>.tmp-<hex>` or `<name>.meta.json.tmp-<hex>`. */
function isTempOf(file: string): boolean {
  const at = file.lastIndexOf(TEMP_MARK);
  return at > 0 && /^[0-9a-f]+$/.test(file.slice(at + TEMP_MARK.length));
}

async function mkdirDurable(path: string): Promise<void> {
  const created = await mkdir(path, { recursive: true, mode: DIR_MODE });
  if (created === undefined) return;
  for (let d = path; d !== dirname(created); d = dirname(d)) await fsyncDir(dirname(d));
}
