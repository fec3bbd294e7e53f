/**
 * The leader's reconciliation of the servers into the catalog (consul-compat.md §8.4 "Without gossip", §8.7),
 * in the place of Consul's serf-driven leader loop (agent/consul/leader.go reconcile*):
 * - every server in the raft configuration is a node (its address, lan/wan tagged addresses), with the
 *   `consul` service (port = server RPC port, Consul's Meta) and the `serfHealth` node check;
 * - serfHealth is passing while the leader has heard from the server within `failureMs` (any raft message:
 *   heartbeat answers arrive every heartbeat interval), critical ("Agent not live or unreachable") after; a new
 *   leader that has not heard from a server yet keeps its status as the catalog has it for `failureMs` (a dead
 *   server does not flap back to passing at every election);
 * - a node that carries the `consul` service but is no longer in the configuration (it left, or was removed)
 *   is deregistered with everything on it, as Consul reaps left members.
 * A pass runs when this server becomes leader, when the membership or a server's liveness changes, and every
 * `fullIntervalMs` (Consul's reconcile_interval, 60 s); it proposes only what differs from the catalog. A
 * restore alone does not trigger a pass, so an archive saved right after a restore has the restored records.
 */
import {
  type CatalogDeregisterRequest,
  type CatalogReads,
  type CatalogRegisterRequest,
  type CheckSpec,
  type HealthCheckJson,
  type NodeJson,
  SERF_ALIVE_OUTPUT,
  SERF_CHECK_ID,
  SERF_CHECK_NAME,
  SERF_FAILED_OUTPUT,
  type ServiceJson,
  type ServiceSpec,
} from "../fsm/index.js";
import { errorText } from "../util/errors.js";

export interface ServerMember {
  readonly nodeId: string;
  readonly name: string;
  /** Server RPC address "host:port". */
  readonly addr: string;
  readonly voter: boolean;
}

/** What the reconciler needs from the server. Contract: `register`/`deregister` commit through Raft. */
export interface ReconcileHost {
  isLeader(): boolean;
  readonly selfName: string;
  readonly datacenter: string;
  readonly version: string;
  members(): ServerMember[];
  /** Servers in the raft configuration whose name and address this leader has not learned yet. */
  unknownMembers(): number;
  /** Wall-clock ms when the leader last heard from the server (undefined: never). */
  lastHeardMs(name: string): number | undefined;
  reads(): CatalogReads;
  register(req: CatalogRegisterRequest): Promise<void>;
  deregister(req: CatalogDeregisterRequest): Promise<void>;
  log(level: "info" | "warn", msg: string): void;
}

export interface ReconcileOptions {
  readonly failureMs: number;
  readonly tickMs: number;
  readonly fullIntervalMs: number;
}

/** failureMs: about what memberlist's suspicion takes to declare a member of a small LAN pool dead. */
export const RECONCILE_DEFAULTS: ReconcileOptions = { failureMs: 5000, tickMs: 500, fullIntervalMs: 60_000 };

function hostPort(addr: string): [string, number] {
  const m = /^(.*):(\d+)$/.exec(addr);
  return m === null ? [addr, 8300] : [(m[1] as string).replace(/^\[|\]$/g, ""), Number(m[2])];
}

/** The node registration Consul's leader writes for a server (node, `consul` service, serfHealth). */
export function serverRegistration(
  m: ServerMember,
  alive: boolean,
  dc: string,
  version: string,
): CatalogRegisterRequest {
  const [host, port] = hostPort(m.addr);
  const service: ServiceSpec = {
    ID: "consul",
    Service: "consul",
    Tags: [],
    Address: "",
    TaggedAddresses: {},
    Meta: {
      non_voter: String(!m.voter),
      raft_version: "3",
      read_replica: "false",
      serf_protocol_current: "2",
      serf_protocol_max: "5",
      serf_protocol_min: "1",
      version,
    },
    Port: port,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Kind: "",
  };
  const check: CheckSpec = {
    Node: m.name,
    CheckID: SERF_CHECK_ID,
    Name: SERF_CHECK_NAME,
    Status: alive ? "passing" : "critical",
    Notes: "",
    Output: alive ? SERF_ALIVE_OUTPUT : SERF_FAILED_OUTPUT,
    ServiceID: "",
    Type: "",
    Definition: {},
  };
  return {
    ID: m.nodeId,
    Node: m.name,
    Address: host,
    Datacenter: dc,
    TaggedAddresses: { lan: host, lan_ipv4: host, wan: host, wan_ipv4: host },
    NodeMeta: { "consul-network-segment": "" },
    Service: service,
    Checks: [check],
    SkipNodeUpdate: false,
  };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function nodeDiffers(want: CatalogRegisterRequest, have: NodeJson | undefined): boolean {
  return (
    have === undefined ||
    have.ID !== want.ID ||
    have.Address !== want.Address ||
    !same(have.TaggedAddresses, want.TaggedAddresses) ||
    !same(have.Meta, want.NodeMeta)
  );
}

function serviceDiffers(want: ServiceSpec, have: ServiceJson | undefined): boolean {
  return have === undefined || have.Port !== want.Port || !same(have.Meta, want.Meta);
}

function checkDiffers(want: CheckSpec, have: HealthCheckJson | undefined): boolean {
  return have === undefined || have.Status !== want.Status || have.Output !== want.Output;
}

export class CatalogReconciler {
  private timer: NodeJS.Timeout | undefined;
  private leaderSinceMs = 0;
  /** What the last pass saw: the member set and who was alive; a change triggers a pass. */
  private seen = "";
  private lastFullMs = 0;
  private running = false;
  /** Resolves once a pass completed in this term of leadership (sessions wait for it, bounded). */
  private firstPass: Promise<void> = Promise.resolve();
  private resolveFirst: () => void = () => {};

  constructor(
    private readonly host: ReconcileHost,
    private readonly o: ReconcileOptions = RECONCILE_DEFAULTS,
  ) {}

  leadershipChanged(leader: boolean): void {
    if (leader && this.timer === undefined) {
      this.leaderSinceMs = Date.now();
      this.seen = "";
      this.firstPass = new Promise((resolve) => {
        this.resolveFirst = resolve;
      });
      this.timer = setInterval(() => void this.tick(), this.o.tickMs);
      this.timer.unref();
      void this.tick();
    } else if (!leader && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.resolveFirst();
    }
  }

  /** Waits (at most `ms`) until the leader registered the servers, so their sessions find serfHealth. */
  async reconciled(ms: number): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.firstPass, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
    clearTimeout(t);
  }

  /** true alive, false failed, null not known yet (a new leader's first `failureMs`). */
  private alive(m: ServerMember, now: number): boolean | null {
    if (m.name === this.host.selfName) return true;
    const heard = this.host.lastHeardMs(m.name);
    if (heard !== undefined && now - heard < this.o.failureMs) return true;
    return now - this.leaderSinceMs < this.o.failureMs ? null : false;
  }

  private async tick(): Promise<void> {
    if (this.running || !this.host.isLeader()) return;
    const now = Date.now();
    const members = this.host.members();
    const alive = members.map((m) => this.alive(m, now));
    const unknown = this.host.unknownMembers();
    const seen = JSON.stringify([unknown, members.map((m, i) => [m.name, m.addr, m.voter, alive[i]])]);
    if (seen === this.seen && now - this.lastFullMs < this.o.fullIntervalMs) return;
    this.running = true;
    try {
      await this.pass(members, alive);
      this.seen = seen;
      this.lastFullMs = now;
      // Sessions wait for every server's node: not done while a member is still nameless (skipped above).
      if (unknown === 0) this.resolveFirst();
    } catch (e) {
      this.host.log("warn", `catalog: reconcile failed: ${errorText(e)}`);
    } finally {
      this.running = false;
    }
  }

  private async pass(members: ServerMember[], alive: (boolean | null)[]): Promise<void> {
    const { selfName, datacenter, version } = this.host;
    for (const [i, m] of members.entries()) {
      const reads = this.host.reads();
      const have = reads.nodeServices(m.name).value;
      const check = reads.healthNode(m.name).value.find((c) => c.CheckID === SERF_CHECK_ID);
      const live = alive[i] ?? check?.Status !== "critical";
      const want = serverRegistration(m, live, datacenter, version);
      const differs =
        nodeDiffers(want, have?.Node) ||
        serviceDiffers(want.Service as ServiceSpec, have?.Services.consul) ||
        checkDiffers(want.Checks[0] as CheckSpec, check);
      if (!differs) continue;
      if (m.name !== selfName && check?.Status !== want.Checks[0]?.Status) {
        this.host.log("info", `catalog: server ${m.name} serfHealth ${want.Checks[0]?.Status}`);
      }
      await this.host.register(want);
    }
    const names = new Set(members.map((m) => m.name));
    for (const s of this.host.reads().service("consul", []).value) {
      if (names.has(s.Node)) continue;
      this.host.log("info", `catalog: deregistering server ${s.Node}, no longer a member`);
      await this.host.deregister({ Node: s.Node, Datacenter: datacenter, ServiceID: "", CheckID: "" });
    }
  }
}
