/**
 * A stored backup checked for real, in one read of its bytes: their size and SHA-256 against what was recorded
 * when it was written, and, as they go by, the archive itself verified as a restore would (decrypted first when
 * encrypted and a key is given). Nothing is written to disk.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import { PassThrough, pipeline, type Readable } from "node:stream";
import { decryptStream, ENVELOPE_MAGIC, isEncrypted, verifyArchive } from "../snapshot/index.js";
import { errorText } from "../util/errors.js";
import { isEncryptedName, peek } from "./backup-read.js";
import type { BackupStore, StoredObject } from "./store.js";

/**
 * `ok`: every check that could be made passed (at least one was made); `mismatch`: the bytes are not the recorded
 * size or SHA-256; `failed`: the object could not be read, or its archive does not decrypt or verify;
 * `unchecked`: nothing could be checked (no recorded metadata, and encrypted without a key).
 */
export type CheckStatus = "ok" | "mismatch" | "failed" | "unchecked";

export interface BackupCheck {
  readonly status: CheckStatus;
  /** What failed, in words ([] when ok or unchecked). */
  readonly problems: readonly string[];
  /** Bytes read and their SHA-256 (lowercase hex), as far as the read got. */
  readonly size: number;
  readonly sha256: string;
}

/**
 * The archive's verification, fed chunk by chunk. A failure ends it (later chunks are dropped) and is kept;
 * the reader of the backup carries on hashing.
 */
class ArchiveProbe {
  private readonly input = new PassThrough();
  /** null once verified; the problem otherwise. Never rejects. */
  readonly result: Promise<string | null>;
  private over = false;

  constructor(key: Uint8Array | null) {
    // The callback only observes: verifyArchive reads the last stream and sees the first error of any.
    const plain: Readable = key === null ? this.input : pipeline(this.input, decryptStream(key), () => {});
    this.result = verifyArchive(plain).then(
      () => null,
      (e: unknown) => {
        this.over = true;
        this.input.destroy();
        return errorText(e);
      },
    );
  }

  async feed(chunk: Buffer): Promise<void> {
    if (this.over) return;
    if (!this.input.write(chunk)) await Promise.race([once(this.input, "drain"), this.result]);
  }

  end(): Promise<string | null> {
    if (!this.over) this.input.end();
    return this.result;
  }

  /** Stops it after a read error (its result is then not used). */
  abandon(): void {
    this.over = true;
    this.input.destroy();
  }
}

/** Reads `backup` once and checks it (CheckStatus); never rejects. */
export async function checkStoredBackup(
  store: BackupStore,
  backup: StoredObject,
  key: Uint8Array | null,
): Promise<BackupCheck> {
  const hash = createHash("sha256");
  let size = 0;
  let probe: ArchiveProbe | null = null;
  let archiveProblem: string | null = null;
  try {
    const { head, rest } = await peek(await store.get(backup.name), ENVELOPE_MAGIC.length);
    const encrypted = isEncrypted(head) || isEncryptedName(backup.name);
    if (!encrypted || key !== null) probe = new ArchiveProbe(encrypted ? key : null);
    for await (const chunk of rest) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      await probe?.feed(chunk as Buffer);
    }
    archiveProblem = probe === null ? null : await probe.end();
  } catch (e) {
    probe?.abandon();
    return { status: "failed", problems: [`read: ${errorText(e)}`], size, sha256: hash.digest("hex") };
  }
  const sha256 = hash.digest("hex");
  const problems: string[] = [];
  const recorded = backup.meta;
  const matches = recorded === undefined || (recorded.size === size && recorded.sha256 === sha256);
  if (!matches) {
    problems.push(
      `reads ${size} bytes with sha256 ${sha256}; recorded: ${recorded.size} bytes with sha256 ${recorded.sha256}`,
    );
  }
  if (archiveProblem !== null) problems.push(archiveProblem);
  const status: CheckStatus = !matches
    ? "mismatch"
    : archiveProblem !== null
      ? "failed"
      : recorded === undefined && probe === null
        ? "unchecked"
        : "ok";
  return { status, problems, size, sha256 };
}
