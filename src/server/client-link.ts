/**
 * A client agent's link to the servers of its datacenter (docs/membership.md): its data dir (lock and node id; a
 * client holds no raft log), a transport that only dials, the servers it knows (found through -retry-join and
 * -join, then learnt from every heartbeat's answer), and the heartbeat that tells them it is alive.
 *
 * Calls go to one preferred server; a server whose connection fails is set aside and the next is tried, but only
 * when the call certainly never reached it (refused, down, not connected) or the caller says a repeat is harmless:
 * a write whose connection broke mid-call may have been applied, and is not sent twice.
 */
import { randomUUID } from "node:crypto";
import { openDataDir } from "../storage/index.js";
import {
  type MutualTlsSettings,
  type NodeIdentity,
  probe,
  TcpTransport,
  transportTls,
  UnreachableError,
} from "../transport/index.js";
import { CairnError, errorText } from "../util/errors.js";
import { SeededRng } from "../util/rng.js";
import { JoinError } from "./boot.js";
import { agentIdentity, type ServerRecord } from "./members.js";
import { call, type RpcMethod } from "./rpc.js";
import type { ClientBeat } from "./rpc-http.js";
import { FORWARD } from "./rpc-methods.js";

/** A member as the servers list it (the answer of a heartbeat). */
export interface LinkMember {
  readonly name: string;
  readonly addr: string;
  readonly port: number;
  readonly status: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** Consul's text when a client knows no server to send a request to (structs.ErrNoServers). */
export const NO_SERVERS_TEXT = "No known Consul servers";

/** No server could take the call (none known, or each refused the connection). */
export class NoServersError extends CairnError {
  readonly code = "no_servers";
  override name = "NoServersError";
}

export interface ClientLinkOptions {
  readonly dataDir: string;
  readonly nodeName: string;
  readonly datacenter: string;
  /** Server RPC addresses "host[:port]" to look for servers at (-retry-join, -join). */
  readonly retryJoin: readonly string[];
  /** What the heartbeat tells the leader about this node. */
  readonly node: Omit<ClientBeat, "nodeId" | "bootId">;
  /** How often the servers hear from this client; they call it failed after CLIENT_FAILURE_MS without. */
  readonly beatMs?: number;
  readonly tls?: MutualTlsSettings | undefined;
  readonly log: (level: "debug" | "info" | "warn" | "error", msg: string) => void;
}

/** One heartbeat a second. */
export const CLIENT_BEAT_MS = 1000;
/** A server set aside after a failure is tried again after this long (or sooner if no other is left). */
const SERVER_REST_MS = 10_000;
/**
 * Forwarded requests' calls in flight to one server at once; more wait their turn here. Under the transport's
 * per-connection bound (requestsInflightMax, 256), past which the server would answer `busy`; the rest of it is
 * for the calls that never wait behind them (UNQUEUED).
 */
export const CALLS_INFLIGHT_MAX = 200;

/**
 * Calls that skip the queue: the heartbeat (a client whose beats waited behind a burst of forwarded answers would
 * be failed, its sessions invalidated), leave, token resolution, and the parked queries' poll. At most a few each.
 */
const UNQUEUED: ReadonlySet<string> = new Set([
  FORWARD.clientAlive.name,
  FORWARD.clientLeave.name,
  FORWARD.aclResolve.name,
  FORWARD.ready.name,
]);

export class ClientLink {
  private readonly servers = new Map<number, ServerRecord>();
  /** Servers whose last call failed, and when. */
  private readonly failedAt = new Map<number, number>();
  private preferred: number | null = null;
  private beatTimer: NodeJS.Timeout | undefined;
  private beating = false;
  private stopped = false;
  private lastMembers: LinkMember[] = [];
  private readonly serverListeners = new Set<() => void>();
  private readonly bootId = randomUUID();
  private leaving = false;
  /** Calls in flight per server, and the calls waiting for one of them to end. */
  private readonly inflight = new Map<number, number>();
  private readonly queued = new Map<number, (() => void)[]>();

  private constructor(
    readonly identity: NodeIdentity,
    private readonly transport: TcpTransport,
    private readonly closeDataDir: () => Promise<void>,
    private readonly o: ClientLinkOptions,
    private readonly dial: ReturnType<typeof transportTls>["dial"] | undefined,
  ) {}

  /** Opens the data dir (refusing one another agent holds) and starts looking for servers. */
  static async open(o: ClientLinkOptions): Promise<ClientLink> {
    const dd = await openDataDir(o.dataDir, { nodeName: o.nodeName, log: (m) => o.log("warn", m) });
    const identity = agentIdentity(dd.nodeId, o.nodeName, o.datacenter);
    const tls = o.tls === undefined ? undefined : transportTls(o.tls);
    const transport = new TcpTransport({
      identity,
      rng: new SeededRng(identity.raftId ^ Date.now()),
      log: (level, m) => o.log(level === "info" ? "debug" : level, `transport: ${m}`),
      tls,
      backoffMsMax: 1000,
    });
    const link = new ClientLink(identity, transport, () => dd.close(), o, tls?.dial);
    link.beatTimer = setInterval(() => void link.beat(), o.beatMs ?? CLIENT_BEAT_MS);
    // The first look for servers before the agent starts its catalog sync (bounded: 2 s per -retry-join address).
    await link.beat();
    return link;
  }

  get nodeId(): string {
    return this.identity.nodeId;
  }

  /** The servers as the last heartbeat (or probe) found them. */
  knownServers(): ServerRecord[] {
    return [...this.servers.values()];
  }

  /** Every member, as the servers listed them at the last heartbeat (empty before the first). */
  members(): LinkMember[] {
    return this.lastMembers;
  }

  /** Called when the first server becomes known, and whenever the set changes. */
  onServersChanged(f: () => void): void {
    this.serverListeners.add(f);
  }

  /** `cairn join ADDR` on a client: ADDR must answer as a server of this datacenter. */
  async join(addr: string): Promise<void> {
    await this.probeOne(addr, true);
  }

  /**
   * The servers to try, in order: the preferred one, then those not set aside, then those set aside longest ago.
   */
  candidates(): number[] {
    const now = Date.now();
    const ids = [...this.servers.keys()];
    const rested = (id: number): boolean => now - (this.failedAt.get(id) ?? 0) >= SERVER_REST_MS;
    const good = ids
      .filter(rested)
      .sort((a, b) => (a === this.preferred ? -1 : b === this.preferred ? 1 : 0));
    const bad = ids
      .filter((id) => !rested(id))
      .sort((a, b) => (this.failedAt.get(a) ?? 0) - (this.failedAt.get(b) ?? 0));
    return [...good, ...bad];
  }

  /**
   * Calls `method` on a server: the preferred one, then the next when the call never reached the server, or
   * when `idempotent` says that a repeat is harmless. Resolves with the answer and the server that gave it.
   */
  async call<Req, Res>(
    method: RpcMethod<Req, Res>,
    request: Req,
    timeoutMs: number,
    idempotent: boolean,
  ): Promise<{ readonly answer: Res; readonly server: number }> {
    const tried = this.candidates();
    if (tried.length === 0) throw new NoServersError(NO_SERVERS_TEXT);
    let last: unknown;
    for (const server of tried) {
      try {
        const answer = await this.callOn(server, method, request, timeoutMs);
        return { answer, server };
      } catch (e) {
        last = e;
        if (!(e instanceof UnreachableError)) throw e;
        if (!idempotent && !ClientLink.notSent(e)) throw e;
      }
    }
    throw new NoServersError(`${NO_SERVERS_TEXT} reachable: ${errorText(last)}`);
  }

  /** Calls `method` on one server (the later calls of a forwarded exchange go where it started). */
  async callOn<Req, Res>(
    server: number,
    method: RpcMethod<Req, Res>,
    request: Req,
    timeoutMs: number,
  ): Promise<Res> {
    const queued = !UNQUEUED.has(method.name);
    if (queued) await this.slot(server);
    try {
      const answer = await call(this.transport, server, method, request, timeoutMs);
      this.failedAt.delete(server);
      this.preferred ??= server;
      return answer;
    } catch (e) {
      if (e instanceof UnreachableError) {
        this.failedAt.set(server, Date.now());
        if (this.preferred === server) this.preferred = null;
      }
      throw e;
    } finally {
      if (queued) this.release(server);
    }
  }

  /** Takes one of `server`'s CALLS_INFLIGHT_MAX, waiting in turn when all are taken. */
  private async slot(server: number): Promise<void> {
    const n = this.inflight.get(server) ?? 0;
    if (n < CALLS_INFLIGHT_MAX) {
      this.inflight.set(server, n + 1);
      return;
    }
    await new Promise<void>((resolve) => {
      const q = this.queued.get(server);
      if (q === undefined) this.queued.set(server, [resolve]);
      else q.push(resolve);
    });
  }

  /** Hands the slot to the next waiting call, or frees it. */
  private release(server: number): void {
    const q = this.queued.get(server);
    const next = q?.shift();
    if (q !== undefined && q.length === 0) this.queued.delete(server);
    if (next !== undefined) next();
    else this.inflight.set(server, (this.inflight.get(server) ?? 1) - 1);
  }

  /** True when the call certainly never reached the server: it may be sent again elsewhere. */
  static notSent(e: unknown): boolean {
    return e instanceof UnreachableError && !e.message.includes("connection lost");
  }

  /** Tells the servers this client leaves (no heartbeat follows); the leader deregisters its node. */
  async leave(): Promise<void> {
    this.leaving = true;
    clearInterval(this.beatTimer);
    await this.call(FORWARD.clientLeave, { node: this.o.nodeName, bootId: this.bootId }, 7000, true);
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.beatTimer);
    await this.transport.close();
    await this.closeDataDir();
  }

  private async beat(): Promise<void> {
    if (this.beating || this.stopped || this.leaving) return;
    this.beating = true;
    try {
      if (this.candidates().every((id) => this.failedAt.has(id))) await this.probeAll();
      if (this.servers.size === 0) return;
      const { answer } = await this.call(
        FORWARD.clientAlive,
        { bootId: this.bootId, nodeId: this.identity.nodeId, ...this.o.node },
        5000,
        true,
      );
      this.lastMembers = answer.members;
      let changed = false;
      for (const r of answer.servers) changed = this.learn(r) || changed;
      if (changed) for (const f of this.serverListeners) f();
    } catch (e) {
      this.o.log("debug", `heartbeat: ${errorText(e)}`);
    } finally {
      this.beating = false;
    }
  }

  private async probeAll(): Promise<void> {
    let changed = false;
    for (const addr of this.o.retryJoin) {
      try {
        changed = (await this.probeOne(addr, false)) || changed;
      } catch (e) {
        this.o.log("debug", `looking for servers: ${addr}: ${errorText(e)}`);
      }
    }
    if (changed) for (const f of this.serverListeners) f();
  }

  private async probeOne(addr: string, strict: boolean): Promise<boolean> {
    const full = /:\d+$/.test(addr) ? addr : `${addr}:8300`;
    let id: NodeIdentity;
    try {
      id = await probe(this.identity, full, 2000, this.dial);
    } catch (e) {
      throw new JoinError(`Failed to join ${full}: ${errorText(e)}`);
    }
    if (id.datacenter !== this.o.datacenter && strict) {
      throw new JoinError(`Failed to join ${full}: it is a server of datacenter "${id.datacenter}"`);
    }
    const r: ServerRecord = { raftId: id.raftId, nodeId: id.nodeId, name: id.name, addr: full };
    this.failedAt.delete(r.raftId);
    return this.learn(r);
  }

  private learn(r: ServerRecord): boolean {
    const had = this.servers.get(r.raftId);
    if (had?.addr === r.addr) return false;
    // Another server now listens where one we knew did (a server rebuilt with a new data dir): forget the old one.
    for (const [id, old] of this.servers) {
      if (old.addr !== r.addr || id === r.raftId) continue;
      this.servers.delete(id);
      this.failedAt.delete(id);
      this.transport.removePeer(id);
      if (this.preferred === id) this.preferred = null;
    }
    this.servers.set(r.raftId, r);
    this.transport.setPeer(r.raftId, r.addr);
    if (had === undefined) this.o.log("info", `found server ${r.name} at ${r.addr}`);
    return true;
  }
}
