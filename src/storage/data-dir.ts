/**
 * The agent's `-data-dir`: created private (0700) if missing, locked against a second agent, stamped with the
 * on-disk format version and the node's permanent id (Consul's `node-id` file). Layout:
 *   LOCK             pid of the agent holding the dir (and its node name), removed on close
 *   format-version   "1": the layout of everything below; a newer cairn may raise it, an older one refuses
 *   node-id          a UUID v4, created once, kept for the node's life
 *   raft/state       hard state (stable-store.ts)
 *   raft/wal/        log segments and boundary (wal.ts)
 */
import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { errorText } from "../util/errors.js";
import { fsyncDir, mkdirDurable, writeFileAtomic } from "./atomic-file.js";
import { DataDirError } from "./errors.js";

export const FORMAT_VERSION = 1;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DataDirOptions {
  /** Written into LOCK beside the pid so an operator can tell which agent holds the dir. */
  readonly nodeName?: string;
  /** Receives notices (a stale lock taken over). */
  readonly log?: (msg: string) => void;
}

/** An open, locked data dir. Contract: one per path per machine at a time; `close()` releases it. */
export interface DataDir {
  /** Absolute path. */
  readonly path: string;
  /** `<path>/raft`, created. */
  readonly raftDir: string;
  /** The node's permanent id (UUID). */
  readonly nodeId: string;
  /** Releases the lock. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the data dir at `path`. Throws DataDirError when it cannot be created or written, is held by a live agent,
 * or was written by a newer cairn. Only the dir itself is created: a missing parent is more likely a typo in
 * `-data-dir` than a wish for a new tree.
 */
export async function openDataDir(path: string, opts: DataDirOptions = {}): Promise<DataDir> {
  const dir = resolve(path);
  const log = opts.log ?? (() => {});
  await ensureDir(dir);
  const lockPath = join(dir, "LOCK");
  await acquireLock(dir, lockPath, opts.nodeName ?? "", log);
  try {
    await checkFormatVersion(dir);
    const nodeId = await loadNodeId(dir);
    const raftDir = join(dir, "raft");
    await guard(dir, () => mkdirDurable(raftDir));
    let closed = false;
    return {
      path: dir,
      raftDir,
      nodeId,
      close: async () => {
        if (closed) return;
        closed = true;
        await releaseLock(lockPath);
      },
    };
  } catch (err) {
    await releaseLock(lockPath);
    throw err;
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function ignoreCode(code: string): (err: unknown) => void {
  return (err) => {
    if (errnoCode(err) !== code) throw err;
  };
}

const REASONS: Readonly<Record<string, string>> = {
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "read-only file system",
  ENOENT: "parent directory does not exist",
  ENOTDIR: "a parent is not a directory",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
};

/** Runs a file operation on the data dir, turning its OS error into a DataDirError that names the dir. */
async function guard<T>(dir: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof DataDirError) throw err;
    const reason = REASONS[errnoCode(err) ?? ""] ?? errorText(err);
    throw new DataDirError(`cannot use data dir "${dir}": ${reason}`, dir, { cause: err });
  }
}

async function ensureDir(dir: string): Promise<void> {
  await guard(dir, async () => {
    try {
      await mkdir(dir, { mode: 0o700 });
      await fsyncDir(dirname(dir));
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw err;
      if (!(await stat(dir)).isDirectory()) {
        throw new DataDirError(`cannot use data dir "${dir}": it exists and is not a directory`, dir);
      }
    }
  });
}

/**
 * Takes LOCK by exclusive create. A LOCK naming a live pid refuses; one naming a dead pid (a crashed agent) or
 * no pid (a crash between create and write) is taken over. Known gap: two agents taking over the same stale lock
 * at the same instant can both succeed; pid files cannot close that race, and it needs a crashed agent plus two
 * simultaneous starts on one dir.
 */
async function acquireLock(
  dir: string,
  lockPath: string,
  nodeName: string,
  log: (msg: string) => void,
): Promise<void> {
  const content = `${process.pid}\n${nodeName}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    const created = await guard(dir, async () => {
      try {
        const fh = await open(lockPath, "wx", 0o600);
        await fh.writeFile(content).finally(() => fh.close());
        return true;
      } catch (err) {
        if (errnoCode(err) === "EEXIST") return false;
        throw err;
      }
    });
    if (created) return;
    const holder = await guard(dir, () => readFile(lockPath, "utf8").catch(() => ""));
    const pid = Number.parseInt(holder.split("\n")[0] ?? "", 10);
    if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new DataDirError(`data dir "${dir}" is in use by another cairn agent (pid ${pid})`, dir);
    }
    const who = Number.isSafeInteger(pid) && pid > 0 ? `pid ${pid}, no longer running` : "no pid";
    log(`data dir "${dir}": taking over a stale lock (${who})`);
    await guard(dir, () => unlink(lockPath).catch(ignoreCode("ENOENT")));
  }
  throw new DataDirError(`data dir "${dir}": lost the race to take over its stale lock; try again`, dir);
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}

/** Removes LOCK if it is still ours (an operator may have removed it, or another agent taken it over). */
async function releaseLock(lockPath: string): Promise<void> {
  const holder = await readFile(lockPath, "utf8").catch(() => "");
  if (holder.split("\n")[0] === String(process.pid)) await unlink(lockPath).catch(() => {});
}

/** A file's text, or null when it does not exist yet. */
async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return null;
    throw err;
  }
}

async function checkFormatVersion(dir: string): Promise<void> {
  const path = join(dir, "format-version");
  const text = await guard(dir, () => readTextOrNull(path));
  if (text === null) {
    await guard(dir, () => writeFileAtomic(path, Buffer.from(`${FORMAT_VERSION}\n`), { mode: 0o600 }));
    return;
  }
  const trimmed = text.trim();
  const version = /^\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (version > FORMAT_VERSION) {
    throw new DataDirError(
      `data dir "${dir}" was written by a newer cairn (format ${version}); this cairn reads format ${FORMAT_VERSION}`,
      dir,
    );
  }
  if (version !== FORMAT_VERSION) {
    throw new DataDirError(`data dir "${dir}" has an unreadable format-version file: "${trimmed}"`, dir);
  }
}

async function loadNodeId(dir: string): Promise<string> {
  const path = join(dir, "node-id");
  const text = await guard(dir, () => readTextOrNull(path));
  if (text === null) {
    const id = randomUUID();
    await guard(dir, () => writeFileAtomic(path, Buffer.from(id), { mode: 0o600 }));
    return id;
  }
  const id = text.trim();
  if (!UUID.test(id)) throw new DataDirError(`data dir "${dir}" has a malformed node-id file: "${id}"`, dir);
  return id.toLowerCase();
}
