/**
 * A server's side of its client agents: it answers their heartbeats (passing each on to the leader, whose
 * ClientReconciler keeps their serfHealth checks) with the servers and members it knows, deregisters a client that
 * leaves, and answers the HTTP requests they forward (forward-serve.ts).
 */
import { AclNotFoundError } from "../acl/index.js";
import { AclResolver } from "../api/acl-resolve.js";
import { CLIENT_FAILURE_MS, ClientReconciler } from "../api/client-reconcile.js";
import type { ServerService } from "../api/service.js";
import type { HttpRequest, HttpResponse } from "../http/index.js";
import type { ServerRecord } from "../server/members.js";
import type { RaftServer } from "../server/raft-server.js";
import { call, serve } from "../server/rpc.js";
import type { ClientBeat } from "../server/rpc-http.js";
import { FORWARD } from "../server/rpc-methods.js";
import { errorText } from "../util/errors.js";
import { ForwardServer } from "./forward-serve.js";

export interface ServerClientsOptions {
  readonly raft: RaftServer;
  readonly service: ServerService;
  readonly datacenter: string;
  /** Answers a forwarded request as this agent's HTTP listener would. */
  readonly answer: (req: HttpRequest, headers: Readonly<Record<string, string>>) => Promise<HttpResponse>;
  readonly bodyBytesMax: number;
  /** A client failed this long is reaped (reconnect_timeout). */
  readonly reconnectTimeoutMs: number;
  readonly log: (level: "debug" | "info" | "warn", msg: string) => void;
}

/** Leader-bound calls from a follower give up after this long: the client's next heartbeat tries again. */
const TO_LEADER_MS = 3000;
/** The boot id a forced leave names: no client process has it (theirs are UUIDs). */
const FORCED_BOOT_ID = "force-leave";

export class ServerClients {
  readonly reconciler: ClientReconciler;
  private readonly forward: ForwardServer;

  constructor(private readonly o: ServerClientsOptions) {
    const { raft, service } = o;
    this.reconciler = new ClientReconciler(
      {
        isLeader: () => raft.raw.raft.role === "leader",
        datacenter: o.datacenter,
        reads: () => raft.kv.catalogReads,
        register: (r) => service.catalogRegister(r),
        deregister: (r) => service.catalogDeregister(r),
        log: o.log,
      },
      CLIENT_FAILURE_MS,
      o.reconnectTimeoutMs,
    );
    raft.leadershipListeners.add((leader) => this.reconciler.leadershipChanged(leader));
    serve(raft.transport, FORWARD.clientAlive, async (beat) => {
      await this.toLeader(beat, (b) => this.reconciler.alive(b), FORWARD.clientAlive);
      return { servers: this.servers(), members: service.members() };
    });
    serve(raft.transport, FORWARD.clientLeave, async (r) => {
      await this.leave(r.node, r.bootId);
      return { ok: true };
    });
    // The server's own replica answers, as it answers its own requests' tokens (no leader round).
    const acl = new AclResolver(() => service.acl.aclSettings(), service.acl, o.datacenter);
    serve(raft.transport, FORWARD.aclResolve, async ({ secret }) => {
      try {
        const r = acl.resolution(secret);
        const policies = r.policies.map(({ ID, Name, Rules, ModifyIndex }) => ({
          ID,
          Name,
          Rules,
          ModifyIndex,
        }));
        return { found: true, ...r, policies, identities: [...r.identities] };
      } catch (e) {
        if (!(e instanceof AclNotFoundError)) throw e;
        return { found: false, accessorId: "", anonymous: false, policies: [], identities: [] };
      }
    });
    this.forward = new ForwardServer(raft.transport, { answer: o.answer, bodyBytesMax: o.bodyBytesMax });
  }

  /**
   * `force-leave` of client `node`: the leader deregisters it as if it had left. No process of the client is
   * known to have ended, so no boot id is barred: a client still alive registers again at its next heartbeat.
   */
  forceLeave(node: string): Promise<void> {
    return this.leave(node, FORCED_BOOT_ID);
  }

  /** A client left (or was forced to): on the leader, or passed on to it. */
  private async leave(node: string, bootId: string): Promise<void> {
    const { raft } = this.o;
    if (raft.raw.raft.role === "leader") await this.reconciler.left(node, bootId);
    else {
      await call(
        raft.transport,
        await raft.waitForLeader(),
        FORWARD.clientLeave,
        { node, bootId },
        TO_LEADER_MS,
      );
    }
  }

  /** Forwarded requests in progress: parked blocking queries, and the others. */
  forwardCounts(): { readonly parked: number; readonly active: number } {
    return this.forward.counts();
  }

  stop(): void {
    this.reconciler.stop();
    this.forward.close();
  }

  /** The servers of the raft configuration whose addresses this server knows, itself included. */
  private servers(): ServerRecord[] {
    const { raft } = this.o;
    const r = raft.raw.raft;
    const ids = new Set([...r.voters, ...r.learners]);
    const out = [raft.self];
    for (const [id, p] of raft.peers) if (ids.has(id) && id !== raft.self.raftId) out.push(p);
    return out;
  }

  private async toLeader(
    beat: ClientBeat,
    here: (b: ClientBeat) => void,
    method: typeof FORWARD.clientAlive,
  ): Promise<void> {
    const { raft } = this.o;
    if (raft.raw.raft.role === "leader") {
      here(beat);
      return;
    }
    const leader = raft.raw.raft.leader;
    if (leader === 0 || leader === raft.self.raftId) return;
    try {
      await call(raft.transport, leader, method, beat, TO_LEADER_MS);
    } catch (e) {
      this.o.log("debug", `client ${beat.node}: passing its heartbeat to the leader: ${errorText(e)}`);
    }
  }
}
