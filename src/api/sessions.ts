/**
 * Sessions on the server side: Consul's create defaults, and the leader's TTL timers.
 *
 * The FSM reads no clock (docs/ARCHITECTURE.md): a session expires only when the leader's timer commits a
 * session-invalidate. As Consul's leader does (agent/consul/session_ttl.go), a timer runs for 2×TTL
 * (SessionTTLMultiplier: the TTL is a lower bound, §3.1), a renew restarts it, a new leader starts one for every
 * session with a fresh full period (the TTL is extended, never lost, across an election), and a server that stops
 * leading drops them all.
 */
import { randomUUID } from "node:crypto";
import { parseGoDuration, type SessionEntry, type SessionSpec, type Watch } from "../fsm/index.js";
import type { Clock, Timer } from "../util/clock.js";
import { errorText } from "../util/errors.js";
import type { SessionRequest } from "./types.js";

/** Consul's defaults for PUT /v1/session/create. */
export const LOCK_DELAY_DEFAULT_NS = 15_000_000_000;
export const SERF_HEALTH = "serfHealth";
/** Consul's SessionTTLMultiplier. */
export const SESSION_TTL_MULTIPLIER = 2;
/** After a failed invalidation (no quorum, leadership moving), try again this much later. */
const RETRY_MS = 1000;

/** The session a create proposes: a fresh uuid, the request's fields, Consul's defaults for the rest. */
export function sessionSpecOf(req: SessionRequest, nodeName: string): SessionSpec {
  return {
    ID: randomUUID(),
    Name: req.Name ?? "",
    Node: req.Node === undefined || req.Node === "" ? nodeName : req.Node,
    LockDelay: req.LockDelay ?? LOCK_DELAY_DEFAULT_NS,
    Behavior: req.Behavior === undefined || req.Behavior === "" ? "release" : req.Behavior,
    TTL: req.TTL ?? "",
    NodeChecks: req.NodeChecks === undefined ? [SERF_HEALTH] : req.NodeChecks,
    ServiceChecks: req.ServiceChecks ?? null,
  };
}

/** The timer period of a session in ms, or null when it has no TTL (or one that does not parse). */
export function expiryMs(ttl: string): number | null {
  if (ttl === "") return null;
  try {
    const ns = parseGoDuration(ttl);
    return ns <= 0n ? null : (Number(ns) / 1e6) * SESSION_TTL_MULTIPLIER;
  } catch {
    return null;
  }
}

/** What the timers need from the server. */
export interface SessionTimerHost {
  /** The sessions in the state store now. */
  sessions(): Iterable<SessionEntry>;
  /** A one-shot wake on the next session write (KvStore.watchSessions). */
  watch(wake: () => void): Watch;
  /** Proposes session-invalidate with the leader's time; rejects when it did not commit. */
  invalidate(id: string): Promise<void>;
  log(level: "info" | "warn", msg: string): void;
}

/**
 * The leader's TTL timers, on the server's Clock (the agent's is realClock; the simulator's runs in virtual time).
 * Every timer is a background one (unref'd): a timer never keeps the process alive.
 */
export class SessionTimers {
  private readonly timers = new Map<string, Timer>();
  private watching: Watch | null = null;
  private active = false;

  constructor(
    private readonly host: SessionTimerHost,
    private readonly clock: Clock,
  ) {}

  /** Follows leadership: start on becoming leader, stop on losing it (idempotent both ways). */
  leadershipChanged(leader: boolean): void {
    if (leader && !this.active) this.start();
    else if (!leader && this.active) this.stop();
  }

  get running(): boolean {
    return this.active;
  }

  /** Timers armed now (for tests). */
  get size(): number {
    return this.timers.size;
  }

  /** Every session with a TTL gets a fresh full period; later creates and destroys are followed by a watch. */
  start(): void {
    this.active = true;
    this.reconcile();
  }

  stop(): void {
    this.active = false;
    this.watching?.cancel();
    this.watching = null;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /** A committed renew restarts the session's period (only where a timer runs: on the leader). */
  renew(session: SessionEntry): void {
    if (!this.active) return;
    this.arm(session.ID, session.TTL);
  }

  /** Arms timers for new TTL sessions, drops those of sessions that are gone, and watches again. */
  private reconcile(): void {
    if (!this.active) return;
    const live = new Set<string>();
    for (const s of this.host.sessions()) {
      live.add(s.ID);
      if (!this.timers.has(s.ID)) this.arm(s.ID, s.TTL);
    }
    for (const [id, t] of this.timers) {
      if (live.has(id)) continue;
      t.cancel();
      this.timers.delete(id);
    }
    this.watching?.cancel();
    // The wake runs inside the store's apply, which must not be re-entered: reconcile after it returns.
    this.watching = this.host.watch(() => {
      this.watching = null;
      this.clock.defer(() => this.reconcile());
    });
  }

  private arm(id: string, ttl: string, ms = expiryMs(ttl)): void {
    const old = this.timers.get(id);
    old?.cancel();
    this.timers.delete(id);
    if (ms === null) return;
    this.timers.set(
      id,
      this.clock.setTimeout(() => void this.expire(id, ttl), ms, true),
    );
  }

  private async expire(id: string, ttl: string): Promise<void> {
    this.timers.delete(id);
    if (!this.active) return;
    try {
      await this.host.invalidate(id);
      this.host.log("info", `session ${id} expired (TTL ${ttl}) and was invalidated`);
    } catch (e) {
      // Still leading and still there: try again soon, as Consul retries its invalidation.
      const msg = errorText(e);
      this.host.log("warn", `invalidating expired session ${id}: ${msg}`);
      const exists = [...this.host.sessions()].some((s) => s.ID === id);
      if (this.active && exists && !this.timers.has(id)) this.arm(id, ttl, RETRY_MS);
    }
  }
}
