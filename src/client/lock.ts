/**
 * Client-side leader election on one KV key, the algorithm of Consul's api.Lock (consul.io leader-election
 * guide): a TTL session renewed at half its TTL, a blocking wait until the key has no holder, `?acquire`, and a
 * consistent blocking watch that reports when the key stops naming our session. The key carries Consul's magic
 * flag value so that a lock and a semaphore on the same prefix are told apart, as `consul lock` does.
 */
import { parseGoDurationNs } from "../util/flags.js";
import { sleep } from "../util/sleep.js";
import type { ConsulClient } from "./client.js";
import { ApiError } from "./errors.js";
import type { KVPair } from "./types.js";

/** api.LockFlagValue: marks a key as a lock (not a semaphore). */
export const LOCK_FLAG_VALUE = 0x2ddccbc058a50c18n;
/** api.DefaultLockSessionTTL: no other health check backs the session, so the TTL is what frees a dead holder. */
export const LOCK_SESSION_TTL_DEFAULT = "15s";
/** api.DefaultLockWaitTime: one blocking read; bounds how late a cancellation is noticed. */
const WAIT_MS = 15_000;
/** api.DefaultLockRetryTime: after a refused acquire (lock-delay), do not hot-loop. */
const RETRY_MS = 5_000;
/** api's MonitorRetryTime: between tolerated 500s while watching a held lock. */
const MONITOR_RETRY_MS = 1_000;

export class LockConflictError extends Error {
  constructor() {
    super("Existing key does not match lock use");
  }
}
export class LockInUseError extends Error {
  constructor() {
    super("Lock in use");
  }
}

export interface LockOptions {
  readonly key: string;
  readonly sessionName: string;
  readonly sessionTtl?: string;
  /** The session's lock-delay (a Go duration); the server's default (15s) when unset. */
  readonly lockDelay?: string;
  /**
   * Acquire with the key's current value instead of an empty one, so what the previous holder wrote with
   * setValue (the snapshot agent's last completed tick) carries over to the next holder.
   */
  readonly keepValue?: boolean;
  /** 500s tolerated while watching the held lock before declaring it lost. */
  readonly monitorRetries: number;
  /** When set, one attempt that gives up after this long (`consul lock -timeout`). */
  readonly tryOnceMs?: number;
}

/** A session TTL as the server returns it ("15s"), in ms; a TTL that does not parse keeps the default. */
function ttlMs(ttl: string): number {
  try {
    return Number(parseGoDurationNs(ttl) / 1_000_000n);
  } catch {
    return 15_000;
  }
}

export class Lock {
  private session = "";
  private readonly stopRenew = new AbortController();
  private renewing: Promise<void> = Promise.resolve();
  private held = false;

  constructor(
    private readonly client: ConsulClient,
    private readonly opts: LockOptions,
  ) {}

  /**
   * Waits for and takes the lock. Resolves an AbortSignal that fires when the lock is lost (session
   * invalidated, key taken or deleted, too many errors), or null when `cancel` fired or the one attempt timed out.
   */
  async lock(cancel: AbortSignal): Promise<AbortSignal | null> {
    if (this.held) throw new Error("Lock already held");
    const ttl = this.opts.sessionTtl ?? LOCK_SESSION_TTL_DEFAULT;
    try {
      this.session = await this.client.sessionCreate({
        name: this.opts.sessionName,
        ttl,
        ...(this.opts.lockDelay === undefined ? {} : { lockDelay: this.opts.lockDelay }),
      });
    } catch (e) {
      throw new Error(`failed to create session: ${(e as Error).message}`, { cause: e });
    }
    this.renewing = this.renew(ttlMs(ttl));
    const deadline = this.opts.tryOnceMs === undefined ? Infinity : Date.now() + this.opts.tryOnceMs;
    let index: bigint | undefined;
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (cancel.aborted || left <= 0) break;
        let pair: KVPair | null;
        try {
          const got = await this.client.kvGet(this.opts.key, {
            ...(index === undefined ? {} : { index }),
            waitMs: Math.min(WAIT_MS, left),
          });
          pair = got.entry;
          // Only a held key is waited on; after a refused acquire the next read must answer at once.
          if (pair !== null && pair.session !== "") index = got.meta.lastIndex;
        } catch (e) {
          throw new Error(`failed to read lock: ${(e as Error).message}`, { cause: e });
        }
        if (pair !== null && pair.flags !== LOCK_FLAG_VALUE) throw new LockConflictError();
        if (pair !== null && pair.session !== "") continue;
        let locked: boolean;
        try {
          const value = this.opts.keepValue === true && pair !== null ? pair.value : new Uint8Array(0);
          locked = await this.client.kvPut(this.opts.key, value, LOCK_FLAG_VALUE, { acquire: this.session });
        } catch (e) {
          throw new Error(`failed to acquire lock: ${(e as Error).message}`, { cause: e });
        }
        if (locked) {
          this.held = true;
          return this.monitor();
        }
        await sleep(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())), cancel);
      }
    } finally {
      if (!this.held) await this.endSession();
    }
    return null;
  }

  /**
   * Writes `value` into the held lock's key, keeping the lock (an acquire by the holder updates the value, as
   * Consul's KV does). False when the lock is no longer ours.
   */
  async setValue(value: Uint8Array): Promise<boolean> {
    if (!this.held) return false;
    return this.client.kvPut(this.opts.key, value, LOCK_FLAG_VALUE, { acquire: this.session });
  }

  /** Releases the lock (the key stays, without a holder) and ends the session. */
  async unlock(): Promise<void> {
    if (!this.held) throw new Error("Lock not held");
    this.held = false;
    try {
      await this.client.kvPut(this.opts.key, new Uint8Array(0), LOCK_FLAG_VALUE, { release: this.session });
    } catch (e) {
      throw new Error(`failed to release lock: ${(e as Error).message}`, { cause: e });
    } finally {
      await this.endSession();
    }
  }

  /** Deletes the lock key when nobody holds it; LockInUseError when somebody does (not an error for callers). */
  async destroy(): Promise<void> {
    if (this.held) throw new Error("Lock already held");
    let pair: KVPair | null;
    try {
      pair = (await this.client.kvGet(this.opts.key)).entry;
    } catch (e) {
      throw new Error(`failed to read lock: ${(e as Error).message}`, { cause: e });
    }
    if (pair === null) return;
    if (pair.flags !== LOCK_FLAG_VALUE) throw new LockConflictError();
    if (pair.session !== "") throw new LockInUseError();
    let removed: boolean;
    try {
      removed = await this.client.kvDelete(this.opts.key, { cas: pair.modifyIndex });
    } catch (e) {
      throw new Error(`failed to remove lock: ${(e as Error).message}`, { cause: e });
    }
    if (!removed) throw new LockInUseError();
  }

  private async endSession(): Promise<void> {
    this.stopRenew.abort();
    await this.renewing;
    // Best effort, as api.Lock: an unreachable server leaves the session to its TTL.
    await this.client.sessionDestroy(this.session).catch(() => undefined);
  }

  /** Renews at half the TTL; errors are retried until a whole TTL has passed without a successful renew. */
  private async renew(ttl: number): Promise<void> {
    const signal = this.stopRenew.signal;
    let period = ttl;
    let lastOk = Date.now();
    while (!signal.aborted) {
      await sleep(period / 2, signal);
      if (signal.aborted) return;
      try {
        const entry = await this.client.sessionRenew(this.session);
        if (entry === null) return; // the session is gone: the monitor sees the lock lost
        if (entry.ttl !== "") period = ttlMs(entry.ttl);
        lastOk = Date.now();
      } catch {
        if (Date.now() - lastOk >= period) return;
        period = Math.min(period, 2 * MONITOR_RETRY_MS);
      }
    }
  }

  private monitor(): AbortSignal {
    const lost = new AbortController();
    const watch = async (): Promise<void> => {
      let index: bigint | undefined;
      let retries = this.opts.monitorRetries;
      while (this.held) {
        try {
          const got = await this.client.kvGet(this.opts.key, {
            consistent: true,
            ...(index === undefined ? {} : { index }),
            waitMs: WAIT_MS,
          });
          if (got.entry === null || got.entry.session !== this.session) break;
          index = got.meta.lastIndex;
          retries = this.opts.monitorRetries;
        } catch (e) {
          // Only a server-side 500 is ridden out (a leader election); anything else ends the lock.
          if (!(e instanceof ApiError && e.status === 500) || retries <= 0) break;
          retries--;
          await sleep(MONITOR_RETRY_MS, this.stopRenew.signal);
        }
      }
      lost.abort();
    };
    void watch();
    return lost.signal;
  }
}
