/**
 * The KV, session and txn part of the ServerApi, over a StoreHost: how a read waits and how a command commits
 * is the host's (ServerService: Raft, forwarded to the leader; MemoryServer: applied in-process), and everything
 * else is here once, so a test through the in-memory twin runs the same endpoint rules as a server.
 */
import {
  type KvCommand,
  normalizeBehavior,
  reads,
  type SessionEntry,
  type TxnOp,
  type TxnSuccess,
  validateSessionTtl,
} from "../fsm/index.js";
import { InvalidWriteError } from "../server/write-answer.js";
import type { CatalogHost } from "./catalog.js";
import { sessionSpecOf } from "./sessions.js";
import type { QueryOptions, SessionRequest } from "./types.js";

/** What the endpoints need of their server; the catalog's part (catalog.ts) is the same host. */
export interface StoreHost extends CatalogHost {
  /** The node a session is created on when the request names none: this agent's. */
  readonly nodeName: string;
  /**
   * Whether a session create is checked against the catalog (its node and checks must exist and not be
   * critical). A server's always are; the in-memory twin has no servers registering themselves, so its are not.
   */
  readonly checkSessions: boolean;
}

export class StoreEndpoints {
  constructor(private readonly host: StoreHost) {}

  kvGet(key: string, q: QueryOptions) {
    return this.host.query(q, reads.kvGet(this.host.kv, key));
  }

  kvList(prefix: string, q: QueryOptions) {
    return this.host.query(q, reads.kvList(this.host.kv, prefix));
  }

  kvKeys(prefix: string, separator: string, q: QueryOptions) {
    return this.host.query(q, reads.kvKeys(this.host.kv, prefix, separator));
  }

  sessionInfo(id: string, q: QueryOptions) {
    return this.host.query(q, reads.sessionInfo(this.host.kv, id));
  }

  sessionList(q: QueryOptions) {
    return this.host.query(q, reads.sessionList(this.host.kv));
  }

  sessionNode(node: string, q: QueryOptions) {
    return this.host.query(q, reads.sessionNode(this.host.kv, node));
  }

  async kvWrite(cmd: KvCommand): Promise<boolean> {
    const r = await this.host.propose(cmd);
    if (typeof r !== "boolean")
      throw r instanceof Error ? r : new InvalidWriteError(`unexpected result of ${cmd.op}`);
    return r;
  }

  async sessionCreate(req: SessionRequest): Promise<string> {
    const session = sessionSpecOf(req, this.host.nodeName);
    // Consul's endpoint checks these before Raft, so a refused create uses no index; Behavior first, as it does.
    const behavior = normalizeBehavior(session.Behavior);
    const bad = behavior instanceof Error ? behavior : validateSessionTtl(session.TTL);
    if (bad instanceof Error) throw bad;
    const cmd: KvCommand = this.host.checkSessions
      ? { op: "session-create", session, time: 0, checked: true }
      : { op: "session-create", session, time: 0 };
    const r = await this.host.propose(cmd);
    if (r instanceof Error) throw r;
    return session.ID;
  }

  async sessionDestroy(id: string): Promise<void> {
    const r = await this.host.propose({ op: "session-destroy", id, time: 0 });
    if (r instanceof Error) throw r;
  }

  async sessionRenew(id: string): Promise<SessionEntry | null> {
    const r = await this.host.propose({ op: "session-renew", id, time: 0 });
    if (r instanceof Error) throw r;
    return r === null || typeof r === "boolean" || "kind" in r ? null : r;
  }

  async txn(ops: readonly TxnOp[]): Promise<TxnSuccess> {
    const r = await this.host.propose({ op: "txn", ops, time: 0 });
    if (r instanceof Error) throw r;
    if (r === null || typeof r === "boolean" || !("kind" in r))
      throw new InvalidWriteError("txn: unexpected result");
    return r;
  }
}
