/**
 * The FILE of `snapshot restore|inspect|decode`, which may also be a backup where it is stored: a destination URL
 * (src/snapshot-agent/store-url.ts) naming one backup, or `latest`. A backup in a store is streamed to a private
 * temp file (0600), checked against its recorded size and SHA-256, decrypted when encrypted, and the command then
 * reads that file as it reads any. A plain path that exists keeps its meaning (a file, read as before); one that
 * does not exist is a store only when it ends in `latest` (`/backups/latest`).
 *
 * `-decrypt-key-file`: an encrypted backup (`.snap.enc`, or the envelope's first bytes) is decrypted into the
 * temp file first; without the flag, an encrypted backup in a store is refused saying to pass it (a file as given
 * reaches the archive reader, which says the same).
 */
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { goFileError } from "../../client/index.js";
import { byteSize, EnvelopeError, readKeyFile } from "../../snapshot/index.js";
import { flag } from "../../util/flags.js";
import { type CommandIO, err, errorText } from "../command.js";
import { progress } from "../progress.js";

export const DECRYPT_KEY_FILE = "decrypt-key-file";

export const decryptKeyFlag = {
  [DECRYPT_KEY_FILE]: flag.string(
    "",
    "Decrypts an encrypted cairn backup (.snap.enc) with the key in this file (one line of base64, 32 bytes: " +
      "the snapshot agent's encryption_key_file) before it is used.",
  ),
} as const;

/** Where FILE may also point, for the commands' help. */
export const SOURCE_HELP = `FILE may also be a backup where the snapshot agent stores it: a URL (file:///dir, s3://bucket/prefix,
  azure://account/container/prefix, gs://bucket/prefix, or a directory) ending in a backup's name
  (consul-<id>.snap[.enc]) or in "latest" for the newest. It is downloaded to a private temp file, checked
  against its recorded SHA-256, and decrypted with -decrypt-key-file when it is encrypted.`;

/** A plain archive to read; `release()` removes what was made for it. */
export interface SnapshotSource {
  readonly path: string;
  release(): Promise<void>;
}

const AS_GIVEN = async (): Promise<void> => {};

/**
 * The snapshot agent's store URLs and backup reading, imported when a command opens its FILE rather than at
 * start-up: `snapshot save`, which shares this module's flags and help, needs none of it.
 */
async function storeReading() {
  const [backups, urls] = await Promise.all([
    import("../../snapshot-agent/backup-read.js"),
    import("../../snapshot-agent/store-url.js"),
  ]);
  return { ...backups, ...urls };
}
type StoreReading = Awaited<ReturnType<typeof storeReading>>;

/** The key in `file`, its mode warning printed; null with the error printed. */
export async function loadKey(file: string, io: CommandIO): Promise<Uint8Array | null> {
  try {
    const { key, warning } = await readKeyFile(file);
    if (warning !== null) err(io, `Warning: ${warning}`);
    return key;
  } catch (e) {
    err(io, `Error reading decryption key: ${errorText(e)}`);
    return null;
  }
}

/** Whether `arg` is a plain path read as a file (whatever happens next: a missing one gets Consul's error). */
async function isPlainFile(arg: string, { isStoreUrl, LATEST }: StoreReading): Promise<boolean> {
  if (isStoreUrl(arg)) return false;
  if (basename(arg) !== LATEST) return true;
  return stat(arg).then(
    () => true,
    () => false,
  );
}

/** The line for a failure to fetch or decrypt a backup. */
function fetchErrorLine(e: unknown, { BackupKeyRequiredError }: StoreReading): string {
  if (e instanceof BackupKeyRequiredError) {
    return `Error reading backup: ${e.what} is an encrypted cairn backup: pass -${DECRYPT_KEY_FILE} FILE with its key`;
  }
  if (e instanceof EnvelopeError) return `Error decrypting backup: ${e.message}`;
  return `Error fetching backup: ${errorText(e)}`;
}

/**
 * FILE as a plain archive on disk, or null once the error is printed. For a file as given without a key: the
 * file itself, untouched (the command reports a missing or unreadable one as it always has).
 */
export async function openSnapshotSource(
  arg: string,
  keyFile: string,
  io: CommandIO,
): Promise<SnapshotSource | null> {
  const key = keyFile === "" ? null : await loadKey(keyFile, io);
  if (keyFile !== "" && key === null) return null;
  const reading = await storeReading();
  const { plainArchiveOf, storeForReading, LATEST, findBackup, fetchBackup } = reading;
  if (await isPlainFile(arg, reading)) {
    if (key === null) return { path: arg, release: AS_GIVEN };
    const exists = await stat(arg).then(
      () => true,
      () => false,
    );
    if (!exists) return { path: arg, release: AS_GIVEN };
    try {
      const plain = await plainArchiveOf(arg, key);
      return { path: plain.path, release: () => plain.remove() };
    } catch (e) {
      err(
        io,
        e instanceof EnvelopeError
          ? fetchErrorLine(e, reading)
          : `Error opening snapshot file: ${goFileError(arg, e)}`,
      );
      return null;
    }
  }
  let found: Awaited<ReturnType<typeof storeForReading>>;
  try {
    found = await storeForReading(arg, io.env);
  } catch (e) {
    err(io, `Error opening backup store: ${errorText(e)}`);
    return null;
  }
  const { store, name } = found;
  if (name === null) {
    err(
      io,
      `Error opening backup store: ${arg} names a store, not a backup: end it in "${LATEST}" or in a backup's ` +
        `name (cairn snapshot list ${arg})`,
    );
    return null;
  }
  try {
    const backup = await findBackup(store, name);
    const meter = progress(io.stderr, "Fetching backup", backup.size);
    let fetched: Awaited<ReturnType<typeof fetchBackup>>;
    try {
      fetched = await fetchBackup(store, backup, { key, onBytes: (n) => meter.add(n) });
    } finally {
      meter.done();
    }
    const unchecked = fetched.checked ? "" : " (no recorded SHA-256 to check it against)";
    err(io, `Fetched ${backup.name} (${byteSize(backup.size)}) from ${store.label}${unchecked}`);
    return { path: fetched.path, release: () => fetched.remove() };
  } catch (e) {
    err(io, fetchErrorLine(e, reading));
    return null;
  }
}
