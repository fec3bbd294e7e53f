/**
 * Typed server-to-server calls over the transport's request/response frames. A method names its request and
 * response codecs once (src/server/rpc-methods.ts is the registry of every method), so a caller and a handler
 * cannot disagree on a shape, and a body that does not decode to the declared shape is refused on arrival with
 * the method's name instead of being cast and trusted.
 */
import type { NodeId } from "../raft/index.js";
import type { ReleaseAnswer, Transport } from "../transport/index.js";
import { CairnError } from "../util/errors.js";
import { assert } from "../util/index.js";

export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Throws RpcDecodeError when the bytes are not a T. */
  decode(bytes: Uint8Array): T;
}

export interface RpcMethod<Req, Res> {
  readonly name: string;
  readonly request: Codec<Req>;
  readonly response: Codec<Res>;
}

/** A body that does not have the method's declared shape. */
export class RpcDecodeError extends CairnError {
  readonly code = "rpc_decode";
  override name = "RpcDecodeError";
}

/** Registers `handler` for `method` on this server's transport. */
export function serve<Req, Res>(
  transport: Transport,
  method: RpcMethod<Req, Res>,
  handler: (request: Req, from: NodeId) => Promise<Res>,
): void {
  transport.onRequest(method.name, async (from, body) =>
    method.response.encode(await handler(decodeAs(method, "request", body), from)),
  );
}

/**
 * Registers `handler` for a method answering raw bytes that it lends (a pooled buffer): `release` gets each
 * answer back once the transport no longer reads it (Transport.onRequest), and never when it handed the bytes
 * to the caller itself.
 */
export function serveLent<Req>(
  transport: Transport,
  method: RpcMethod<Req, Uint8Array>,
  handler: (request: Req, from: NodeId) => Promise<Uint8Array>,
  release: ReleaseAnswer,
): void {
  // The answer must reach the transport as the handler's own bytes: rawBytes encodes nothing.
  assert(method.response === rawBytes, `rpc ${method.name}: a lent answer must be raw bytes`);
  transport.onRequest(method.name, (from, body) => handler(decodeAs(method, "request", body), from), release);
}

/** Calls `method` on server `to`; rejects as Transport.request does, or with RpcDecodeError on a bad answer. */
export async function call<Req, Res>(
  transport: Transport,
  to: NodeId,
  method: RpcMethod<Req, Res>,
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  const answer = await transport.request(to, method.name, method.request.encode(request), timeoutMs);
  return decodeAs(method, "response", answer);
}

function decodeAs<Req, Res, K extends "request" | "response">(
  method: RpcMethod<Req, Res>,
  part: K,
  bytes: Uint8Array,
): K extends "request" ? Req : Res {
  try {
    return method[part].decode(bytes) as K extends "request" ? Req : Res;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new RpcDecodeError(`rpc ${method.name}: bad ${part}: ${why}`);
  }
}

// ---- codecs ----

/** The body as it is: for methods whose payload is already an encoded form (a raft command, a blob chunk). */
export const rawBytes: Codec<Uint8Array> = { encode: (v) => v, decode: (b) => b };

/** No body. */
export const empty: Codec<null> = {
  encode: () => new Uint8Array(0),
  decode: (b) => {
    if (b.length !== 0) throw new RpcDecodeError(`expected no body, got ${b.length} bytes`);
    return null;
  },
};

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** JSON checked on decode by `check`, which returns the typed value or throws with what is wrong. */
export function json<T>(check: (v: unknown) => T): Codec<T> {
  return {
    encode: (v) => utf8.encode(JSON.stringify(v)),
    decode: (b) => check(JSON.parse(utf8Strict.decode(b))),
  };
}

// ---- shape checks for json(): each returns the value typed, or throws naming the path ----

export type Check<T> = (v: unknown, path?: string) => T;

function fail(path: string, want: string, v: unknown): never {
  throw new RpcDecodeError(`${path || "body"}: expected ${want}, got ${v === null ? "null" : typeof v}`);
}

export const str: Check<string> = (v, p = "") => (typeof v === "string" ? v : fail(p, "a string", v));
export const bool: Check<boolean> = (v, p = "") => (typeof v === "boolean" ? v : fail(p, "a boolean", v));
/** A safe integer (indexes, offsets, raft ids). */
export const int: Check<number> = (v, p = "") =>
  typeof v === "number" && Number.isSafeInteger(v) ? v : fail(p, "an integer", v);

export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (v, p) => (v === undefined ? undefined : check(v, p));
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, p) => (v === null ? null : check(v, p));
}

export function arrayOf<T>(check: Check<T>): Check<T[]> {
  return (v, p = "") => (Array.isArray(v) ? v.map((x, i) => check(x, `${p}[${i}]`)) : fail(p, "an array", v));
}

/** A JSON object with these fields (others are ignored, so a newer server may add fields). */
export function object<S extends Record<string, Check<unknown>>>(
  fields: S,
): Check<{ -readonly [K in keyof S]: ReturnType<S[K]> }> {
  return (v, p = "") => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) fail(p, "an object", v);
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, check] of Object.entries(fields)) {
      const value = check(o[k], p === "" ? k : `${p}.${k}`);
      if (value !== undefined) out[k] = value;
    }
    return out as { -readonly [K in keyof S]: ReturnType<S[K]> };
  };
}

/**
 * Calls to a set of servers: `call` picks one (failing over to another when `idempotent` or the call never
 * reached it) and says which answered, `callOn` goes to that one again (a forwarded request's later parts).
 * A client agent's link to its servers and the WAN pool's route to a datacenter both answer to it.
 */
export interface ServerCalls {
  call<Req, Res>(
    method: RpcMethod<Req, Res>,
    request: Req,
    timeoutMs: number,
    idempotent: boolean,
  ): Promise<{ readonly answer: Res; readonly server: number }>;
  callOn<Req, Res>(
    server: number,
    method: RpcMethod<Req, Res>,
    request: Req,
    timeoutMs: number,
  ): Promise<Res>;
}
