import { AssertionError } from "../util/assert.js";

/** Slots queued at once: one event loop turn (an epoll_wait) per this many events, instead of one per event. */
const SLOTS_PER_TURN = 64;

/**
 * Waits, after an event, until every microtask and tick the event started has run to its end, without an event
 * loop turn per event. Node runs one turn's immediates as a batch and drains the ticks and microtasks between
 * two of them (lib/internal/timers.js processImmediate calls runNextTicks), so an immediate queued ahead in
 * a batch fires only once the microtask queue is empty, as a fresh setImmediate per event would. The catch: an
 * immediate the code under test queues meanwhile runs in the next turn, after the batch's remaining slots,
 * that is after later events. The servers' only real immediates are inside the blob work (the state.bin walk
 * yields with setImmediate; sim-blobs.ts BlobWork), which the world awaits by itself before the next event
 * (`settle(true)`); any other is caught at the end of a batch that had none of it (`Immediate` still pending
 * in process.getActiveResourcesInfo), and fails the seed rather than reorder it silently.
 */
export class Settler {
  private unfired = 0;
  /** The caller waiting for the next slot (its promise's resolve and reject), or null. */
  private resolve: (() => void) | null = null;
  private reject: ((e: Error) => void) | null = null;
  /** Whether real asynchronous work of the world (blob work, a start) ran during this batch. */
  private busyBatch = false;

  private readonly fire = (): void => {
    this.unfired--;
    const resolve = this.resolve;
    if (resolve === null) return;
    const reject = this.reject!;
    this.resolve = null;
    this.reject = null;
    if (this.unfired === 0 && !this.busyBatch && othersImmediates() > 0) {
      reject(
        new AssertionError(
          "a real setImmediate ran inside a simulated event outside the blob work: settle cannot order it",
        ),
      );
      return;
    }
    resolve();
  };

  /** The promise's executor, made once (settle runs once per event). */
  private readonly wait = (resolve: () => void, reject: (e: Error) => void): void => {
    if (this.resolve !== null) throw new AssertionError("settle is awaited by one caller at a time");
    this.resolve = resolve;
    this.reject = reject;
  };

  /**
   * Resolves once every tick and microtask queued so far has run (and nothing of a later loop turn). `busy`: the
   * world awaits real asynchronous work of its own now (blob work, a start), whose immediates may be pending, so
   * this batch's end is not checked.
   */
  settle(busy = false): Promise<void> {
    const p = new Promise<void>(this.wait);
    if (this.unfired === 0) {
      this.busyBatch = false;
      this.unfired = SLOTS_PER_TURN;
      for (let i = 0; i < SLOTS_PER_TURN; i++) setImmediate(this.fire);
    }
    if (busy) this.busyBatch = true;
    return p;
  }
}

/** Immediates pending in this thread (the batch's own have all fired when this is asked). */
function othersImmediates(): number {
  let n = 0;
  for (const r of process.getActiveResourcesInfo()) if (r === "Immediate") n++;
  return n;
}
