import { join } from "node:path";
import { KvStore } from "../fsm/index.js";
import { DiskWal, FileStableStore, openDataDir } from "../storage/index.js";
import {
  type MutualTlsSettings,
  type NodeIdentity,
  probe,
  TcpTransport,
  type TransportTls,
  transportTls,
} from "../transport/index.js";
import { realClock } from "../util/clock.js";
import { CairnError, errorText } from "../util/errors.js";
import { SeededRng } from "../util/rng.js";
import { BlobStore } from "./blobs.js";
import { agentIdentity, encodeMemberContext, type ServerRecord } from "./members.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { RaftServer } from "./raft-server.js";
import { call, serve } from "./rpc.js";
import { RPC, RPC_HOLD_TIMEOUT_MS } from "./rpc-methods.js";

export type { MutualTlsSettings };

export type LogFn = (level: "debug" | "info" | "warn" | "error", msg: string) => void;

export interface ServerBootOptions {
  readonly dataDir: string;
  readonly nodeName: string;
  readonly datacenter: string;
  /** Address the server RPC listener binds. */
  readonly bindHost: string;
  readonly serverPort: number;
  /** Address other servers reach this one at (host only). */
  readonly advertiseHost: string;
  readonly bootstrapExpect: number;
  /** Server RPC addresses "host[:port]" of other servers. */
  readonly retryJoin: readonly string[];
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Applied entries between two state-store snapshots. */
  readonly snapshotThreshold: number;
  /** Entries kept in the log behind a snapshot. */
  readonly trailingEntries: number;
  readonly log: LogFn;
  /** Mutual TLS with the other servers (tls.internal_rpc); absent: plain TCP. */
  readonly tls?: MutualTlsSettings | undefined;
}

export interface RunningServer {
  readonly raft: RaftServer;
  readonly metrics: Metrics;
  /** The bound server RPC address. */
  readonly rpcAddress: string;
  /** Graceful stop: a leader hands over leadership first. */
  stop(): Promise<void>;
  /** PUT /v1/agent/join/<addr> (Discovery.joinAddress). Rejects with JoinError. */
  join(addr: string): Promise<void>;
}

/** A join that could not be made: Consul answers such failures with 500 and the reason. */
export class JoinError extends CairnError {
  readonly code = "join_failed";
  override name = "JoinError";
}

/** Opens the data dir, starts the transport and the raft server, and discovers the other servers. */
export async function startServer(o: ServerBootOptions): Promise<RunningServer> {
  const dd = await openDataDir(o.dataDir, { nodeName: o.nodeName, log: (m) => o.log("warn", m) });
  const cleanup: (() => Promise<void>)[] = [() => dd.close()];
  try {
    const wal = await DiskWal.open(dd.path, { log: (m: string) => o.log("warn", m) });
    cleanup.unshift(() => wal.close());
    const stable = await FileStableStore.open(dd.path);
    cleanup.unshift(() => stable.close());
    const identity = agentIdentity(dd.nodeId, o.nodeName, o.datacenter);
    const rng = new SeededRng(identity.raftId ^ Date.now());
    const tls = o.tls === undefined ? undefined : transportTls(o.tls);
    const transport = new TcpTransport({
      identity,
      rng,
      log: (level, m) => o.log(level, `transport: ${m}`),
      tls,
    });
    const bound = await transport.listen(o.bindHost, o.serverPort);
    cleanup.unshift(() => transport.close());
    const self: ServerRecord = {
      raftId: identity.raftId,
      nodeId: dd.nodeId,
      name: o.nodeName,
      addr: `${o.advertiseHost}:${bound.port}`,
    };
    const metrics = createMetrics();
    const blobs = await BlobStore.open(dd.path, transport);
    const raft = await RaftServer.start({
      blobs,
      self,
      wal,
      stable,
      kv: new KvStore(),
      transport,
      clock: realClock,
      rng,
      metrics,
      log: o.log,
      tickMs: o.tickMs,
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      holdTimeoutMs: RPC_HOLD_TIMEOUT_MS,
      snapshotThreshold: o.snapshotThreshold,
      peersJsonPath: join(dd.raftDir, "peers.json"),
      trailingEntries: o.trailingEntries,
    });
    cleanup.unshift(() => raft.stop());
    const discovery = new Discovery(tls, raft, identity, o);
    discovery.start();
    let stopping = false;
    return {
      raft,
      metrics,
      rpcAddress: self.addr,
      join: (addr) => discovery.joinAddress(addr),
      async stop() {
        if (stopping) return;
        stopping = true;
        discovery.stop();
        await raft.transferIfLeader(3000);
        for (const c of cleanup) await c().catch((e: unknown) => o.log("warn", `shutdown: ${String(e)}`));
      },
    };
  } catch (e) {
    for (const c of cleanup) await c().catch(() => {});
    throw e;
  }
}

/**
 * Membership without gossip (docs/consul-compat.md §9): probe every -retry-join address for who is there. A server with no
 * state either joins an existing cluster (asks a member, which forwards to the leader, to add it as a non-voter)
 * or, with -bootstrap-expect N, once N servers are seen, the one with the lowest raft id bootstraps them all.
 */
class Discovery {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly tls: TransportTls | undefined,
    private readonly raft: RaftServer,
    private readonly identity: NodeIdentity,
    private readonly o: ServerBootOptions,
  ) {
    serve(raft.transport, RPC.join, (r) => this.handleJoin(r));
    serve(raft.transport, RPC.introduce, async (records) => {
      for (const r of records) if (r.nodeId !== identity.nodeId) raft.learnPeer(r);
      return { ok: true };
    });
    serve(raft.transport, RPC.info, async () => ({
      hasState: raft.hasState(),
      leader: raft.raw.raft.leader,
    }));
  }

  start(): void {
    this.timer = setInterval(() => void this.round(), 1000);
    void this.round();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async round(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const found = await this.probeAll();
      if (this.raft.hasState()) return;
      const infos = await Promise.all(found.map((r) => this.info(r)));
      const member = found.find((_, i) => infos[i]?.hasState === true);
      if (member !== undefined) await this.join(member);
      else if (this.o.bootstrapExpect > 0) await this.maybeBootstrap(found);
    } catch (e) {
      this.o.log("debug", `discovery: ${errorText(e)}`);
    } finally {
      this.running = false;
    }
  }

  private async probeAll(): Promise<ServerRecord[]> {
    const found: ServerRecord[] = [];
    for (const addr of this.o.retryJoin) {
      const full = /:\d+$/.test(addr) ? addr : `${addr}:8300`;
      if (full === this.raft.self.addr) continue;
      try {
        const id = await probe(this.identity, full, 2000, this.tls?.dial);
        if (id.nodeId === this.identity.nodeId) continue;
        const r: ServerRecord = { raftId: id.raftId, nodeId: id.nodeId, name: id.name, addr: full };
        this.raft.learnPeer(r);
        found.push(r);
      } catch (e) {
        this.o.log("debug", `discovery: ${full}: ${errorText(e)}`);
      }
    }
    return found;
  }

  private async info(r: ServerRecord): Promise<{ hasState: boolean } | null> {
    try {
      return await call(this.raft.transport, r.raftId, RPC.info, null, 2000);
    } catch {
      return null;
    }
  }

  private async maybeBootstrap(found: readonly ServerRecord[]): Promise<void> {
    const all = [this.raft.self, ...found].sort((a, b) => a.raftId - b.raftId);
    if (all.length < this.o.bootstrapExpect) return;
    if (all[0]!.raftId !== this.raft.self.raftId) return;
    await this.raft.bootstrap(all.slice(0, this.o.bootstrapExpect));
  }

  /**
   * An operator's join (`cairn join ADDR`): probes ADDR (server RPC, port 8300 by default) as a cairn server. A
   * server in a cluster asks the leader to add a fresh one (as a non-voter, promoted as -retry-join's are); a fresh
   * server joins the target's cluster. Two servers with state must already be in one cluster: Raft cannot merge two.
   */
  async joinAddress(addr: string): Promise<void> {
    const full = /:\d+$/.test(addr) ? addr : `${addr}:8300`;
    const fail = (why: string): JoinError => new JoinError(`Failed to join ${full}: ${why}`);
    let r: ServerRecord;
    try {
      const id = await probe(this.identity, full, 2000, this.tls?.dial);
      r = { raftId: id.raftId, nodeId: id.nodeId, name: id.name, addr: full };
    } catch (e) {
      throw fail(errorText(e));
    }
    if (r.nodeId === this.identity.nodeId) return;
    this.raft.learnPeer(r);
    const theirs = await this.info(r);
    if (theirs === null) throw fail("it did not answer as a cairn server");
    const cfg = this.raft.raw.raft;
    if (this.raft.hasState() && !theirs.hasState) await this.handleJoin(r);
    else if (!this.raft.hasState() && theirs.hasState) await this.join(r);
    else if (!this.raft.hasState())
      throw fail("neither server is in a cluster yet (bootstrap one: -bootstrap-expect)");
    else if (!cfg.voters.includes(r.raftId) && !cfg.learners.includes(r.raftId))
      throw fail("it is a server of another cluster (Raft cannot merge two clusters)");
  }

  private async join(member: ServerRecord): Promise<void> {
    await call(this.raft.transport, member.raftId, RPC.join, this.raft.self, 5000);
    this.o.log("info", `asked ${member.name} to add this server to the cluster`);
  }

  /** On any member: the leader adds the new server as a non-voter; others forward to the leader. */
  private async handleJoin(r: ServerRecord): Promise<{ ok: boolean }> {
    this.raft.learnPeer(r);
    const everyone = [this.raft.self, ...this.raft.peers.values()];
    try {
      await call(this.raft.transport, r.raftId, RPC.introduce, everyone, 5000);
    } catch (e) {
      this.o.log("debug", `discovery: introducing the servers to ${r.name}: ${errorText(e)}`);
    }
    const leader = await this.raft.waitForLeader();
    if (leader !== this.raft.self.raftId) {
      return await call(this.raft.transport, leader, RPC.join, r, 5000);
    }
    const cfg = this.raft.raw.raft;
    if (cfg.voters.includes(r.raftId) || cfg.learners.includes(r.raftId)) return { ok: true };
    this.raft.proposeConfChange({ type: "addLearner", node: r.raftId, context: encodeMemberContext(r) });
    return { ok: true };
  }
}
