/**
 * Consul's blocking query, once for every read of the ServerApi (the server's and its in-memory twin's): run
 * the read; answer at once unless the request names an index (`minIndex` > 0); otherwise wait for a write the
 * read's watch wakes on, or for the wait to end, and run it again. A wake is a hint, not a change: the loop goes
 * on while the index has not passed `minIndex`. A restore ends the wait at once (Consul's abandon channel), so a
 * client sees an index that went backwards and resets, as Consul's client rules say (docs/consul-compat.md §0.5).
 */
import type { ReadSpec } from "../fsm/index.js";
import type { Consistency, QueryOptions } from "./types.js";

/** Consul's cap on a blocking query's wait (max_query_time). */
export const WAIT_MS_MAX = 10 * 60 * 1000;
/** Consul's wait when a blocking query names none (default_query_time). */
export const WAIT_MS_DEFAULT = 5 * 60 * 1000;
/** Consul adds up to wait/16 of random jitter (structs.JitterFraction), so many waits do not end together. */
const JITTER_FRACTION = 16;

/** Blocking queries of this process asleep on a watch now (every ServerApi's; the watch benchmark reads it). */
let asleep = 0;

export function blockedQueries(): number {
  return asleep;
}

export interface BlockingEnv {
  now(): number;
  /** In [0, 1): the jitter's draw. */
  random(): number;
  /** Before each run of the read: confirms this server may answer in that mode (a consistent read re-verifies leadership each time, as Consul's). Throws when it may not. */
  barrier(consistency: Consistency): Promise<void>;
  /** Counts restores of the state (KvStore.restoreCount). */
  restores(): number;
}

/** The read's value once it has passed `minIndex`, or when the wait ended or a restore replaced the state. */
export async function blockingQuery<T extends { readonly index: number }>(
  q: QueryOptions,
  { watch, run }: ReadSpec<T>,
  env: BlockingEnv,
): Promise<T> {
  const wait = Math.min(q.waitMs > 0 ? q.waitMs : WAIT_MS_DEFAULT, WAIT_MS_MAX);
  const deadline = env.now() + wait + Math.floor(env.random() * (wait / JITTER_FRACTION));
  const restores = env.restores();
  for (;;) {
    await env.barrier(q.consistency);
    const value = run();
    const passed = Math.max(1, value.index) > q.minIndex;
    const left = deadline - env.now();
    if (q.minIndex === 0 || passed || left <= 0 || env.restores() !== restores) return value;
    await woken(watch, left);
  }
}

/**
 * Resolves on the watch's wake or after `ms`, whichever comes first; leaves neither the watch nor the timer behind.
 * The watch is registered before the timer is armed: when the registry is full it throws, and no timer is left.
 */
function woken(watch: ReadSpec<{ readonly index: number }>["watch"], ms: number): Promise<void> {
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cancel = watch(() => {
      clearTimeout(timer);
      asleep -= 1;
      resolve();
    });
    asleep += 1;
    timer = setTimeout(() => {
      cancel();
      asleep -= 1;
      resolve();
    }, ms);
  });
}
