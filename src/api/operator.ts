/**
 * The status, operator and agent views of the ServerApi over one RaftServer: the raft configuration (a
 * consistent one asked of the leader), remove-peer, transfer-leader, autopilot health, agent self and members,
 * and a graceful leave.
 */
import { NONE } from "../raft/index.js";
import type { RaftServer } from "../server/raft-server.js";
import { call, serve } from "../server/rpc.js";
import { type RaftConfigurationAnswer, RPC, RPC_HOLD_TIMEOUT_MS } from "../server/rpc-methods.js";
import { InvalidWriteError } from "../server/write-answer.js";
import { UnavailableError } from "../util/errors.js";
import { VERSION } from "../util/version.js";
import type { AgentInfo, MemberInfo, RaftServerInfo, ServerHealth } from "./types.js";

/** Consul's autopilot: a server this many entries behind the leader is unhealthy (MaxTrailingLogs). */
const MAX_TRAILING_LOGS = 250;
/** How long a leaving server waits to see itself out of the configuration. */
const LEAVE_WAIT_MS = 10_000;

export interface OperatorOptions {
  readonly raft: RaftServer;
  readonly datacenter: string;
  /** Called once a graceful leave has completed, to stop the agent. */
  readonly onLeave: () => void;
}

export class OperatorEndpoints {
  private readonly raft: RaftServer;
  private readonly datacenter: string;
  private readonly onLeave: () => void;
  private readonly startedAt = new Date().toISOString();

  constructor(o: OperatorOptions) {
    this.raft = o.raft;
    this.datacenter = o.datacenter;
    this.onLeave = o.onLeave;
    serve(o.raft.transport, RPC.remove, async ({ raftId }) => {
      if (this.raft.raw.raft.role !== "leader") throw new UnavailableError("not the leader");
      this.raft.proposeConfChange({ type: "remove", node: raftId });
      return true;
    });
    serve(o.raft.transport, RPC.raftConfiguration, () => this.raftConfiguration(true));
  }

  leaderAddress(): string {
    const leader = this.raft.raw.raft.leader;
    return leader === NONE ? "" : (this.raft.peers.get(leader)?.addr ?? "");
  }

  peers(): string[] {
    return this.raft.raw.raft.voters.map((id) => this.raft.peers.get(id)?.addr ?? "").filter((a) => a !== "");
  }

  async raftConfiguration(stale: boolean): Promise<RaftConfigurationAnswer> {
    const r = this.raft.raw.raft;
    if (!stale && r.role !== "leader") {
      const leader = await this.raft.waitForLeader();
      if (leader !== this.raft.self.raftId) {
        return await call(this.raft.transport, leader, RPC.raftConfiguration, null, RPC_HOLD_TIMEOUT_MS);
      }
    }
    const st = this.raft.status();
    const servers = [
      ...r.voters.map((id) => [id, true] as const),
      ...r.learners.map((id) => [id, false] as const),
    ].map(([id, voter]): RaftServerInfo => {
      const p = this.raft.peers.get(id);
      const lastIndex = id === this.raft.self.raftId ? st.lastIndex : (st.matches.get(id) ?? 0);
      return {
        id: p?.nodeId ?? String(id),
        node: p?.name ?? "(unknown)",
        address: p?.addr ?? "",
        leader: id === r.leader,
        voter,
        protocolVersion: "3",
        lastIndex,
      };
    });
    return { servers, index: st.commit };
  }

  async removePeer(by: { readonly id: string } | { readonly address: string }): Promise<void> {
    const match = [...this.raft.peers.values()].find((p) =>
      "id" in by ? p.nodeId === by.id : p.addr === by.address,
    );
    if (match === undefined) {
      throw new InvalidWriteError(
        "id" in by
          ? `id "${by.id}" was not found in the Raft configuration`
          : `address "${by.address}" was not found in the Raft configuration`,
      );
    }
    await this.raft.waitForLeader();
    if (this.raft.raw.raft.role !== "leader")
      throw new UnavailableError("remove-peer must be sent to the leader");
    this.raft.proposeConfChange({ type: "remove", node: match.raftId });
  }

  async transferLeader(id: string | null): Promise<boolean> {
    const r = this.raft.raw.raft;
    if (r.role !== "leader") throw new UnavailableError("transfer-leader must be sent to the leader");
    const target = id === null ? null : [...this.raft.peers.values()].find((p) => p.nodeId === id);
    if (id !== null && target === undefined)
      throw new InvalidWriteError(`server id "${id}" is not in the configuration`);
    if (target) this.raft.raw.transferLeadership(target.raftId);
    else await this.raft.transferIfLeader(0);
    this.raft.kick();
    return true;
  }

  async autopilotHealth(stale: boolean) {
    const cfg = await this.raftConfiguration(stale);
    const leader = cfg.servers.find((s) => s.leader);
    const lastIndex = leader?.lastIndex ?? 0;
    const servers: ServerHealth[] = cfg.servers.map((s) => ({
      id: s.id,
      name: s.node,
      address: s.address,
      serfStatus: "alive",
      version: VERSION,
      leader: s.leader,
      lastContactMs: 0,
      lastTerm: this.raft.raw.raft.term,
      lastIndex: s.lastIndex,
      healthy: s.leader || lastIndex - s.lastIndex <= MAX_TRAILING_LOGS,
      voter: s.voter,
      stableSince: this.startedAt,
    }));
    const voters = servers.filter((s) => s.voter);
    const healthyVoters = voters.filter((s) => s.healthy).length;
    const quorum = Math.floor(voters.length / 2) + 1;
    return {
      healthy: leader !== undefined && servers.every((s) => s.healthy),
      failureTolerance: Math.max(0, healthyVoters - quorum),
      servers,
    };
  }

  agentSelf(): AgentInfo {
    const r = this.raft.raw.raft;
    const st = this.raft.status();
    return {
      datacenter: this.datacenter,
      nodeName: this.raft.self.name,
      nodeId: this.raft.self.nodeId,
      server: true,
      version: VERSION,
      revision: "cairn",
      rpcAddress: this.raft.self.addr,
      leader: r.role === "leader",
      stats: {
        consul: { leader: String(r.role === "leader"), server: "true", known_datacenters: "1" },
        raft: {
          state: r.role === "leader" ? "Leader" : r.role === "follower" ? "Follower" : "Candidate",
          term: String(st.term),
          commit_index: String(st.commit),
          applied_index: String(st.applied),
          last_log_index: String(st.lastIndex),
          num_peers: String(Math.max(0, r.voters.length - 1)),
        },
      },
    };
  }

  members(): MemberInfo[] {
    const r = this.raft.raw.raft;
    return [...r.voters, ...r.learners].map((id) => {
      const p = this.raft.peers.get(id);
      const [host, port] = (p?.addr ?? ":8300").split(/:(?=\d+$)/);
      return {
        name: p?.name ?? String(id),
        addr: host ?? "",
        port: Number(port ?? 8300),
        status: 1,
        tags: {
          role: "consul",
          build: `${VERSION}:cairn`,
          dc: this.datacenter,
          id: p?.nodeId ?? "",
          port: port ?? "8300",
          vsn: "2",
          raft_vsn: "3",
        },
      };
    });
  }

  /** Hands over leadership, leaves the raft configuration (through the leader), then stops the agent. */
  async leave(): Promise<void> {
    const self = this.raft.self.raftId;
    await this.raft.transferIfLeader(5000);
    const leader = await this.raft.waitForLeader();
    const r = this.raft.raw.raft;
    if (r.voters.length + r.learners.length > 1) {
      if (leader === self) this.raft.proposeConfChange({ type: "remove", node: self });
      else await call(this.raft.transport, leader, RPC.remove, { raftId: self }, RPC_HOLD_TIMEOUT_MS);
      const deadline = Date.now() + LEAVE_WAIT_MS;
      const member = () =>
        this.raft.raw.raft.voters.includes(self) || this.raft.raw.raft.learners.includes(self);
      while (member() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      if (member()) throw new UnavailableError("timed out leaving the raft configuration");
    }
    setImmediate(() => this.onLeave());
  }
}
