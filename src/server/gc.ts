/**
 * A full garbage collection on demand, for the one place that needs it: a restore drops the whole old state
 * and builds a new one of about the same size. Left to itself V8 collects the old state only once the heap
 * has grown well past its last live size, so the process would hold both states for a while (the target is
 * a restore's peak RSS within +64 MB of before, whatever the state's size: docs/snapshot-format.md §8). Collected first, the freed pages
 * are reused by the new state.
 *
 * Node exposes gc() only under --expose-gc; the flag can be set at run time, and a fresh context then has the
 * function. Where that fails (a runtime without it), nothing is collected and the restore still works.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | null | undefined;

/** Runs a full collection; false when this runtime offers none. */
export function collectGarbage(): boolean {
  if (gc === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      const f: unknown = runInNewContext("gc");
      gc = typeof f === "function" ? (f as () => void) : null;
    } catch {
      gc = null; // no gc() here: the restore goes on, with V8's own timing
    }
  }
  gc?.();
  return gc !== null;
}
