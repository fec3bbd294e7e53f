import { assert } from "../util/assert.js";

/** An event in the queue: its time, its place among equal times, and what it carries. */
export interface Queued<T> {
  readonly time: number;
  readonly seq: number;
  readonly item: T;
}

/**
 * A binary min-heap of events ordered by (time, seq): equal times run in scheduling order, so runs replay. It
 * runs once per simulated event, so it allocates one node per push and nothing else (pop hands that node out).
 */
export class EventQueue<T> {
  private readonly heap: Queued<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, item: T): void {
    assert(Number.isFinite(time), "event time must be finite");
    const h = this.heap;
    const node: Queued<T> = { time, seq: this.seq++, item };
    // Sift up: move parents down into the hole until the node's place is found.
    let i = h.length;
    h.push(node);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!before(node, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = node;
  }

  peekTime(): number | undefined {
    return this.heap[0]?.time;
  }

  pop(): Queued<T> | undefined {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop()!;
    const n = h.length;
    if (n === 0) return top;
    // Sift down from the root: move the earlier child up into the hole until `last` fits.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let child = h[l]!;
      if (l + 1 < n) {
        const right = h[l + 1]!;
        if (before(right, child)) {
          c = l + 1;
          child = right;
        }
      }
      if (!before(child, last)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

function before<T>(x: Queued<T>, y: Queued<T>): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}
