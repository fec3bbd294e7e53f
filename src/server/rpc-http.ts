/**
 * The shapes of two families of calls that reach a server from outside its raft group: an HTTP request carried
 * over the server RPC transport (a client agent forwarding what it does not answer itself), and a client agent's
 * heartbeat and leave. The registry (rpc-methods.ts) names the methods; this file holds their codecs.
 *
 * A forwarded request is an exchange of several calls, so that neither its body nor its answer ever has to fit in
 * one frame (a snapshot restore or save can be hundreds of MB): `start` carries the head and the first chunk of
 * the body, `send` each further chunk, and the answer comes back as parts (`next` pulls each after the first).
 */

import { serverRecord } from "./members.js";
import {
  arrayOf,
  bool,
  type Check,
  type Codec,
  int,
  json,
  nullable,
  object,
  RpcDecodeError,
  str,
} from "./rpc.js";

/** Bytes of body carried in one call, well under the transport's 64 MiB frame. */
export const FORWARD_CHUNK_BYTES = 1024 * 1024;

/** A string → string map (headers, tags, node meta), checked entry by entry. */
export const strMap: Check<Record<string, string>> = (v, p = "") => {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new RpcDecodeError(`${p || "body"}: expected an object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = str(x, `${p}.${k}`);
  return out;
};

/** JSON fields plus raw bytes in one body: [u32 length of the JSON][JSON][bytes]; no base64 on the hot path. */
export function withBytes<T>(
  check: (v: unknown) => T,
): Codec<{ readonly head: T; readonly bytes: Uint8Array }> {
  const inner = json(check);
  return {
    encode: ({ head, bytes }) => {
      const h = inner.encode(head);
      const out = new Uint8Array(4 + h.length + bytes.length);
      new DataView(out.buffer).setUint32(0, h.length);
      out.set(h, 4);
      out.set(bytes, 4 + h.length);
      return out;
    },
    decode: (b) => {
      if (b.length < 4) throw new RpcDecodeError(`expected at least 4 bytes, got ${b.length}`);
      const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
      if (4 + n > b.length) throw new RpcDecodeError(`header of ${n} bytes runs past the body (${b.length})`);
      return { head: inner.decode(b.subarray(4, 4 + n)), bytes: b.subarray(4 + n) };
    },
  };
}

/** The request line and headers of a forwarded request, and whether `bytes` is the whole body. */
export interface ForwardStart {
  /** Chosen by the caller (a UUID); names the exchange in the calls that follow. */
  readonly id: string;
  readonly method: string;
  /** Raw (still %-encoded), as the router expects it. */
  readonly path: string;
  /** The query string without "?". */
  readonly query: string;
  /** Header names in lower case. */
  readonly headers: Record<string, string>;
  readonly bodyDone: boolean;
  /**
   * Non-empty: a blocking request whose answer may be parked (forward-serve.ts) rather than hold a call; names the
   * caller whose `http.ready` polls learn when it is answered.
   */
  readonly parkAs: string;
}

export const forwardStart = object({
  id: str,
  method: str,
  path: str,
  query: str,
  headers: strMap,
  bodyDone: bool,
  parkAs: str,
});

/** A further chunk of the body (`bytes`); `done` on the last. */
export const forwardSend = object({ id: str, done: bool });
export const forwardId = object({ id: str });

/**
 * A part of the answer. `head` comes with the first part; `done` says the body ends with these bytes. `head` null
 * (before `done` of the request body): the server has not answered yet and wants the rest of the body.
 */
export interface ForwardPart {
  readonly head: { readonly status: number; readonly headers: Record<string, string> } | null;
  readonly done: boolean;
  /** The answer is not ready; the caller learns from `http.ready` when to pull it with `http.next`. */
  readonly parked: boolean;
}

export const forwardPart = object({
  head: nullable(object({ status: int, headers: strMap })),
  done: bool,
  parked: bool,
});

/** A caller's poll for its parked exchanges that are answered: at most `max` ids, waiting up to `waitMs`. */
export const forwardReady = object({ caller: str, max: int, waitMs: int });
export const forwardReadyAnswer = object({ ids: arrayOf(str) });

/** A client agent's heartbeat: the node it is, as the leader registers it with serfHealth. */
export const clientBeat = object({
  /** New at every start of the client process: a leave ends that process's beats, not a later one's. */
  bootId: str,
  nodeId: str,
  node: str,
  address: str,
  taggedAddresses: strMap,
  meta: strMap,
});

export type ClientBeat = ReturnType<typeof clientBeat>;

/** A member as `members` lists it (serf.Member's fields cairn has). */
export const memberRecord = object({ name: str, addr: str, port: int, status: int, tags: strMap });

/** What a heartbeat learns: the servers of the datacenter (to fail over to) and every member, for `members`. */
export const clientBeatAnswer = object({ servers: arrayOf(serverRecord), members: arrayOf(memberRecord) });

/** A server of the WAN pool: its WAN address, and the datacenter it serves (server/wan.ts). */
export const wanServer = object({ raftId: int, nodeId: str, name: str, datacenter: str, addr: str });
export type WanServer = ReturnType<typeof wanServer>;

/** What a WAN exchange carries either way: who calls (or answers), and the live servers it knows. */
export const wanExchange = object({ from: wanServer, known: arrayOf(wanServer) });

/** What a token stands for, as a server resolves it for a client agent (api/acl-resolve.ts AclResolution). */
export const aclResolution = object({
  /** False: no token has this secret (Consul's "ACL not found"). */
  found: bool,
  accessorId: str,
  anonymous: bool,
  policies: arrayOf(object({ ID: str, Name: str, Rules: str, ModifyIndex: int })),
  identities: arrayOf(str),
});
