import { parseGoDuration, type SessionEntry } from "../fsm/index.js";

/** Consul's SessionTTLMultiplier, as src/server/sessions.ts: a session is reaped after 2×TTL without renewal. */
export const SESSION_TTL_MULTIPLIER = 2;
/** After an invalidation that did not commit, the server tries again this much later (src/server RETRY_MS). */
export const INVALIDATE_RETRY_MS = 1000;

/** The timer period of a TTL in ms, or null without a TTL (as src/server/sessions.ts expiryMs). */
export function expiryMs(ttl: string): number | null {
  if (ttl === "") return null;
  const ns = parseGoDuration(ttl);
  return ns <= 0n ? null : (Number(ns) / 1e6) * SESSION_TTL_MULTIPLIER;
}

/**
 * The leader's session TTL timers, with the semantics of src/server/sessions.ts SessionTimers, driven by the
 * simulated wall clock instead of setTimeout: on becoming leader every TTL session gets a fresh full period;
 * a renew the leader committed restarts it; a deadline that passes proposes a session-invalidate, one at a
 * time per session (the server awaits it), retried INVALIDATE_RETRY_MS after a proposal that failed;
 * losing leadership drops them all.
 */
export class LeaderTimers {
  /** session id → wall-clock deadline (ms); Infinity while its invalidation is in flight. */
  private readonly deadlines = new Map<string, number>();
  private active = false;
  private term = 0;

  /**
   * Follows leadership, checked on every tick: a server that lost and regained leadership between two ticks
   * (a new term) starts over with fresh periods, as the server's leadershipChanged callbacks make it.
   */
  leadership(leader: boolean, term: number): void {
    if (!leader || term !== this.term) this.deadlines.clear();
    this.active = leader;
    this.term = term;
  }

  /** The invalidation of `id` could not be proposed: try again later, as the server does. */
  failed(id: string, nowMs: number): void {
    if (this.deadlines.has(id)) this.deadlines.set(id, nowMs + INVALIDATE_RETRY_MS);
  }

  renewed(s: SessionEntry, nowMs: number): void {
    if (!this.active) return;
    const ms = expiryMs(s.TTL);
    if (ms === null) this.deadlines.delete(s.ID);
    else this.deadlines.set(s.ID, nowMs + ms);
  }

  /**
   * Reconciles with the sessions in the store and returns those whose deadline passed, marking each in
   * flight: the caller proposes their invalidations and reports a proposal that failed (failed()).
   */
  due(sessions: Iterable<SessionEntry>, nowMs: number): string[] {
    if (!this.active) return [];
    const live = new Set<string>();
    for (const s of sessions) {
      live.add(s.ID);
      if (this.deadlines.has(s.ID)) continue;
      const ms = expiryMs(s.TTL);
      if (ms !== null) this.deadlines.set(s.ID, nowMs + ms);
    }
    const out: string[] = [];
    for (const [id, at] of this.deadlines) {
      if (!live.has(id)) this.deadlines.delete(id);
      else if (at <= nowMs) {
        out.push(id);
        this.deadlines.set(id, Number.POSITIVE_INFINITY);
      }
    }
    return out;
  }
}
