/**
 * The catalog and health part of the ServerApi: writes validated (catalog.ts) then committed through Raft
 * (forwarded to the leader like every write), reads in the three consistency modes with blocking queries
 * keyed on Consul's indexes (fsm catalog-reads.ts). ServerService delegates its catalog methods here.
 */
import {
  type CatalogDeregisterRequest,
  type CatalogRead,
  type CatalogReads,
  type CatalogRegisterRequest,
  type CommandResult,
  type HealthCheckJson,
  type HealthState,
  type KvCommand,
  type KvStore,
  type NodeJson,
  type NodeServicesJson,
  preApplyDeregister,
  preApplyRegister,
  type ReadSpec,
  reads,
  type ServiceEntryJson,
  type ServiceNodeJson,
} from "../fsm/index.js";
import type { RaftServer } from "../server/raft-server.js";
import type { ReconcileHost } from "./catalog-reconcile.js";
import type { CatalogQueryOptions, Queried, QueryOptions } from "./types.js";

export interface CatalogHost {
  readonly datacenter: string;
  readonly kv: KvStore;
  /** A read in the request's consistency mode, blocking as Consul's (blocking.ts). */
  query<T extends { index: number }>(q: QueryOptions, spec: ReadSpec<T>): Promise<Queried<T>>;
  /** Commits a command through the leader; the store's refusals come back as its typed errors. */
  propose(cmd: KvCommand): Promise<CommandResult>;
}

export class CatalogEndpoints {
  constructor(private readonly host: CatalogHost) {}

  private async read<T>(q: QueryOptions, f: (r: CatalogReads) => CatalogRead<T>): Promise<Queried<T>> {
    const r = await this.host.query(q, reads.catalog(this.host.kv, f));
    return { meta: r.meta, value: r.value.value };
  }

  private async write(cmd: KvCommand): Promise<void> {
    const r = await this.host.propose(cmd);
    if (r instanceof Error) throw r;
  }

  register(req: CatalogRegisterRequest): Promise<void> {
    return this.write({ op: "catalog-register", req: preApplyRegister(req, this.host.datacenter), time: 0 });
  }

  deregister(req: CatalogDeregisterRequest): Promise<void> {
    return this.write({
      op: "catalog-deregister",
      req: preApplyDeregister(req, this.host.datacenter),
      time: 0,
    });
  }

  nodes(q: CatalogQueryOptions): Promise<Queried<NodeJson[]>> {
    return this.read(q, (r) => r.nodes(q.nodeMeta));
  }

  services(q: CatalogQueryOptions): Promise<Queried<Record<string, string[]>>> {
    return this.read(q, (r) => r.services(q.nodeMeta));
  }

  service(
    name: string,
    tags: readonly string[],
    q: CatalogQueryOptions,
  ): Promise<Queried<ServiceNodeJson[]>> {
    return this.read(q, (r) => r.service(name, tags, q.nodeMeta));
  }

  nodeServices(node: string, q: QueryOptions): Promise<Queried<NodeServicesJson | null>> {
    return this.read(q, (r) => r.nodeServices(node));
  }

  healthNode(node: string, q: QueryOptions): Promise<Queried<HealthCheckJson[]>> {
    return this.read(q, (r) => r.healthNode(node));
  }

  healthChecks(service: string, q: QueryOptions): Promise<Queried<HealthCheckJson[]>> {
    return this.read(q, (r) => r.healthChecks(service));
  }

  healthService(
    service: string,
    tags: readonly string[],
    passing: boolean,
    q: CatalogQueryOptions,
  ): Promise<Queried<ServiceEntryJson[]>> {
    return this.read(q, (r) => r.healthService(service, tags, passing, q.nodeMeta));
  }

  healthState(state: HealthState, q: QueryOptions): Promise<Queried<HealthCheckJson[]>> {
    return this.read(q, (r) => r.healthState(state));
  }
}

/** The reconciler's view of a RaftServer: the configuration's members, who was heard from when, the catalog. */
export function reconcileHost(
  raft: RaftServer,
  catalog: CatalogEndpoints,
  datacenter: string,
  version: string,
): ReconcileHost {
  return {
    isLeader: () => raft.raw.raft.role === "leader",
    selfName: raft.self.name,
    datacenter,
    version,
    members: () => {
      const r = raft.raw.raft;
      const ids = [
        ...r.voters.map((id) => [id, true] as const),
        ...r.learners.map((id) => [id, false] as const),
      ];
      return ids.flatMap(([id, voter]) => {
        const p = raft.peers.get(id);
        return p === undefined ? [] : [{ nodeId: p.nodeId, name: p.name, addr: p.addr, voter }];
      });
    },
    unknownMembers: () => {
      const r = raft.raw.raft;
      return [...r.voters, ...r.learners].filter((id) => !raft.peers.has(id)).length;
    },
    lastHeardMs: (name) => {
      const p = [...raft.peers.values()].find((x) => x.name === name);
      return p === undefined ? undefined : raft.lastHeardMs.get(p.raftId);
    },
    reads: () => raft.kv.catalogReads,
    register: (req) => catalog.register(req),
    deregister: (req) => catalog.deregister(req),
    log: (level, msg) => raft.log(level, msg),
  };
}
