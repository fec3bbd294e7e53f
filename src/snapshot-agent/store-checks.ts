/**
 * What every backup store checks and how every store writes, whatever its backend: the names it accepts, the
 * metadata it records, that a body is exactly what its metadata says (size and SHA-256), so a store never records
 * metadata that lies about the bytes beside it, and that a put owns its body. The errors a store raises, for
 * these, for a missing object and for a failing backend, are typed here once.
 */
import { createHash } from "node:crypto";
import { pipeline, Readable, Transform, type TransformCallback } from "node:stream";
import { CairnError, errorText } from "../util/errors.js";
import type { BackupMeta, StoredObject } from "./store.js";

/** A bad name or bad metadata handed to a store: refused before anything is written. */
export class BackupInputError extends CairnError {
  readonly code = "backup_input";
  override name = "BackupInputError";
}

/** A store configured in a way it cannot work with (a missing bucket, half of a key pair…). */
export class BackupStoreConfigError extends CairnError {
  readonly code = "backup_store_config";
  override name = "BackupStoreConfigError";
}

/** `get` of a name the store does not hold. */
export class BackupNotFoundError extends CairnError {
  readonly code = "backup_not_found";
  override name = "BackupNotFoundError";
  constructor(
    readonly label: string,
    readonly object: string,
  ) {
    super(`no backup named "${object}" in ${label}`);
  }
}

/** The store failed to do what was asked (a refused or cut-off upload, an unreachable server…). */
export class BackupStoreError extends CairnError {
  readonly code = "backup_store";
  override name = "BackupStoreError";
}

/** A body whose bytes are not what its metadata says: the put fails and stores nothing. */
export class BackupBodyMismatchError extends CairnError {
  readonly code = "backup_body_mismatch";
  override name = "BackupBodyMismatchError";
}

/** Longest name: a file name on the usual file systems (255 bytes), and well inside object stores' 1024-byte keys. */
export const NAME_BYTES_MAX = 255;
/**
 * Names are plain file names of a portable set of characters, the same on disk and in every object store. No
 * slash: the agent writes only `consul-<id>.snap[.enc]` and S3's static name, so a store's objects are the files
 * of one directory or the keys one level below a prefix, and a name can never reach outside them.
 */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+=@,-]*$/;
/** What a `list` prefix may hold: the characters of names, so it can only select names. */
const NAME_START_RE = /^[A-Za-z0-9._+=@,-]*$/;
/** The local store's sidecar of metadata; refused as an object name in every store, so stores stay alike. */
export const META_SUFFIX = ".meta.json";
/** What the local store's temp files carry in their names (`<name>.tmp-<random>`). */
export const TEMP_MARK = ".tmp-";

/** The order of `list`: by name, byte for byte (names are ASCII), as S3 lists keys. */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Why `name` cannot name a backup, or "" when it can. */
export function backupNameProblem(name: string): string {
  if (name === "") return "a backup name must not be empty";
  if (Buffer.byteLength(name) > NAME_BYTES_MAX) return `a backup name is at most ${NAME_BYTES_MAX} bytes`;
  if (!NAME_RE.test(name)) {
    return "a backup name is letters, digits and . _ + = @ , - (no slash), and starts with a letter or digit";
  }
  if (name.endsWith(META_SUFFIX)) return `a backup name must not end with "${META_SUFFIX}"`;
  if (name.includes(TEMP_MARK)) return `a backup name must not contain "${TEMP_MARK}"`;
  return "";
}

export function checkBackupName(name: string): void {
  const problem = backupNameProblem(name);
  if (problem !== "") throw new BackupInputError(`invalid backup name ${JSON.stringify(name)}: ${problem}`);
}

/** Refuses a `list` prefix no backup name could start with (a slash, a control character, too long). */
export function checkListPrefix(startsWith: string): void {
  if (Buffer.byteLength(startsWith) > NAME_BYTES_MAX || !NAME_START_RE.test(startsWith)) {
    throw new BackupInputError(
      `invalid list prefix ${JSON.stringify(startsWith)}: backup names are letters, digits and . _ + = @ , - (no slash)`,
    );
  }
}

const SHA256_RE = /^[0-9a-f]{64}$/;
/** Printable ASCII without spaces: the version travels in HTTP headers (S3 metadata) as is. */
const VERSION_RE = /^[\x21-\x7e]{1,64}$/;

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/** Why `meta` cannot be recorded, or "" when it can. */
export function backupMetaProblem(meta: BackupMeta): string {
  if (!isCount(meta.index)) return `index ${String(meta.index)} is not a non-negative integer`;
  if (!isCount(meta.term)) return `term ${String(meta.term)} is not a non-negative integer`;
  if (!isCount(meta.size)) return `size ${String(meta.size)} is not a non-negative integer`;
  if (typeof meta.sha256 !== "string" || !SHA256_RE.test(meta.sha256)) {
    return "sha256 is not 64 lowercase hex digits";
  }
  if (typeof meta.version !== "string" || !VERSION_RE.test(meta.version)) {
    return "version is not 1 to 64 printable ASCII characters without spaces";
  }
  return "";
}

export function checkBackupMeta(meta: BackupMeta): void {
  const problem = backupMetaProblem(meta);
  if (problem !== "") throw new BackupInputError(`invalid backup metadata: ${problem}`);
}

/** A count as a store's string field holds it: decimal digits, no sign, no leading zero. */
const DECIMAL_RE = /^(0|[1-9][0-9]{0,15})$/;

/**
 * Reads metadata back from what a store kept (the local sidecar's JSON numbers, or the decimal strings of object
 * metadata): null unless it is whole and well formed, as for an object cairn did not write.
 */
export function parseBackupMeta(fields: Readonly<Record<string, unknown>>): BackupMeta | null {
  const asNumber = (v: unknown): number =>
    typeof v === "number" ? v : typeof v === "string" && DECIMAL_RE.test(v) ? Number(v) : Number.NaN;
  const meta: BackupMeta = {
    index: asNumber(fields.index),
    term: asNumber(fields.term),
    size: asNumber(fields.size),
    sha256: typeof fields.sha256 === "string" ? fields.sha256 : "",
    version: typeof fields.version === "string" ? fields.version : "",
  };
  return backupMetaProblem(meta) === "" ? meta : null;
}

/**
 * Passes bytes through while counting and hashing them; fails as soon as there are more than `meta.size`, and at
 * the end unless the size and SHA-256 are exactly the metadata's. The failure comes before the stream ends, so a
 * store that commits only at the end (rename, multipart completion) never commits a body that does not match.
 */
class MetaVerifier extends Transform {
  private readonly hash = createHash("sha256");
  private bytes = 0;

  constructor(
    private readonly objectName: string,
    private readonly meta: BackupMeta,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.meta.size) {
      done(this.mismatch(`is more than the ${this.meta.size} bytes its metadata says`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.bytes !== this.meta.size) {
      done(this.mismatch(`is ${this.bytes} bytes, its metadata says ${this.meta.size}`));
      return;
    }
    const sha256 = this.hash.digest("hex");
    if (sha256 !== this.meta.sha256) {
      done(this.mismatch(`has sha256 ${sha256}, its metadata says ${this.meta.sha256}`));
      return;
    }
    done();
  }

  private mismatch(what: string): BackupBodyMismatchError {
    return new BackupBodyMismatchError(`the body of backup "${this.objectName}" ${what}`);
  }
}

/**
 * `body` as it must be stored: the same bytes, failing (see MetaVerifier) unless they match `meta`. An error of
 * `body` itself comes out of the returned stream too; destroying the returned stream destroys `body`.
 */
export function verifiedBody(body: Readable, name: string, meta: BackupMeta): Readable {
  // pipeline's callback only observes: every stream in it is destroyed with the first error, which the returned
  // stream's reader sees.
  return pipeline(body, new MetaVerifier(name, meta), () => {});
}

/**
 * Runs `put`, which owns `body`: when it fails (a refused name, a failed upload), the body is destroyed too, so
 * whatever it reads from (a file, a socket) is released by the store, not left to every caller.
 */
export async function owningBody(body: Readable, put: () => Promise<void>): Promise<void> {
  try {
    await put();
  } catch (e) {
    body.destroy();
    throw e;
  }
}

/**
 * `e`, a failure of a store's backend while doing `op` on `name`, as a BackupStoreError that says where (`text`
 * describes `e`, by default its message). cairn's own typed errors (a refused name, a missing object, a bound
 * passed) already say what happened and pass as they are.
 */
export function storeFailure(
  label: string,
  op: string,
  name: string,
  e: unknown,
  text = errorText(e),
): Error {
  if (e instanceof CairnError) return e;
  return new BackupStoreError(`${op} of ${JSON.stringify(name)} in ${label} failed: ${text}`, { cause: e });
}

/**
 * The put of every store: checks `name` and `meta` (BackupInputError, before anything is written), hands `upload`
 * the body as it must be stored (`verifiedBody`), and owns the body (`owningBody`). When the put fails, the body's
 * own failure (its error, or a BackupBodyMismatchError) is the error, since what the upload reports afterwards is
 * only its consequence; any other failure of `upload` becomes a BackupStoreError (`storeFailure`). `upload` must
 * leave no object under `name` when it fails, and keep the one it would have replaced.
 */
export function putVerified(
  label: string,
  name: string,
  body: Readable,
  meta: BackupMeta,
  upload: (source: Readable) => Promise<void>,
): Promise<void> {
  return owningBody(body, async () => {
    checkBackupName(name);
    checkBackupMeta(meta);
    const verified = verifiedBody(body, name, meta);
    // An upload that stops reading (a request failed) destroys `source`, and that abort is thrown in here too:
    // it comes once `source` is already destroyed, and is no error of the body.
    let bodyError: unknown;
    let source: Readable | undefined;
    source = Readable.from(
      (async function* () {
        try {
          yield* verified;
        } catch (e) {
          if (source?.destroyed === false) bodyError = e;
          throw e;
        }
      })(),
      { objectMode: false },
    );
    try {
      await upload(source);
    } catch (e) {
      source.destroy();
      verified.destroy();
      if (bodyError !== undefined) throw bodyError;
      throw storeFailure(label, "put", name, e);
    }
  });
}

/**
 * An object as `head` and `list` give it (an unknown or unreadable time as the epoch). Metadata that does not even agree on the size was not written with these
 * bytes (an edited sidecar, another program's fields): it is not trusted, and the object has none.
 */
export function storedObject(
  name: string,
  size: number,
  modified: Date | undefined,
  meta: BackupMeta | null,
): StoredObject {
  const when = modified !== undefined && !Number.isNaN(modified.getTime()) ? modified : new Date(0);
  const base = { name, size, modified: when };
  return meta !== null && meta.size === size ? { ...base, meta } : base;
}
