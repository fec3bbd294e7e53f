/**
 * A fuzzer for the archive reader: mutants of valid archives (Consul's fixtures and archives written here from
 * random KV records) go to `readArchive`, and each must end in a read whose state.bin equals the one it should
 * (the original's, unless the mutation meant to change it and fixed the hashes), or a typed SnapshotError with
 * a message. Never another exception, a hang, or a file left in the temp dir.
 *
 * Not exported from index.ts: a tool for `npm run fuzz` and the tests, not part of the codec. The fast-check
 * driver (arbitraries, fuzzReader) is in bench/fuzz.ts, because src/snapshot imports no package but msgpack.
 * Mutations are plain data, so a failure prints its seed and a shrunk, readable mutation.
 *
 * Its parts: fuzz-seed.ts takes valid archives apart (SeedArchive), fuzz-mutate.ts builds mutants of them;
 * this file runs one mutant through the reader and judges how the read ended (checkMutant, the oracle).
 */
import { readdir } from "node:fs/promises";
import { readArchive } from "./archive-read.js";
import { SnapshotError } from "./errors.js";
import type { Mutant } from "./fuzz-mutate.js";

// The fuzzer's parts, re-exported so its users (bench/fuzz.ts, fuzz.test.ts) import one module.
export {
  buildMutant,
  type Flip,
  FUZZ_META_BYTES_MAX,
  type Layer,
  type Mutant,
  type Mutation,
  type SumsOp,
  type TarField,
} from "./fuzz-mutate.js";
export { generateSeed, prepareSeed, type Region, type SeedArchive, type TarMember } from "./fuzz-seed.js";

/** How a read ended: accepted, or refused with a SnapshotError code. */
export type Outcome =
  | { readonly accepted: true }
  | { readonly accepted: false; readonly code: string; readonly message: string };

/** How the reader is fed: chunks of `size` (1-byte ones cross every boundary of a small mutant), also cut at
 * `cuts` (offsets modulo the length, counted from the end: the gzip trailer and what follows it matter most). */
export interface Feed {
  readonly size: number;
  readonly cuts: readonly number[];
}

/**
 * At most this many chunks per read: each chunk is a zlib call on the thread pool, and 4096 of them made a
 * read of a 35 KB fixture cost ~100 ms. The `cuts` still put a boundary anywhere.
 */
const CHUNKS_MAX = 256;

function* chunked(bytes: Uint8Array, feed: Feed): Generator<Uint8Array> {
  const step = Math.max(feed.size, Math.ceil(bytes.length / CHUNKS_MAX));
  const cuts = new Set(feed.cuts.map((c) => bytes.length - (c % (bytes.length + 1))));
  for (let i = step; i < bytes.length; i += step) cuts.add(i);
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= at || cut >= bytes.length) continue;
    yield bytes.subarray(at, cut);
    at = cut;
  }
  if (at < bytes.length) yield bytes.subarray(at);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (hang)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Feeds one mutant to readArchive in `tmpDir` (which must be empty) and checks the contract; throws an Error
 * naming the mutant on any breach. Returns how the read ended.
 */
export async function checkMutant(
  mutant: Mutant,
  feed: Feed,
  tmpDir: string,
  timeoutMs: number,
): Promise<Outcome> {
  const what = `mutant "${mutant.label}"`;
  let result: { readonly sha: string } | SnapshotError;
  try {
    const archive = await withTimeout(readArchive(chunked(mutant.bytes, feed), { tmpDir }), timeoutMs, what);
    result = { sha: archive.stateBin.sha256 };
    await archive.stateBin.remove();
  } catch (err) {
    if (!(err instanceof SnapshotError))
      throw new Error(`${what} threw ${describe(err)}, not a SnapshotError`, { cause: err });
    result = err;
  }
  const left = await readdir(tmpDir);
  if (left.length > 0) throw new Error(`${what} left ${JSON.stringify(left)} in the temp dir`);
  if (result instanceof SnapshotError) {
    if (result.message === "")
      throw new Error(`${what}: ${result.name} "${result.code}" has an empty message`);
    return { accepted: false, code: result.code, message: result.message };
  }
  if (mutant.mustReject) throw new Error(`${what} was accepted; it must be refused`);
  if (result.sha !== mutant.expectSha256)
    throw new Error(`${what} was accepted with state.bin ${result.sha}, want ${mutant.expectSha256}`);
  return { accepted: true };
}
