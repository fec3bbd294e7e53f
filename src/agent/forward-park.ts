/**
 * The caller's side of parked blocking queries (forward-serve.ts): a blocking request forwarded with `parkAs`
 * may come back `parked`, holding no call while it waits on the server. One `http.ready` long poll per server
 * learns which parked exchanges are answered, and each waiter is woken to pull its answer with `http.next`.
 * So thousands of blocking queries through one client cost one call in flight while they wait.
 */
import { randomUUID } from "node:crypto";
import type { RpcMethod } from "../server/rpc.js";
import { FORWARD } from "../server/rpc-methods.js";
import { CairnError } from "../util/errors.js";

/** A parked request's answer did not come in time, or the poll that would tell it failed. */
export class ParkedWaitError extends CairnError {
  readonly code = "forward_parked";
  override name = "ParkedWaitError";
}

type CallOn = <Req, Res>(
  server: number,
  method: RpcMethod<Req, Res>,
  request: Req,
  timeoutMs: number,
) => Promise<Res>;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** How long one poll waits on the server (it answers within this, maybe empty), and ids it may return at once. */
const READY_WAIT_MS = 25_000;
const READY_IDS_MAX = 4096;
/** An id told before its waiter registered (the two answers raced) is kept this long for it. */
const EARLY_KEEP_MS = 60_000;

export class Parking {
  /** Names this process's parked exchanges on every server. */
  readonly caller = randomUUID();
  private readonly waiting = new Map<number, Map<string, Waiter>>();
  private readonly polling = new Set<number>();
  /** Ids answered before anyone waited for them (the start's answer and the poll's raced): id → when told. */
  private readonly early = new Map<string, number>();

  constructor(private readonly callOn: CallOn) {}

  /** Resolves when the server says exchange `id` is answered; rejects after `timeoutMs` or if polling fails. */
  wait(server: number, id: string, timeoutMs: number): Promise<void> {
    if (this.early.delete(id)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let m = this.waiting.get(server);
      if (m === undefined) {
        m = new Map();
        this.waiting.set(server, m);
      }
      const waiters = m;
      const timer = setTimeout(() => {
        waiters.delete(id);
        reject(new ParkedWaitError(`no answer to the blocking query within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.set(id, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!this.polling.has(server)) void this.poll(server);
    });
  }

  /** Polls `server` while anyone waits on it; a failed poll fails its waiters (their callers answer 500). */
  private async poll(server: number): Promise<void> {
    this.polling.add(server);
    try {
      for (;;) {
        const m = this.waiting.get(server);
        if (m === undefined || m.size === 0) {
          this.waiting.delete(server);
          return;
        }
        const { ids } = await this.callOn(
          server,
          FORWARD.ready,
          { caller: this.caller, max: READY_IDS_MAX, waitMs: READY_WAIT_MS },
          READY_WAIT_MS + 10_000,
        );
        const now = Date.now();
        for (const [id, at] of this.early) if (now - at > EARLY_KEEP_MS) this.early.delete(id);
        for (const id of ids) {
          const w = m.get(id);
          if (w === undefined) {
            this.early.set(id, now);
            continue;
          }
          m.delete(id);
          w.resolve();
        }
      }
    } catch (e) {
      const m = this.waiting.get(server);
      this.waiting.delete(server);
      for (const w of m?.values() ?? []) w.reject(e);
    } finally {
      this.polling.delete(server);
    }
  }
}
