/**
 * Reading backups back out of a store, for the commands that list, inspect, decode and restore them: which
 * objects are ours and which is the newest, and a backup fetched into a private temp file. A fetched backup's
 * bytes are checked against the size and SHA-256 recorded when it was written, and an encrypted one is decrypted
 * on the way; the file is there only once every check has passed (the envelope emits chunks before a later one
 * fails, so anything short of a clean end removes the file).
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pipeline as pipelineStreams, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { decryptStream, ENVELOPE_MAGIC, isEncrypted } from "../snapshot/index.js";
import { CairnError } from "../util/errors.js";
import { parseObjectName } from "./naming.js";
import type { BackupStore, StoredObject } from "./store.js";
import { BackupNotFoundError, checkBackupName, verifiedBody } from "./store-checks.js";
import { LATEST } from "./store-url.js";

/** An encrypted backup asked for without a key. */
export class BackupKeyRequiredError extends CairnError {
  readonly code = "backup_key_required";
  override name = "BackupKeyRequiredError";
  constructor(readonly what: string) {
    super(`${what} is an encrypted cairn backup: its key is needed to read it`);
  }
}

/** `latest` of a store that holds no backup of ours. */
export class NoBackupsError extends CairnError {
  readonly code = "backup_none";
  override name = "NoBackupsError";
  constructor(readonly label: string) {
    super(`no backups in ${label}`);
  }
}

/** One of our backups as a store lists it, with what its name says. */
export interface ListedBackup extends StoredObject {
  readonly id: bigint;
  /** When it was taken (from the ID). */
  readonly time: Date;
  /** Whether its name says so (`.snap.enc`). */
  readonly encrypted: boolean;
}

/** HEAD requests at once while filling in metadata a listing lacked. */
const HEADS_AT_ONCE = 8;

/** The store's objects named as ours, newest first, as the listing gives them. */
async function ourObjects(store: BackupStore): Promise<ListedBackup[]> {
  const ours = (await store.list("consul-")).flatMap((obj) => {
    const parsed = parseObjectName(obj.name);
    return parsed === null ? [] : [{ ...obj, ...parsed }];
  });
  return ours.sort((a, b) => (a.id > b.id ? -1 : a.id < b.id ? 1 : 0));
}

/**
 * The store's backups written by a snapshot agent (names that parse), newest first; other objects left out. A
 * listing without the metadata (S3's carries none) is completed by asking for each object's (a few at a time);
 * an object gone meanwhile is left out.
 */
export async function listBackups(store: BackupStore): Promise<ListedBackup[]> {
  const listed = await ourObjects(store);
  const out: (ListedBackup | null)[] = [...listed];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < listed.length; i = next++) {
      const b = listed[i] as ListedBackup;
      if (b.meta !== undefined) continue;
      const head = await store.head(b.name);
      out[i] = head === null ? null : { ...b, ...head };
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEADS_AT_ONCE, listed.length) }, worker));
  return out.filter((b): b is ListedBackup => b !== null);
}

/**
 * The backup `name` names (LATEST: the newest), with its metadata as the store keeps it; throws
 * BackupNotFoundError or NoBackupsError.
 */
export async function findBackup(store: BackupStore, name: string): Promise<ListedBackup> {
  const wanted = name === LATEST ? (await ourObjects(store))[0]?.name : name;
  if (wanted === undefined) throw new NoBackupsError(store.label);
  checkBackupName(wanted);
  const parsed = parseObjectName(wanted);
  const found = await store.head(wanted);
  if (parsed === null || found === null) throw new BackupNotFoundError(store.label, wanted);
  return { ...found, ...parsed };
}

export interface FetchOptions {
  /** The AES-256 key of encrypted backups; null: an encrypted one is refused (BackupKeyRequiredError). */
  readonly key: Uint8Array | null;
  /** Where the temp directory is made [os.tmpdir()]. */
  readonly tmpDir?: string;
  /** Told the stored bytes as they arrive (a progress bar). */
  readonly onBytes?: (bytes: number) => void;
}

/** A plain archive in a file of its own; `remove()` deletes what was made for it (nothing for a file as given). */
export interface PlainArchive {
  readonly path: string;
  /** True when the source was encrypted and this is what it decrypted to. */
  readonly decrypted: boolean;
  remove(): Promise<void>;
}

export interface FetchedBackup extends PlainArchive {
  readonly backup: StoredObject;
  /** True when its bytes were checked against a recorded size and SHA-256 (false: none was recorded). */
  readonly checked: boolean;
}

/**
 * Streams `backup` out of `store` into a new 0600 file in a new private temp directory: checked against its
 * recorded size and SHA-256 when it has them, decrypted when encrypted (by content or by a `.snap.enc` name).
 * Rejects, leaving nothing behind, on a store error, a mismatch, an encrypted backup without a key, or the
 * envelope's error (EnvelopeError: wrong key, truncated, corrupt).
 */
export async function fetchBackup(
  store: BackupStore,
  backup: StoredObject,
  options: FetchOptions,
): Promise<FetchedBackup> {
  const temp = await tempFile(backup.name, options.tmpDir);
  try {
    const body = await store.get(backup.name);
    const stored = backup.meta === undefined ? body : verifiedBody(body, backup.name, backup.meta);
    const onBytes = options.onBytes;
    // The callback only observes: the first error destroys every stream, and writePlain's pipeline sees it.
    const counted = onBytes === undefined ? stored : pipelineStreams(stored, counter(onBytes), () => {});
    const decrypted = await writePlain(counted, temp.path, {
      key: options.key,
      encryptedByName: isEncryptedName(backup.name),
      what: `${store.label}/${backup.name}`,
    });
    return { ...temp, backup, decrypted, checked: backup.meta !== undefined };
  } catch (e) {
    await temp.remove();
    throw e;
  }
}

/**
 * A local file as a plain archive: the file itself unless it is encrypted (by content, or by a `.snap.enc`
 * name), else decrypted into a new 0600 temp file. Rejects as fetchBackup does; fs errors opening `file` as they
 * are.
 */
export async function plainArchiveOf(
  file: string,
  key: Uint8Array,
  options: { readonly tmpDir?: string } = {},
): Promise<PlainArchive> {
  const head = await readHead(file);
  if (!isEncrypted(head) && !isEncryptedName(file)) {
    return { path: file, decrypted: false, remove: async () => {} };
  }
  const temp = await tempFile(basename(file), options.tmpDir);
  try {
    await writePlain(createReadStream(file), temp.path, { key, encryptedByName: true, what: file });
    return { ...temp, decrypted: true };
  } catch (e) {
    await temp.remove();
    throw e;
  }
}

export function isEncryptedName(name: string): boolean {
  return name.endsWith(".snap.enc");
}

/**
 * The first `n` bytes of `source` (fewer if it ends first), and a stream of all of it, those bytes included.
 * Destroying `rest` (or a pipeline failing on it) destroys `source`.
 */
export async function peek(source: Readable, n: number): Promise<{ head: Buffer; rest: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const taken: Buffer[] = [];
  let size = 0;
  while (size < n) {
    const r = await it.next();
    if (r.done === true) break;
    taken.push(r.value);
    size += r.value.length;
  }
  const head = Buffer.concat(taken);
  async function* all(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { head: head.subarray(0, n), rest: Readable.from(all(), { objectMode: false }) };
}

/**
 * Writes the plain archive of `source` into the new file `path` (0600), decrypting it when it is encrypted;
 * returns whether it was. An encrypted source without a key is refused before any byte is written.
 */
async function writePlain(
  source: Readable,
  path: string,
  o: { readonly key: Uint8Array | null; readonly encryptedByName: boolean; readonly what: string },
): Promise<boolean> {
  try {
    const { head, rest } = await peek(source, ENVELOPE_MAGIC.length);
    const encrypted = isEncrypted(head) || o.encryptedByName;
    if (encrypted && o.key === null) throw new BackupKeyRequiredError(o.what);
    const out = createWriteStream(path, { flags: "wx", mode: 0o600 });
    if (encrypted && o.key !== null) await pipeline(rest, decryptStream(o.key), out);
    else await pipeline(rest, out);
    return encrypted;
  } catch (e) {
    // `rest` may never have been read, and then destroying it does not reach the source: a download is ended here.
    source.destroy();
    throw e;
  }
}

/** A new private directory and the path of the plain archive in it, named after the backup. */
async function tempFile(
  name: string,
  tmpDir: string | undefined,
): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpDir ?? tmpdir(), "cairn-backup-"));
  const plain = name.replace(/\.enc$/, "");
  // inspect reads a file named state.bin as a raw state.bin: a plain archive must not be named so.
  const file = plain === "" || plain.toLowerCase() === "state.bin" ? "backup.snap" : plain;
  return { path: join(dir, file), remove: () => rm(dir, { recursive: true, force: true }) };
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(ENVELOPE_MAGIC.length);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function counter(onBytes: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
}
