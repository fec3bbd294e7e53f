/**
 * Locks as `cairn lock` holds them: a session with a TTL, renewed while the lock is held, and a lock-delay. Under
 * faults a holder's renewals can fail and its session expire, and then another session may take the lock: that
 * is Consul's contract, so these locks cannot go through the register model (locks.ts). They get the exclusivity
 * check with the TTL and lock-delay rules instead (`judgeTtlLocks`), from the clients' times alone:
 *
 * Session S1 holds key k from its acquire's answer (true) until it asks to release k or destroy S1. If another
 * session's acquire of k was asked after S1's answer and answered before S1's release or destroy was asked, S1
 * lost k while holding it. That is legal only if S1 expired first: not before TTL after the call of its last
 * renew (or create) answered ok, and never while a renew asked later still answered ok. A grant before that is a
 * violation. So is a grant after the expiry but within S1's lock-delay of it: the invalidation is stamped no
 * earlier than that expiry, and the acquire is judged at apply against the replicated deadline (issue 17 item
 * 3). Lock-delay is wall-clock time, as in Consul, so a pair whose span meets a clock jump (`ClockWindow`) is
 * not judged by that rule, only counted.
 * About one hold in seven is by a client that hangs (stops renewing) past its session's expiry, so that path is taken.
 */
import type { Rng } from "../util/rng.js";
import { request } from "./workload.js";

export const TTL_LOCK_PREFIX = "torture/ttl-lock/";
export const TTL_MS = 10_000;
export const LOCK_DELAY_MS = 2_000;

interface SessionLog {
  readonly id: string;
  readonly createCall: number;
  /** Calls of renews answered ok. */
  readonly renewed: number[];
  /** When the client asked to release the key or destroy the session, whichever came first. */
  endCall: number;
}

interface Grant {
  readonly session: SessionLog;
  readonly key: string;
  readonly call: number;
  readonly ret: number;
}

export class TtlLockLog {
  readonly grants: Grant[] = [];
  readonly counts: Record<string, number> = {};

  count(what: string): void {
    this.counts[what] = (this.counts[what] ?? 0) + 1;
  }
}

export async function ttlLockWorker(
  log: TtlLockLog,
  id: number,
  endpoints: readonly string[],
  rng: Rng,
  o: {
    readonly requestTimeoutMs: number;
    readonly now: () => number;
    readonly stopping: () => boolean;
  },
): Promise<void> {
  const pick = (): string => endpoints[rng.int(0, endpoints.length)]!;
  const put = (path: string, body?: string) =>
    request(
      `${pick()}${path}`,
      body === undefined ? { method: "PUT" } : { method: "PUT", body },
      o.requestTimeoutMs,
    );
  while (!o.stopping()) {
    const createCall = o.now();
    const created = await put(
      "/v1/session/create",
      JSON.stringify({
        Name: `torture-ttl-${id}`,
        TTL: `${TTL_MS / 1000}s`,
        LockDelay: `${LOCK_DELAY_MS}ms`,
        NodeChecks: [],
      }),
    );
    if (created.kind !== "ok" || created.status !== 200) {
      log.count("ttl session create failed");
      await pause(300);
      continue;
    }
    log.count("ttl session create ok");
    const session: SessionLog = {
      id: (JSON.parse(created.body) as { ID: string }).ID,
      createCall,
      renewed: [],
      endCall: Infinity,
    };
    // One key for the whole run: the clients contend for it across a hung holder's expiry (keys here need no
    // rotation, as the check is not a search).
    const key = `${TTL_LOCK_PREFIX}k`;
    const call = o.now();
    const got = await put(`/v1/kv/${key}?acquire=${session.id}`, `held by ${session.id}`);
    const ret = o.now();
    const granted = got.kind === "ok" && got.status === 200 && got.body === "true";
    log.count(granted ? "ttl acquire ok" : "ttl acquire not granted");
    if (granted) {
      log.grants.push({ session, key, call, ret });
      // Mostly short holds; some long enough that the session must be renewed, and under faults may expire; and
      // some by a client that hangs: it stops renewing and holds past 2×TTL + lock-delay, so its session expires
      // and the others contend for the key across the expiry and the lock-delay.
      const roll = rng.float();
      const hangs = roll < 0.15;
      const holdMs = hangs
        ? rng.int(2 * TTL_MS + LOCK_DELAY_MS + 5_000, 2 * TTL_MS + LOCK_DELAY_MS + 15_000)
        : roll < 0.3
          ? rng.int(12_000, 25_000)
          : rng.int(50, 600);
      if (hangs) log.count("ttl holder hangs");
      const end = Date.now() + holdMs;
      while (Date.now() < end && !o.stopping()) {
        await pause(Math.min(2_500, Math.max(0, end - Date.now())));
        if (hangs) continue;
        const renewCall = o.now();
        const renewed = await put(`/v1/session/renew/${session.id}`);
        const ok = renewed.kind === "ok" && renewed.status === 200;
        log.count(ok ? "ttl renew ok" : "ttl renew failed");
        if (ok) session.renewed.push(renewCall);
      }
      session.endCall = o.now();
      await put(`/v1/kv/${key}?release=${session.id}`, "free");
    }
    session.endCall = Math.min(session.endCall, o.now());
    const destroyed = await put(`/v1/session/destroy/${session.id}`);
    log.count(
      destroyed.kind === "ok" && destroyed.status === 200
        ? "ttl session destroy ok"
        : "ttl session destroy failed",
    );
  }
}

export interface TtlLockVerdict {
  readonly grants: number;
  /** Grants to another session while the holder provably held the key (must be 0). */
  readonly violations: readonly string[];
  /** Grants after the holder's session may have expired, but within its lock-delay of that (must be 0). */
  readonly insideLockDelay: readonly string[];
  /** Grants after an expiry whose lock-delay a clock jump may have moved: not judged by lock-delay. */
  readonly nearClockJumps: number;
  /** Grants that followed a holder losing its lock to expiry (legal). */
  readonly afterExpiry: number;
}

/**
 * A span of the run (the torture's ms) in which some server's wall clock was off, or its effects may last: a
 * leader stamps invalidations and acquires with its wall clock, and the state store's clock stays at the
 * highest time applied, so a jump forward is felt until true time catches up with it, and an invalidation
 * stamped during a jump back carries an early deadline.
 */
export interface ClockWindow {
  readonly from: number;
  readonly to: number;
}

export function judgeTtlLocks(log: TtlLockLog, clockWindows: readonly ClockWindow[]): TtlLockVerdict {
  const violations: string[] = [];
  const insideLockDelay: string[] = [];
  let nearClockJumps = 0;
  let afterExpiry = 0;
  for (const a1 of log.grants) {
    for (const a2 of log.grants) {
      if (a2.key !== a1.key || a2.session === a1.session) continue;
      // a2 was asked after a1 held the key, and granted before a1 let it go.
      if (!(a1.ret < a2.call && a2.ret < a1.session.endCall)) continue;
      const s1 = a1.session;
      const renewedLater = s1.renewed.find((c) => c > a2.ret);
      const alive = Math.max(s1.createCall, ...s1.renewed.filter((c) => c <= a2.ret));
      if (renewedLater !== undefined || a2.ret < alive + TTL_MS) {
        violations.push(
          `${a1.key}: session ${a2.session.id} granted [${a2.call.toFixed(0)}, ${a2.ret.toFixed(0)}] ms while ` +
            `${s1.id} held it (granted at ${a1.ret.toFixed(0)}, ${renewedLater !== undefined ? `renewed ok at ${renewedLater.toFixed(0)}` : `last renewed at ${alive.toFixed(0)}`}, let go at ${s1.endCall.toFixed(0)})`,
        );
      } else if (clockWindows.some((w) => w.from <= a2.ret && alive <= w.to)) nearClockJumps++;
      else if (a2.ret < alive + TTL_MS + LOCK_DELAY_MS) {
        insideLockDelay.push(
          `${a1.key}: session ${a2.session.id} granted [${a2.call.toFixed(0)}, ${a2.ret.toFixed(0)}] ms, within ` +
            `the lock-delay of ${s1.id} (last renewed at ${alive.toFixed(0)}, so expired no earlier than ` +
            `${(alive + TTL_MS).toFixed(0)}; lock-delay ${LOCK_DELAY_MS} ms)`,
        );
      } else afterExpiry++;
    }
  }
  return { grants: log.grants.length, violations, insideLockDelay, nearClockJumps, afterExpiry };
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
