/**
 * Disk faults for the torture, loaded into an agent with `node --import <this file>` (servers.ts does, for every
 * agent of a torture run with the `disk` fault; nothing else loads it, and without its env vars it does nothing).
 *
 * It wraps the file handles `node:fs/promises` opens, before the agent's modules bind `open`:
 * - fsync errors: while the file named by CAIRN_TORTURE_DISK_FILE says `fsync-error` (read at start and on
 *   SIGUSR2), every `datasync()`/`sync()` fails with EIO instead of syncing, as a failing disk's would;
 * - lost unsynced writes: after each successful sync of a WAL segment (`*.wal`) it appends the segment's path
 *   and the size it had when the sync was asked to CAIRN_TORTURE_DISK_JOURNAL. After a kill -9, the torture
 *   cuts each segment back to a length between that size and its current one (faults.ts `losePowerOn`): the
 *   bytes no sync covered are lost or torn, as a power cut leaves them. The page cache survives a kill -9, so
 *   the journal needs no sync of its own.
 */
import { appendFileSync, readFileSync } from "node:fs";
import fsp, { type FileHandle } from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { resolve } from "node:path";

const control = process.env.CAIRN_TORTURE_DISK_FILE;
const journal = process.env.CAIRN_TORTURE_DISK_JOURNAL;
if (control !== undefined && control !== "" && journal !== undefined && journal !== "") {
  let failSyncs = false;
  const load = (): void => {
    try {
      failSyncs = readFileSync(control, "utf8").trim() === "fsync-error";
    } catch {
      failSyncs = false; // no fault armed yet
    }
  };
  load();
  process.on("SIGUSR2", load);

  const eio = (path: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`EIO: i/o error, fsync '${path}' (torture disk fault)`), {
      code: "EIO",
      errno: -5,
      syscall: "fsync",
      path,
    });

  const wrap = (fh: FileHandle, path: string): FileHandle => {
    const segment = path.endsWith(".wal");
    for (const method of ["datasync", "sync"] as const) {
      const real = fh[method].bind(fh);
      fh[method] = async (): Promise<void> => {
        if (failSyncs) throw eio(path);
        const size = segment ? (await fh.stat()).size : 0;
        await real();
        if (segment) appendFileSync(journal, `${size} ${path}\n`);
      };
    }
    return fh;
  };

  const realOpen = fsp.open;
  fsp.open = (async (...args: Parameters<typeof realOpen>): Promise<FileHandle> => {
    const fh = await realOpen(...args);
    return wrap(fh, resolve(String(args[0])));
  }) as typeof realOpen;
  // ES module importers of node:fs/promises see the wrapped open from here on.
  syncBuiltinESMExports();
}
