/**
 * Client agents in the catalog (docs/membership.md), beside the servers of catalog-reconcile.ts. A client tells
 * a server it is alive every second (`client.alive`); the server passes it on to the leader, whose registry of
 * heartbeats drives the client node's `serfHealth` check, as Consul's leader reconciles Serf members:
 * - heard within `failureMs`: passing, "Agent alive and reachable" (the node itself, if the catalog lacks it, is
 *   registered as the heartbeat describes it; anti-entropy registers the rest);
 * - not heard for `failureMs`: critical, "Agent not live or unreachable", which invalidates the sessions that
 *   depend on it (the fsm's session checks), releasing their locks;
 * - a client that left (`client.leave`): its node is deregistered with everything on it;
 * - a client failed for `reconnectMs` (Consul's `reconnect_timeout`, 72 h) is reaped: deregistered as one that
 *   left, as Consul's leader deregisters a member Serf reaped.
 * A new leader has heard from nobody: a client node it finds in the catalog keeps its status for `failureMs`,
 * then turns critical unless a heartbeat came. Members (`members`, on any server) are read from the catalog:
 * every node with a serfHealth check that is not a server.
 */
import {
  type CatalogDeregisterRequest,
  type CatalogReads,
  type CatalogRegisterRequest,
  type CheckSpec,
  SERF_ALIVE_OUTPUT,
  SERF_CHECK_ID,
  SERF_CHECK_NAME,
  SERF_FAILED_OUTPUT,
} from "../fsm/index.js";
import type { ClientBeat } from "../server/rpc-http.js";
import { errorText } from "../util/errors.js";
import { VERSION } from "../util/version.js";
import { RECONCILE_DEFAULTS } from "./catalog-reconcile.js";
import type { MemberInfo } from "./types.js";

export interface ClientReconcileHost {
  isLeader(): boolean;
  readonly datacenter: string;
  reads(): CatalogReads;
  /** Contract: commit through Raft. */
  register(req: CatalogRegisterRequest): Promise<void>;
  deregister(req: CatalogDeregisterRequest): Promise<void>;
  log(level: "info" | "warn", msg: string): void;
}

/** How long a client may go unheard before it is failed (the servers' failure time, catalog-reconcile.ts). */
export const CLIENT_FAILURE_MS = RECONCILE_DEFAULTS.failureMs;
const TICK_MS = 500;
/** Consul's reconnect_timeout default: a client failed this long is reaped. */
export const RECONNECT_TIMEOUT_MS = 72 * 3600_000;
/** How long a left client process's heartbeats are ignored: far longer than one can be in flight. */
const LEFT_BOOTS_MS = 60_000;

interface Heard {
  readonly beat: ClientBeat;
  readonly atMs: number;
}

const key = (node: string): string => node.toLowerCase();

/** The names of the nodes that run the `consul` service: the servers. */
function serverNames(reads: CatalogReads): Set<string> {
  return new Set(reads.service("consul", []).value.map((s) => key(s.Node)));
}

/** Client nodes as members: alive while serfHealth passes, failed once it is critical. */
export function clientMembers(reads: CatalogReads, datacenter: string): MemberInfo[] {
  const servers = serverNames(reads);
  const out: MemberInfo[] = [];
  for (const c of reads.healthState("any").value) {
    if (c.CheckID !== SERF_CHECK_ID || servers.has(key(c.Node))) continue;
    const node = reads.nodeServices(c.Node).value?.Node;
    if (node === undefined) continue;
    out.push({
      name: node.Node,
      addr: node.Address,
      port: 8301,
      status: c.Status === "critical" ? 4 : 1,
      tags: { role: "node", dc: datacenter, id: node.ID, build: `${VERSION}:cairn`, vsn: "2" },
    });
  }
  return out;
}

export class ClientReconciler {
  private readonly heard = new Map<string, Heard>();
  private readonly leaving = new Set<string>();
  /** Client processes that left, by boot id, and when: a heartbeat of theirs still in flight is ignored. */
  private readonly leftBoots = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private leaderSinceMs = 0;
  /** Passes run one at a time; at most one waits behind the running one (a change or a leave queues it). */
  private current: Promise<void> = Promise.resolve();
  private queued: Promise<void> | null = null;

  constructor(
    private readonly host: ClientReconcileHost,
    private readonly failureMs = CLIENT_FAILURE_MS,
    private readonly reconnectMs = RECONNECT_TIMEOUT_MS,
  ) {}

  /** A heartbeat reached the leader. */
  alive(beat: ClientBeat): void {
    if (this.leftBoots.has(beat.bootId)) return;
    const k = key(beat.node);
    this.leaving.delete(k);
    const was = this.heard.get(k);
    this.heard.set(k, { beat, atMs: Date.now() });
    if (was === undefined || Date.now() - was.atMs >= this.failureMs) void this.tick();
  }

  /** A client process left: its node is deregistered. */
  left(node: string, bootId: string): Promise<void> {
    const now = Date.now();
    for (const [b, at] of this.leftBoots) if (now - at > LEFT_BOOTS_MS) this.leftBoots.delete(b);
    this.leftBoots.set(bootId, now);
    const k = key(node);
    this.heard.delete(k);
    this.leaving.add(k);
    return this.tick();
  }

  leadershipChanged(leader: boolean): void {
    if (leader && this.timer === undefined) {
      this.leaderSinceMs = Date.now();
      this.timer = setInterval(() => void this.tick(), TICK_MS);
      this.timer.unref();
    } else if (!leader && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      // The next leader keeps its own registry: what this one heard is stale by the time it leads again.
      this.heard.clear();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves once a pass that started after this call has run. */
  private tick(): Promise<void> {
    if (!this.host.isLeader()) return Promise.resolve();
    if (this.queued !== null) return this.queued;
    const next = this.current.then(async () => {
      this.queued = null;
      try {
        if (this.host.isLeader()) await this.pass(Date.now());
      } catch (e) {
        this.host.log("warn", `catalog: reconciling client agents failed: ${errorText(e)}`);
      }
    });
    this.queued = next;
    this.current = next;
    return next;
  }

  private async pass(now: number): Promise<void> {
    const { datacenter } = this.host;
    for (const k of [...this.leaving]) {
      const node = this.host.reads().nodeServices(k).value?.Node.Node;
      if (node !== undefined) {
        this.host.log("info", `catalog: deregistering client ${node}, it left`);
        await this.host.deregister({ Node: node, Datacenter: datacenter, ServiceID: "", CheckID: "" });
      }
      this.leaving.delete(k);
    }
    const reads = this.host.reads();
    const servers = serverNames(reads);
    const seen = new Set<string>();
    for (const [k, h] of this.heard) {
      if (servers.has(k)) continue;
      seen.add(k);
      await this.ensure(reads, h.beat.node, now - h.atMs < this.failureMs, h.beat);
    }
    if (now - this.leaderSinceMs < this.failureMs) return;
    for (const c of reads.healthState("any").value) {
      if (c.CheckID !== SERF_CHECK_ID || servers.has(key(c.Node)) || seen.has(key(c.Node))) continue;
      await this.ensure(reads, c.Node, false, null);
    }
    await this.reap(now);
  }

  /**
   * Deregisters the clients failed for reconnectMs. A client this leader never heard is counted from
   * when it became leader: what an earlier leader heard is not known here.
   */
  private async reap(now: number): Promise<void> {
    const reads = this.host.reads();
    const servers = serverNames(reads);
    for (const c of reads.healthState("any").value) {
      if (c.CheckID !== SERF_CHECK_ID || c.Status !== "critical" || servers.has(key(c.Node))) continue;
      const since = this.heard.get(key(c.Node))?.atMs ?? this.leaderSinceMs;
      // Failed failureMs after it was last heard; reaped reconnectMs after that.
      if (now - since < this.failureMs + this.reconnectMs) continue;
      this.host.log("info", `catalog: reaping client ${c.Node}, failed for longer than reconnect_timeout`);
      this.heard.delete(key(c.Node));
      await this.host.deregister({
        Node: c.Node,
        Datacenter: this.host.datacenter,
        ServiceID: "",
        CheckID: "",
      });
    }
  }

  /** Registers the serfHealth status the client should have, if the catalog says otherwise. */
  private async ensure(
    reads: CatalogReads,
    node: string,
    alive: boolean,
    beat: ClientBeat | null,
  ): Promise<void> {
    const have = reads.nodeServices(node).value?.Node;
    const check = reads.healthNode(node).value.find((c) => c.CheckID === SERF_CHECK_ID);
    const status = alive ? "passing" : "critical";
    if (check?.Status === status) return;
    if (have === undefined && beat === null) return;
    const spec: CheckSpec = {
      Node: have?.Node ?? node,
      CheckID: SERF_CHECK_ID,
      Name: SERF_CHECK_NAME,
      Status: status,
      Notes: "",
      Output: alive ? SERF_ALIVE_OUTPUT : SERF_FAILED_OUTPUT,
      ServiceID: "",
      Type: "",
      Definition: {},
    };
    if (check !== undefined || !alive) this.host.log("info", `catalog: client ${node} serfHealth ${status}`);
    await this.host.register({
      ID: have?.ID ?? beat?.nodeId ?? "",
      Node: have?.Node ?? node,
      Address: have?.Address ?? beat?.address ?? "",
      Datacenter: this.host.datacenter,
      TaggedAddresses: have?.TaggedAddresses ?? beat?.taggedAddresses ?? {},
      NodeMeta: have?.Meta ?? beat?.meta ?? {},
      Service: null,
      Checks: [spec],
      SkipNodeUpdate: have !== undefined,
    });
  }
}
