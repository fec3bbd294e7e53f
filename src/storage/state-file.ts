/**
 * Small fixed-layout state files (the hard state, the WAL's snapshot boundary): a few u64 fields under a magic
 * and a checksum, replaced atomically. Layout (little-endian):
 *   [4 bytes magic][u32 format version = 1][u64 field]...[u32 CRC32C of everything before it]
 * Binary rather than JSON so that the length alone tells a torn or foreign file from a good one, and the checksum
 * catches a flipped bit that would otherwise make a node forget its vote.
 */
import { readFile } from "node:fs/promises";
import { assert } from "../util/assert.js";
import { writeFileAtomic } from "./atomic-file.js";
import { crc32c } from "./crc32c.js";
import { CorruptStateError } from "./errors.js";

const VERSION = 1;
const TWO_32 = 0x1_0000_0000;

export function encodeStateFile(magic: string, fields: readonly number[]): Buffer {
  assert(magic.length === 4, `state file magic must be 4 ASCII bytes, got "${magic}"`);
  const buf = Buffer.alloc(8 + fields.length * 8 + 4);
  buf.write(magic, 0, "latin1");
  buf.writeUInt32LE(VERSION, 4);
  fields.forEach((v, i) => {
    assert(Number.isSafeInteger(v) && v >= 0, `state file field ${i} must be a safe u64, got ${v}`);
    buf.writeUInt32LE(v % TWO_32, 8 + i * 8);
    buf.writeUInt32LE(Math.floor(v / TWO_32), 12 + i * 8);
  });
  buf.writeUInt32LE(crc32c(buf.subarray(0, buf.length - 4)), buf.length - 4);
  return buf;
}

/** Decodes a state file of exactly `fieldCount` fields; throws CorruptStateError naming `path` otherwise. */
export function decodeStateFile(buf: Buffer, magic: string, fieldCount: number, path: string): number[] {
  const expectedBytes = 8 + fieldCount * 8 + 4;
  if (buf.length !== expectedBytes) {
    throw new CorruptStateError(
      `state file is ${buf.length} bytes where ${expectedBytes} were expected`,
      path,
    );
  }
  if (buf.toString("latin1", 0, 4) !== magic)
    throw new CorruptStateError(`state file lacks magic "${magic}"`, path);
  if (crc32c(buf.subarray(0, buf.length - 4)) !== buf.readUInt32LE(buf.length - 4)) {
    throw new CorruptStateError("state file checksum mismatch", path);
  }
  const version = buf.readUInt32LE(4);
  if (version !== VERSION) throw new CorruptStateError(`state file has unknown version ${version}`, path);
  const fields: number[] = [];
  for (let i = 0; i < fieldCount; i++) {
    const hi = buf.readUInt32LE(12 + i * 8);
    if (hi >= 0x20_0000) throw new CorruptStateError(`state file field ${i} exceeds 2^53`, path);
    fields.push(hi * TWO_32 + buf.readUInt32LE(8 + i * 8));
  }
  return fields;
}

/** Reads a state file, or returns null when it does not exist yet (a fresh data dir). */
export async function readStateFile(
  path: string,
  magic: string,
  fieldCount: number,
): Promise<number[] | null> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  return decodeStateFile(buf, magic, fieldCount, path);
}

export async function writeStateFile(path: string, magic: string, fields: readonly number[]): Promise<void> {
  await writeFileAtomic(path, encodeStateFile(magic, fields), { mode: 0o600 });
}
