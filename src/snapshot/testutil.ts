/**
 * Test helpers (not exported from index.ts): where Consul's fixtures are, temp dirs, small stream utilities.
 *
 * Consul's MPL-2.0 fixtures are copied unchanged into test/fixtures/consul/ (provenance and licence in its
 * README.md). The optional ones are not in the repository (decode/: Consul's BUSL-1.1 test data; realworld/:
 * an archive without a licence): they are looked for in $CAIRN_EXTRA_FIXTURES, else in shared/fixtures/consul/
 * beside the repository, and a test that needs an absent one is skipped with the reason.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { stateBinBytes } from "./state-bin.js";

/** The compiled helper runs from dist/src/snapshot/, three levels below the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Consul's fixtures that the repository carries. */
export const FIXTURES = join(REPO_ROOT, "test", "fixtures", "consul");
/** The top folders of fixtures/consul/ that are optional, not in the repository. */
const OPTIONAL = ["decode", "realworld"];

/** Where the optional fixtures are looked for: a directory laid out like fixtures/consul/. */
export function extraFixturesDir(): string {
  const env = process.env.CAIRN_EXTRA_FIXTURES;
  return env !== undefined && env !== ""
    ? resolve(env)
    : join(REPO_ROOT, "..", "shared", "fixtures", "consul");
}

const isOptional = (name: string): boolean => OPTIONAL.includes(name.split("/")[0] ?? "");

/** A path under fixtures/consul/, e.g. ("inspect", "backup.snap") or ("decode/all.snap"); optional ones too. */
export function fixture(...parts: string[]): string {
  const rel = parts.flatMap((p) => p.split("/"));
  return join(isOptional(rel.join("/")) ? extraFixturesDir() : FIXTURES, ...rel);
}

/**
 * For node:test's `skip` option: false when every named fixture is there, else the reason, naming the first
 * absent one and how to provide it. A fixture the repository carries is never a reason to skip.
 */
export function skipUnlessFixtures(...names: string[]): string | false {
  for (const name of names) {
    if (!isOptional(name) || existsSync(fixture(name))) continue;
    return (
      `optional fixture ${name} not found in ${extraFixturesDir()} (it is not in the repository: ` +
      `test/fixtures/consul/README.md): set CAIRN_EXTRA_FIXTURES to a directory holding ${name}, ` +
      "or place shared/fixtures/consul/ beside the repository"
    );
  }
  return false;
}

/** Runs `fn` with a fresh temp directory that is removed afterwards, pass or fail. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-snapshot-test-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A Writable that keeps what it is given (tests only: archives here are small). */
export class MemorySink extends Writable {
  private readonly parts: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.parts.push(chunk);
    done();
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Splits bytes into chunks of `size`, to exercise chunk boundaries. */
export function* chunks(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, Math.min(bytes.length, i + size));
}

/** The members of a plain tar (tests only), by a minimal parse of USTAR headers. */
export function tarMembers(tar: Uint8Array): { name: string; header: Uint8Array; data: Uint8Array }[] {
  const out: { name: string; header: Uint8Array; data: Uint8Array }[] = [];
  let off = 0;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = Buffer.from(header.subarray(0, 100)).toString("latin1").replace(/\0.*$/s, "");
    const size = Number.parseInt(Buffer.from(header.subarray(124, 136)).toString("latin1"), 8);
    out.push({ name, header, data: tar.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** The state.bin of a small archive fixture, by gunzip + tar parse in memory (tests only). */
export function stateBinOf(archive: Uint8Array): Uint8Array {
  const member = tarMembers(gunzipSync(archive)).find((m) => m.name === "state.bin");
  if (member === undefined) throw new Error("fixture has no state.bin");
  return member.data;
}

/** A state.bin of `n` KV records `k/0`..: record i's value is `value(i)` (LastIndex 1). */
export function kvStateBin(n: number, value: (i: number) => Uint8Array): Promise<Uint8Array> {
  return stateBinBytes(
    { LastIndex: 1 },
    Array.from({ length: n }, (_, i) => ({
      kind: "KVS" as const,
      type: 2 as const,
      body: {
        CreateIndex: i,
        Flags: 0n,
        Key: `k/${i}`,
        LockIndex: 0,
        ModifyIndex: i,
        Session: "",
        Value: value(i),
      },
    })),
  );
}
