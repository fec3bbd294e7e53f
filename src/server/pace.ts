/**
 * Pacing for background producers that run on the event loop which also serves writes: a snapshot's
 * state.bin is encoded there (the state store lives in this thread), one ~64 KiB chunk at a time. While
 * writes are being applied, the producer may use at most `shareMax` of the loop's time: after each chunk it
 * owes (spent × (1 − share) / share) ms of pause, paid in sleeps of at least PAUSE_MS_MIN. With no writes
 * going on it runs flat out, so an idle server saves as fast as it can. The same idea as a compaction rate
 * limiter in a storage engine: the foreground keeps most of the machine.
 */
import type { Clock } from "../util/clock.js";

/** Sleeps shorter than this are saved up (timer granularity is ~1 ms). */
const PAUSE_MS_MIN = 2;
/** One pause never exceeds this: a slow chunk on a busy server must not stall the stream for long. */
const PAUSE_MS_MAX = 50;

export interface PaceOptions {
  /** Largest share of the loop's time the producer may take while `busy()`; in (0, 1]. */
  readonly shareMax: number;
  /** Whether foreground work went on since the last call (e.g. the applied index moved). */
  busy(): boolean;
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** `source`, pulled at the pace the options allow; closes `source` when the consumer stops early. */
export async function* paced<T>(source: AsyncIterable<T>, o: PaceOptions): AsyncGenerator<T> {
  if (!(o.shareMax > 0 && o.shareMax <= 1)) throw new RangeError(`pace share ${o.shareMax} not in (0, 1]`);
  const it = source[Symbol.asyncIterator]();
  let owedMs = 0;
  try {
    for (;;) {
      const t0 = o.now();
      const r = await it.next();
      const spentMs = o.now() - t0;
      if (r.done === true) return;
      owedMs = o.busy() ? owedMs + (spentMs * (1 - o.shareMax)) / o.shareMax : 0;
      if (owedMs >= PAUSE_MS_MIN) {
        await o.sleep(Math.min(owedMs, PAUSE_MS_MAX));
        owedMs = 0;
      }
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}

/** busy() for a store: true when its applied index moved since the previous call. */
export function appliedMoved(applied: () => number): () => boolean {
  let last = applied();
  return () => {
    const now = applied();
    const moved = now !== last;
    last = now;
    return moved;
  };
}

/** The server's pacing of snapshot encoding: a quarter of the loop while writes apply. */
export function snapshotPace(applied: () => number, clock: Clock): PaceOptions {
  return {
    shareMax: 0.25,
    busy: appliedMoved(applied),
    now: () => clock.monotonicMs(),
    sleep: (ms) => clock.sleep(ms),
  };
}
