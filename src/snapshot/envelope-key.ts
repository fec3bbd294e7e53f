/**
 * The key of encrypted backups (snapshot-format.md §9.1): 32 random bytes, kept in a file as one line of
 * base64, and its key id, the first 8 bytes of SHA-256(key), which the envelope's header carries so that a
 * wrong key is named as such before anything is decrypted.
 */
import { createHash, randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { assert } from "../util/assert.js";
import { errorText } from "../util/errors.js";
import { EnvelopeError } from "./errors.js";

/** AES-256: a key is 32 bytes. */
export const KEY_BYTES = 32;
export const KEY_ID_BYTES = 8;
/** A key file is 45 bytes (44 of base64 and a newline); anything much larger is the wrong file. */
const KEY_FILE_BYTES_MAX = 4096;
const HOW_TO_MAKE_ONE = "one line, the base64 of 32 random bytes (make one with: openssl rand -base64 32)";

/** A fresh random key (tests, operators' tooling). */
export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function assertKey(key: Uint8Array): void {
  assert(key.length === KEY_BYTES, `an encryption key is ${KEY_BYTES} bytes, not ${key.length}`);
}

/** The first 8 bytes of SHA-256(key): names a key without revealing it. */
export function keyIdBytes(key: Uint8Array): Buffer {
  assertKey(key);
  return createHash("sha256").update(key).digest().subarray(0, KEY_ID_BYTES);
}

/** The key id in lowercase hex (16 digits), as logs and error messages show it. */
export function keyId(key: Uint8Array): string {
  return keyIdBytes(key).toString("hex");
}

export interface KeyFile {
  readonly key: Buffer;
  /** Set when the file's mode lets users other than its owner read or write it; the key is usable anyway. */
  readonly warning: string | null;
}

/**
 * Reads a key file: one line of standard base64 (padding included) of exactly 32 bytes, surrounding
 * whitespace allowed. Missing, unreadable, not base64 or the wrong length: an EnvelopeError `key_file` saying
 * which and how to make a good one. A mode wider than 0600 is not an error but a warning to log (as ssh warns
 * on private keys).
 */
export async function readKeyFile(path: string): Promise<KeyFile> {
  const { bytes, mode } = await readSmallFile(path);
  const text = bytes.toString("utf8").trim();
  if (text === "")
    throw new EnvelopeError(
      "key_file",
      `encryption key file "${path}" is empty: it must hold ${HOW_TO_MAKE_ONE}`,
    );
  const key = Buffer.from(text, "base64");
  // Node's decoder skips what is not base64; the round trip refuses it, and non-canonical padding bits too.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || key.toString("base64") !== text)
    throw new EnvelopeError(
      "key_file",
      `encryption key file "${path}" is not base64: it must hold ${HOW_TO_MAKE_ONE}`,
    );
  if (key.length !== KEY_BYTES)
    throw new EnvelopeError(
      "key_file",
      `encryption key file "${path}" holds ${key.length} bytes, not ${KEY_BYTES}: ` +
        `it must hold ${HOW_TO_MAKE_ONE}`,
    );
  // Windows has no such mode bits: Node reports 0666 or 0444 whatever the ACLs say.
  const wide = process.platform !== "win32" && (mode & 0o077) !== 0;
  const warning = wide
    ? `encryption key file "${path}" has mode 0${(mode & 0o777).toString(8)}: users other than its owner ` +
      `may read it; restrict it with: chmod 600 "${path}"`
    : null;
  return { key, warning };
}

/**
 * The bytes and mode of a regular file no larger than KEY_FILE_BYTES_MAX, stat and read through one handle.
 */
async function readSmallFile(path: string): Promise<{ bytes: Buffer; mode: number }> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, "r");
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    throw new EnvelopeError(
      "key_file",
      missing
        ? `encryption key file "${path}" does not exist`
        : `cannot open encryption key file: ${errorText(e)}`,
      { cause: e },
    );
  }
  try {
    const st = await file.stat();
    if (!st.isFile())
      throw new EnvelopeError("key_file", `encryption key file "${path}" is not a regular file`);
    if (st.size > KEY_FILE_BYTES_MAX)
      throw new EnvelopeError(
        "key_file",
        `encryption key file "${path}" is ${st.size} bytes, too large for a key file: ` +
          `it must hold ${HOW_TO_MAKE_ONE}`,
      );
    const bytes = await file.readFile();
    return { bytes, mode: st.mode };
  } catch (e) {
    if (e instanceof EnvelopeError) throw e;
    throw new EnvelopeError("key_file", `cannot read encryption key file "${path}": ${errorText(e)}`, {
      cause: e,
    });
  } finally {
    await file.close();
  }
}
