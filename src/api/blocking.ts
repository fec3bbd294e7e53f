/**
 * Consul's blocking query, once for every read of the ServerApi (the server's and its in-memory twin's): run
 * the read; answer at once unless the request names an index (`minIndex` > 0); otherwise wait for a write the
 * read's watch wakes on, or for the wait to end, and run it again. A wake is a hint, not a change: the loop goes
 * on while the index has not passed `minIndex`. A restore ends the wait at once (Consul's abandon channel), so a
 * client sees an index that went backwards and resets, as Consul's client rules say (docs/consul-compat.md §0.5).
 */
import type { ReadSpec, Watch } from "../fsm/index.js";
import type { Consistency, QueryOptions } from "./types.js";
import { WaitClock, type Waiter } from "./wait-clock.js";

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

/** Every wait of this process on one timer (wait-clock.ts). */
const clock = new WaitClock();

/** How a query's final value becomes its answer; one function for all the queries of a server. */
export type Finish<T, R> = (value: T, q: QueryOptions) => R;

const asIs = <T>(value: T): T => value;

/**
 * The read's value once it has passed `minIndex`, or when the wait ended or a restore replaced the state,
 * given to `finish` (default: as it is). Not an async function: a blocked query is held by its watch and the
 * wait clock as one small object (Query), not as a suspended frame with its registers and await closures,
 * which matters with thousands blocked; `finish` makes the answer without a .then (a closure, a promise and a
 * reaction per query) after it.
 */
export function blockingQuery<T extends { readonly index: number }, R = T>(
  q: QueryOptions,
  spec: ReadSpec<T>,
  env: BlockingEnv,
  finish: Finish<T, R> = asIs as Finish<T, R>,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    new Query(q, spec, env, finish, resolve, reject).run();
  });
}

/** One blocking query between its runs: what it needs to run again, and how it ends. */
class Query<T extends { readonly index: number }, R> implements Waiter {
  private readonly deadline: number;
  private readonly restores: number;
  /** While asleep: the watch and the clock's tick of the deadline. */
  private watching: Watch | null = null;
  private tick = 0;

  constructor(
    private readonly q: QueryOptions,
    private readonly spec: ReadSpec<T>,
    private readonly env: BlockingEnv,
    private readonly finish: Finish<T, R>,
    private readonly resolve: (value: R) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    const wait = Math.min(q.waitMs > 0 ? q.waitMs : WAIT_MS_DEFAULT, WAIT_MS_MAX);
    this.deadline = env.now() + wait + Math.floor(env.random() * (wait / JITTER_FRACTION));
    this.restores = env.restores();
  }

  run(): void {
    try {
      this.env.barrier(this.q.consistency).then(() => this.afterBarrier(), this.reject);
    } catch (e) {
      this.reject(e);
    }
  }

  private afterBarrier(): void {
    try {
      const value = this.spec.run();
      const passed = Math.max(1, value.index) > this.q.minIndex;
      const left = this.deadline - this.env.now();
      if (this.q.minIndex === 0 || passed || left <= 0 || this.env.restores() !== this.restores) {
        this.resolve(this.finish(value, this.q));
        return;
      }
      // The watch first: when the registry is full it throws, and nothing is left on the clock.
      // Itself as the wake (woken()): no closure per sleeping query.
      this.watching = this.spec.watch(this);
      asleep += 1;
      this.tick = clock.add(this, left);
    } catch (e) {
      this.reject(e);
    }
  }

  /** The watch fired (inside an apply: only schedule the next run, as the registry asks). */
  woken(): void {
    clock.remove(this, this.tick);
    this.awake();
  }

  timedOut(): void {
    this.watching?.cancel();
    this.awake();
  }

  private awake(): void {
    this.watching = null;
    asleep -= 1;
    queueMicrotask(() => this.run());
  }
}
