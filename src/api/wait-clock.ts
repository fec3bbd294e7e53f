/**
 * One timer for every blocking query's wait, instead of a setTimeout each: thousands of blocked queries with
 * waits of up to ten minutes (and jitter, so no two alike) would otherwise hold a Timeout and a timer list
 * apiece. Deadlines are kept in buckets of TICK_MS, each a set, so a query woken by its watch leaves its bucket
 * in O(1); a min-heap of bucket times (one entry per bucket, not per query) says which bucket is due next, and
 * the one timer is armed for it. A wait ends at its deadline rounded up to the tick: never early, at most
 * TICK_MS late (Consul's own waits run up to wait/16 longer, for jitter).
 *
 * The timer keeps the process alive while any wait is pending, as a setTimeout per wait did, and not once none
 * is.
 */

/** The clock's resolution, in ms. */
export const TICK_MS = 50;

/**
 * What waits: its `timedOut` runs once when its deadline has passed, unless it was removed first. It must not
 * throw (it runs on the clock's timer, beside the other waiters due then).
 */
export interface Waiter {
  timedOut(): void;
}

export class WaitClock {
  /** Use: the waiters due at each tick. Invariant: no empty sets; every key is in `due`. */
  private readonly buckets = new Map<number, Set<Waiter>>();
  /** A min-heap of ticks; may hold ticks whose bucket has emptied (skipped when they come up). */
  private readonly due: number[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Waiters pending now. */
  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.size;
    return n;
  }

  /** Calls `w.timedOut()` once `ms` have passed; returns the tick to give remove(). */
  add(w: Waiter, ms: number): number {
    const tick = Math.ceil((this.now() + Math.max(0, ms)) / TICK_MS);
    let bucket = this.buckets.get(tick);
    if (bucket === undefined) {
      bucket = new Set();
      this.buckets.set(tick, bucket);
      heapPush(this.due, tick);
    }
    bucket.add(w);
    if (tick < this.armedFor) this.arm(tick);
    return tick;
  }

  /** Forgets `w` (woken before its deadline); harmless when it has already timed out. */
  remove(w: Waiter, tick: number): void {
    const bucket = this.buckets.get(tick);
    if (bucket === undefined || !bucket.delete(w) || bucket.size > 0) return;
    this.buckets.delete(tick);
    if (this.buckets.size === 0) {
      // Nothing waits: no timer may keep the process alive, and the heap holds only stale ticks.
      this.disarm();
      this.due.length = 0;
    }
  }

  private arm(tick: number): void {
    this.disarm();
    this.armedFor = tick;
    this.timer = setTimeout(() => this.fire(), Math.max(0, tick * TICK_MS - this.now()));
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const nowTick = Math.floor(this.now() / TICK_MS);
    const ended: Waiter[] = [];
    while (this.due.length > 0 && (this.due[0] ?? 0) <= nowTick) {
      const tick = heapPop(this.due);
      const bucket = this.buckets.get(tick);
      if (bucket === undefined) continue;
      this.buckets.delete(tick);
      for (const w of bucket) ended.push(w);
    }
    // Skip ticks whose buckets emptied, then arm for the next live one.
    while (this.due.length > 0 && !this.buckets.has(this.due[0] ?? 0)) heapPop(this.due);
    const next = this.due[0];
    if (next !== undefined) this.arm(next);
    for (const w of ended) w.timedOut();
  }
}

function heapPush(h: number[], x: number): void {
  let i = h.length;
  h.push(x);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = h[parent] ?? 0;
    if (p <= x) break;
    h[i] = p;
    i = parent;
  }
  h[i] = x;
}

function heapPop(h: number[]): number {
  const top = h[0] ?? 0;
  const last = h.pop() ?? 0;
  if (h.length === 0) return top;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= h.length) break;
    const r = l + 1;
    const c = r < h.length && (h[r] ?? 0) < (h[l] ?? 0) ? r : l;
    if ((h[c] ?? 0) >= last) break;
    h[i] = h[c] ?? 0;
    i = c;
  }
  h[i] = last;
  return top;
}
