/**
 * Every server-to-server call, in one table: its name on the wire and the codecs of its request and response.
 * Handlers register with `serve(transport, RPC.x, …)` and callers use `call(transport, to, RPC.x, …)`.
 */

import { serverRecord } from "./members.js";
import { arrayOf, bool, empty, int, json, object, type RpcMethod, rawBytes, str } from "./rpc.js";
import {
  aclResolution,
  clientBeat,
  clientBeatAnswer,
  forwardId,
  forwardPart,
  forwardReady,
  forwardReadyAnswer,
  forwardSend,
  forwardStart,
  wanExchange,
  withBytes,
} from "./rpc-http.js";
import { type WriteAnswer, writeAnswer } from "./write-answer.js";

/**
 * Consul's RPC hold timeout (7 s): how long a request waits for a leader, and a call forwarded to the leader
 * for its answer. Past it the client gets a 500 and the outcome of a write is unknown.
 */
export const RPC_HOLD_TIMEOUT_MS = 7000;

/** A server in the raft configuration, as `operator raft list-peers` shows it. */
export interface RaftServerInfo {
  /** The node id (UUID). */
  readonly id: string;
  readonly node: string;
  /** Server RPC address, "ip:port". */
  readonly address: string;
  readonly leader: boolean;
  readonly voter: boolean;
  readonly protocolVersion: string;
  readonly lastIndex: number;
}

export interface RaftConfigurationAnswer {
  readonly servers: readonly RaftServerInfo[];
  readonly index: number;
}

const raftServerInfo = object({
  id: str,
  node: str,
  address: str,
  leader: bool,
  voter: bool,
  protocolVersion: str,
  lastIndex: int,
});

function method<Req, Res>(
  name: string,
  request: RpcMethod<Req, Res>["request"],
  response: RpcMethod<Req, Res>["response"],
): RpcMethod<Req, Res> {
  return { name, request, response };
}

export const RPC = {
  /** A new server asks any member to be added; members forward to the leader, which adds it as a non-voter. */
  join: method("cluster.join", json(serverRecord), json(object({ ok: bool }))),
  /**
   * A member tells a joining server where every server is (itself included), so that the joiner can answer the
   * leader, which may be a server it never probed (an operator's join names one address).
   */
  introduce: method("cluster.introduce", json(arrayOf(serverRecord)), json(object({ ok: bool }))),
  /** Discovery asks a probed server whether it has raft state and whom it follows. */
  info: method("cluster.info", empty, json(object({ hasState: bool, leader: int }))),
  /** A leaving server asks the leader to remove it from the configuration. */
  remove: method("cluster.remove", json(object({ raftId: int })), json(bool)),
  /** A chunk of a blob (restore data) from the server that holds it. */
  blobRead: method("blob.read", json(object({ handle: str, offset: int })), rawBytes),
  /** A follower forwards a write (an encoded command) to the leader. */
  write: method<Uint8Array, WriteAnswer>("kv.write", rawBytes, json(writeAnswer)),
  /** A follower forwards a restore: the blob to fetch from `from`, then propose. */
  restore: method<{ handle: string; archiveIndex: number; from: number }, WriteAnswer>(
    "snapshot.restore",
    json(object({ handle: str, archiveIndex: int, from: int })),
    json(writeAnswer),
  ),
  /** The leader's view of the raft configuration, for a follower answering a consistent list-peers. */
  raftConfiguration: method<null, RaftConfigurationAnswer>(
    "operator.raftConfiguration",
    empty,
    json(object({ servers: arrayOf(raftServerInfo), index: int })),
  ),
  /**
   * The leader asks a member to fetch a restore's blob from `from` before it proposes the restore entry, so
   * that persisting the entry finds the blob there rather than stopping the member's Ready loop to fetch it.
   */
  blobPrefetch: method("blob.prefetch", json(object({ handle: str, from: arrayOf(int) })), json(bool)),
} as const;

/**
 * Calls from outside the raft group (rpc-http.ts): HTTP requests forwarded by client agents (and, across
 * datacenters, by servers), and client agents' heartbeats and leave.
 */
export const FORWARD = {
  /** The head and first body chunk; answers the first part of the response, or head null for more body. */
  start: method("http.start", withBytes(forwardStart), withBytes(forwardPart)),
  /** A further body chunk; answers as start does. */
  send: method("http.send", withBytes(forwardSend), withBytes(forwardPart)),
  /** The next part of the response body. */
  next: method("http.next", json(forwardId), withBytes(forwardPart)),
  /** Which of the caller's parked exchanges are answered (long poll, one per caller and server). */
  ready: method("http.ready", json(forwardReady), json(forwardReadyAnswer)),
  /** The caller went away: the server drops the exchange and stops producing its body. */
  cancel: method("http.cancel", json(forwardId), json(object({ ok: bool }))),
  /** A client agent is alive; any server takes it and tells the leader. */
  clientAlive: method("client.alive", json(clientBeat), json(clientBeatAnswer)),
  /** A client agent with ACLs asks what a token stands for, to enforce its own /v1/agent/* endpoints. */
  aclResolve: method("client.aclResolve", json(object({ secret: str })), json(aclResolution)),
  /** A client agent leaves: the leader deregisters its node. */
  clientLeave: method("client.leave", json(object({ node: str, bootId: str })), json(object({ ok: bool }))),
} as const;

/** The WAN pool's one call (server/wan.ts): servers of every datacenter tell each other whom they know. */
export const WAN = {
  exchange: method("wan.exchange", json(wanExchange), json(wanExchange)),
} as const;
