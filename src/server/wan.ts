/**
 * The WAN pool (docs/membership.md): servers of every datacenter, each listening on its WAN port (Consul's
 * `ports.serf_wan`, 8302) with a transport of its own. cairn has no Serf: a server is given `-retry-join-wan`
 * addresses, probes them, and every second calls `wan.exchange` on each server it knows, telling what it knows and
 * learning what the other knows (so a server told of one dc2 server learns them all, and tells its own
 * datacenter's servers), timing each call for the round-trip time that orders `/v1/catalog/datacenters`. A server
 * whose exchange fails is failed until one succeeds again.
 *
 * The handshake's `datacenter` on this port is the pool's name, not the server's: the pool spans datacenters
 * (the LAN transport refuses another datacenter, and this port refuses anything that is not a pool member). The
 * server's own datacenter travels in the exchange.
 */
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
import { VERSION } from "../util/version.js";
import { raftIdOf } from "./members.js";
import { call, type RpcMethod, type ServerCalls, serve } from "./rpc.js";
import type { WanServer } from "./rpc-http.js";
import { WAN } from "./rpc-methods.js";

/** The handshake's datacenter on WAN ports: not a valid datacenter name, so no LAN port ever accepts it. */
export const WAN_POOL = "wan pool";
/** How often each server exchanges with every other it knows. */
const WAN_ROUND_MS = 1000;
const EXCHANGE_TIMEOUT_MS = 3000;

/** Consul's texts (structs.ErrNoDCPath): no server of that datacenter is known. */
export class NoDcPathError extends CairnError {
  readonly code = "no_dc_path";
  override name = "NoDcPathError";
  constructor() {
    super("No path to datacenter");
  }
}

/** Consul's structs.ErrDCNotAvailable: its servers are known, and none answers. */
export class DcUnavailableError extends CairnError {
  readonly code = "dc_unavailable";
  override name = "DcUnavailableError";
  constructor() {
    super("Remote DC has no server currently reachable");
  }
}

export interface WanOptions {
  readonly nodeId: string;
  readonly nodeName: string;
  readonly datacenter: string;
  readonly bindHost: string;
  readonly port: number;
  readonly advertiseHost: string;
  /** WAN addresses "host:port" of servers of other datacenters. */
  readonly retryJoinWan: readonly string[];
  readonly tls?: MutualTlsSettings | undefined;
  readonly log: (level: "debug" | "info" | "warn" | "error", msg: string) => void;
}

interface Known {
  record: WanServer;
  /** Round-trip time of the exchanges, smoothed; undefined until one succeeded. */
  rttMs: number | undefined;
  failed: boolean;
}

export class WanPool {
  readonly self: WanServer;
  private readonly known = new Map<number, Known>();
  private readonly timer: NodeJS.Timeout;
  private running = false;
  private stopped = false;

  private constructor(
    private readonly transport: TcpTransport,
    private readonly identity: NodeIdentity,
    addr: string,
    private readonly o: WanOptions,
    private readonly dial: ReturnType<typeof transportTls>["dial"] | undefined,
  ) {
    this.self = {
      raftId: identity.raftId,
      nodeId: o.nodeId,
      name: o.nodeName,
      datacenter: o.datacenter,
      addr,
    };
    serve(transport, WAN.exchange, async (r) => {
      this.learn([r.from, ...r.known]);
      return { from: this.self, known: this.records() };
    });
    this.timer = setInterval(() => void this.round(), WAN_ROUND_MS);
    this.timer.unref();
    void this.round();
  }

  /** Listens on the WAN port; rejects when it cannot. */
  static async start(o: WanOptions): Promise<WanPool> {
    const identity: NodeIdentity = {
      nodeId: o.nodeId,
      raftId: raftIdOf(o.nodeId),
      name: `${o.nodeName}.${o.datacenter}`,
      datacenter: WAN_POOL,
      version: VERSION,
    };
    const tls = o.tls === undefined ? undefined : transportTls(o.tls);
    const transport = new TcpTransport({
      identity,
      rng: new SeededRng(identity.raftId ^ Date.now()),
      log: (level, m) => o.log(level === "info" ? "debug" : level === "error" ? "warn" : level, `wan: ${m}`),
      tls,
      backoffMsMax: 1000,
    });
    const bound = await transport.listen(o.bindHost, o.port);
    return new WanPool(transport, identity, `${o.advertiseHost}:${bound.port}`, o, tls?.dial);
  }

  /** The WAN transport: forwarded requests from other datacenters arrive on it. */
  get rpc(): TcpTransport {
    return this.transport;
  }

  /** The servers of other datacenters (`members -wan`): as they told of themselves, and whether they answer. */
  otherServers(): { readonly record: WanServer; readonly failed: boolean }[] {
    return [...this.known.values()]
      .filter((k) => k.record.datacenter !== this.self.datacenter)
      .map((k) => ({ record: k.record, failed: k.failed }));
  }

  /** Every datacenter known, this one first, then by the round-trip time to their nearest live server. */
  datacenters(): string[] {
    const best = new Map<string, number>();
    for (const k of this.known.values()) {
      const dc = k.record.datacenter;
      if (dc === this.o.datacenter) continue;
      const rtt = k.failed || k.rttMs === undefined ? Number.POSITIVE_INFINITY : k.rttMs;
      best.set(dc, Math.min(best.get(dc) ?? Number.POSITIVE_INFINITY, rtt));
    }
    const others = [...best.entries()]
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
      .map(([dc]) => dc);
    return [this.o.datacenter, ...others];
  }

  /** How to reach datacenter `dc`: its live servers, nearest first (ForwardVia of agent/forward-client.ts). */
  via(dc: string): ServerCalls {
    return {
      call: (method, request, timeoutMs, idempotent) =>
        this.callDc(dc, method, request, timeoutMs, idempotent),
      callOn: (server, method, request, timeoutMs) => this.callOn(server, method, request, timeoutMs),
    };
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.transport.close();
  }

  private async callDc<Req, Res>(
    dc: string,
    method: RpcMethod<Req, Res>,
    request: Req,
    timeoutMs: number,
    idempotent: boolean,
  ): Promise<{ answer: Res; server: number }> {
    const servers = [...this.known.values()].filter((k) => k.record.datacenter === dc);
    if (servers.length === 0) throw new NoDcPathError();
    const live = servers
      .filter((k) => !k.failed)
      .sort((a, b) => (a.rttMs ?? Number.POSITIVE_INFINITY) - (b.rttMs ?? Number.POSITIVE_INFINITY));
    for (const k of live) {
      try {
        return {
          answer: await this.callOn(k.record.raftId, method, request, timeoutMs),
          server: k.record.raftId,
        };
      } catch (e) {
        // Only a call that never reached the server, or a read, may go to the next one.
        if (!(e instanceof UnreachableError)) throw e;
        if (!idempotent && e.message.includes("connection lost")) throw e;
      }
    }
    throw new DcUnavailableError();
  }

  private async callOn<Req, Res>(
    server: number,
    method: RpcMethod<Req, Res>,
    request: Req,
    timeoutMs: number,
  ) {
    try {
      return await call(this.transport, server, method, request, timeoutMs);
    } catch (e) {
      const k = this.known.get(server);
      if (e instanceof UnreachableError && k !== undefined && !k.failed) {
        k.failed = true;
        this.o.log("info", `wan: server ${k.record.name}.${k.record.datacenter} failed: ${errorText(e)}`);
      }
      throw e;
    }
  }

  private records(): WanServer[] {
    return [...this.known.values()].filter((k) => !k.failed).map((k) => k.record);
  }

  private learn(records: readonly WanServer[]): void {
    for (const r of records) {
      if (r.raftId === this.self.raftId) continue;
      const had = this.known.get(r.raftId);
      if (had !== undefined && had.record.addr === r.addr && had.record.datacenter === r.datacenter) continue;
      // Another server now listens where a known one did: forget the old one.
      for (const [id, k] of this.known)
        if (k.record.addr === r.addr && id !== r.raftId) this.known.delete(id);
      this.known.set(r.raftId, { record: r, rttMs: had?.rttMs, failed: had?.failed ?? false });
      this.transport.setPeer(r.raftId, r.addr);
      if (had === undefined)
        this.o.log("info", `wan: found server ${r.name} of datacenter ${r.datacenter} at ${r.addr}`);
    }
  }

  private async round(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      await this.probeJoins();
      await Promise.all([...this.known.keys()].map((id) => this.exchange(id)));
    } finally {
      this.running = false;
    }
  }

  /** -retry-join-wan addresses no live server is known at: probe them, then exchange to learn their datacenter. */
  private async probeJoins(): Promise<void> {
    const live = new Set([...this.known.values()].filter((k) => !k.failed).map((k) => k.record.addr));
    for (const addr of this.o.retryJoinWan) {
      if (live.has(addr) || addr === this.self.addr) continue;
      try {
        const id = await probe(this.identity, addr, 2000, this.dial);
        if (id.nodeId === this.o.nodeId) continue;
        this.transport.setPeer(id.raftId, addr);
        const answer = await call(
          this.transport,
          id.raftId,
          WAN.exchange,
          this.request(),
          EXCHANGE_TIMEOUT_MS,
        );
        this.learn([{ ...answer.from, addr }, ...answer.known]);
      } catch (e) {
        this.o.log("debug", `wan: joining ${addr}: ${errorText(e)}`);
      }
    }
  }

  private request(): { from: WanServer; known: WanServer[] } {
    return { from: this.self, known: this.records() };
  }

  private async exchange(id: number): Promise<void> {
    const k = this.known.get(id);
    if (k === undefined) return;
    const t0 = performance.now();
    try {
      const answer = await call(this.transport, id, WAN.exchange, this.request(), EXCHANGE_TIMEOUT_MS);
      const rtt = performance.now() - t0;
      k.rttMs = k.rttMs === undefined ? rtt : 0.7 * k.rttMs + 0.3 * rtt;
      if (k.failed) this.o.log("info", `wan: server ${k.record.name}.${k.record.datacenter} is alive`);
      k.failed = false;
      this.learn(answer.known);
    } catch (e) {
      if (!k.failed)
        this.o.log("info", `wan: server ${k.record.name}.${k.record.datacenter} failed: ${errorText(e)}`);
      k.failed = true;
    }
  }
}
