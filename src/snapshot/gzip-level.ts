/**
 * Which deflate level an archive is written with, chosen from state.bin itself. Deflating incompressible
 * bytes (random or encrypted KV values) costs ~7x storing them (figures in docs/snapshot-format.md §8.4:
 * 48–61 MB/s at levels 1–6 against 417–537 MB/s stored) and saves ~20 % at best, while compressible state
 * (config-like JSON) deflates fast at level 1 and shrinks many times over. So samples of state.bin (read
 * from a spooled file, or encoded from a view: state-bin-plan.ts) are deflated at level 1: when they shrink
 * at least to COMPRESSIBLE_RATIO_MAX, the archive is written at level 1, otherwise stored (level 0). Any
 * deflate stream gunzips the same, so the choice is invisible to Consul's reader.
 */
import { open } from "node:fs/promises";
import { deflateRaw, deflateRawSync } from "node:zlib";

/** On libuv's thread pool: a server's event loop keeps serving writes while the samples deflate. */
function deflateRawAsync(b: Uint8Array, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    deflateRaw(b, { level }, (e, out) => (e ? reject(e) : resolve(out))),
  );
}

/** Bytes per sample; three samples (start, middle, end) bound the probe to ~12 ms of deflate. */
export const SAMPLE_BYTES = 256 * 1024;
/** At or below this compressed/original ratio the archive is deflated (level 1); above it, stored. */
export const COMPRESSIBLE_RATIO_MAX = 0.6;

/** The [start, end) windows of a state.bin of `size` bytes that are sampled: start, middle and end. */
export function sampleWindows(size: number): [number, number][] {
  if (size === 0) return [];
  // A state.bin no bigger than one sample is its own sample: the windows below would overlap (its second half
  // deflated twice, half as much deflate again for each small snapshot).
  if (size <= SAMPLE_BYTES) return [[0, size]];
  const starts = [...new Set([0, Math.floor(size / 2), Math.max(0, size - SAMPLE_BYTES)])];
  return starts.map((start) => [start, start + Math.min(SAMPLE_BYTES, size - start)]);
}

/** An output chunk size zlib's sync calls take from Node's Buffer pool (under 4 KiB). */
export const POOLED_CHUNK_BYTES = 4000;

/** Compressed/original size of level-1 deflate over the samples; 1 when there are none. */
export async function ratioOfSamples(samples: readonly Uint8Array[]): Promise<number> {
  const packed: number[] = [];
  for (const b of samples) packed.push((await deflateRawAsync(b, 1)).length);
  return ratioOf(samples, packed);
}

function ratioOf(samples: readonly Uint8Array[], packed: readonly number[]): number {
  const raw = samples.reduce((n, b) => n + b.length, 0);
  return raw === 0 ? 1 : packed.reduce((n, p) => n + p, 0) / raw;
}

function levelOfRatio(ratio: number): 0 | 1 {
  return ratio <= COMPRESSIBLE_RATIO_MAX ? 1 : 0;
}

/** The level for an archive whose state.bin gave these samples (sampleWindows): 1 when they compress well, else 0. */
export async function levelOfSamples(samples: readonly Uint8Array[]): Promise<0 | 1> {
  return levelOfRatio(await ratioOfSamples(samples));
}

/**
 * levelOfSamples deflating on the event loop: for a small state.bin (archive.ts IN_MEMORY_BYTES_MAX), whose
 * samples deflate in microseconds, less than a round trip through libuv's thread pool costs.
 */
export function levelOfSamplesOnLoop(samples: readonly Uint8Array[]): 0 | 1 {
  return levelOfRatio(
    ratioOf(
      samples,
      // Output in pieces under 4 KiB, from Node's pool: only its length is kept (snapshot/bytes.ts).
      samples.map((b) => deflateRawSync(b, { level: 1, chunkSize: POOLED_CHUNK_BYTES }).length),
    ),
  );
}

/** Compressed/original size of level-1 deflate over samples of the file; 1 for an empty file. */
export async function sampleRatio(path: string, size: number): Promise<number> {
  return ratioOfSamples(await readWindows(path, size));
}

async function readWindows(path: string, size: number): Promise<Uint8Array[]> {
  const windows = sampleWindows(size);
  if (windows.length === 0) return [];
  const fh = await open(path, "r");
  try {
    const samples: Uint8Array[] = [];
    for (const [start, end] of windows) {
      const buf = Buffer.alloc(end - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      samples.push(buf.subarray(0, bytesRead));
    }
    return samples;
  } finally {
    await fh.close();
  }
}

/** The level for an archive of the state.bin at `path`: 1 when samples compress well, else 0 (stored). */
export async function chooseGzipLevel(path: string, size: number): Promise<0 | 1> {
  return levelOfSamples(await readWindows(path, size));
}
