/**
 * Dialing a peer: TCP connect, then the handshake (handshake.ts), bounded by a timeout. Shared by the long-lived
 * raft connection (peer-link.ts) and the one-off snapshot connections (snapshot.ts).
 */
import { connect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { NodeId } from "../raft/types.js";
import { AddressError, HandshakeError, UnreachableError } from "./errors.js";
import { encodeFrame, type Frame, FrameDecoder, FrameType } from "./frame.js";
import {
  type ConnectionPurpose,
  decodeIdentity,
  encodeHello,
  HANDSHAKE_BYTES_MAX,
  HANDSHAKE_PROTO,
  refuseHelloOk,
} from "./handshake.js";
import type { TransportTls } from "./tls.js";
import type { NodeIdentity } from "./transport.js";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const utf8Strict = new TextDecoder("utf-8", { fatal: false });

/** Parses "host:port" or "[v6]:port". Throws AddressError on anything else. */
export function parseAddress(addr: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(addr);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AddressError(`cannot parse peer address "${addr}": want "host:port" with port 1-65535`);
  }
  if (m?.[1] !== undefined && isIP(host) !== 6) throw new AddressError(`cannot parse peer address "${addr}"`);
  return { host, port };
}

export function formatAddress(a: HostPort): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export interface DialOptions {
  readonly local: NodeIdentity;
  readonly addr: string;
  readonly expectRaftId: NodeId;
  readonly purpose: ConnectionPurpose;
  readonly frameBytesMax: number;
  readonly handshakeTimeoutMs: number;
  /** TLS options when servers speak mutual TLS (tls.ts); absent: plain TCP. */
  readonly tls?: TransportTls["dial"] | undefined;
  /** Called with the socket as soon as it exists, so the transport's close() can destroy it mid-dial too. */
  readonly track: (socket: Socket) => void;
}

/** A connection past its handshake. The socket is paused: the caller attaches its listeners, then resumes it. */
export interface Dialed {
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  readonly peer: NodeIdentity;
  /** Frames that arrived in the same chunk as the handshake answer, in order. */
  readonly leftover: readonly Frame[];
}

/**
 * Connects and handshakes. Rejects with UnreachableError (connect failed, closed, timed out) or HandshakeError
 * (refused by the peer, or the peer is not who we expected), never leaving a socket open.
 */
export function dial(o: DialOptions): Promise<Dialed> {
  const { host, port } = parseAddress(o.addr);
  return new Promise<Dialed>((resolve, reject) => {
    const socket: Socket =
      o.tls === undefined ? connect({ host, port }) : tlsConnect({ ...o.tls, host, port });
    o.track(socket);
    const decoder = new FrameDecoder(HANDSHAKE_BYTES_MAX);
    let settled = false;
    let lastError = "connection closed during the handshake";
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      fail(
        new UnreachableError(
          o.expectRaftId,
          `handshake with "${o.addr}" timed out after ${o.handshakeTimeoutMs} ms`,
        ),
      );
    }, o.handshakeTimeoutMs);
    socket.setNoDelay(true);
    // Over TLS the hello waits for the TLS handshake, which checked the peer's certificate.
    socket.on(o.tls === undefined ? "connect" : "secureConnect", () => {
      const hello = { proto: HANDSHAKE_PROTO, ...o.local, purpose: o.purpose, expectRaftId: o.expectRaftId };
      socket.write(encodeFrame(FrameType.hello, encodeHello(hello)));
    });
    // Stays attached for the socket's life, so an error between resolve and the caller's listeners is not fatal.
    socket.on("error", (err) => {
      lastError = err.message;
    });
    socket.on("close", () => fail(new UnreachableError(o.expectRaftId, `"${o.addr}": ${lastError}`)));
    const onData = (chunk: Buffer): void => {
      try {
        const frames = decoder.push(chunk);
        const first = frames[0];
        if (first === undefined) return;
        const peer = answer(o, socket, first);
        settled = true;
        clearTimeout(timer);
        socket.off("data", onData);
        socket.pause();
        decoder.setFrameBytesMax(o.frameBytesMax);
        resolve({ socket, decoder, peer, leftover: frames.slice(1) });
      } catch (err) {
        fail(err instanceof Error ? err : new Error(String(err)));
      }
    };
    socket.on("data", onData);
  });
}

/** Checks the listener's answer; throws HandshakeError when it refused us or is not the node we dialed. */
function answer(o: DialOptions, socket: Socket, f: Frame): NodeIdentity {
  if (f.type === FrameType.refuse) {
    throw new HandshakeError(`"${o.addr}" refused the handshake: ${utf8Strict.decode(f.payload)}`);
  }
  if (f.type !== FrameType.helloOk) {
    throw new HandshakeError(`"${o.addr}" answered the handshake with frame type ${f.type}`);
  }
  const peer = decodeIdentity(f.payload, "handshake answer");
  const why = refuseHelloOk(o.local, o.expectRaftId, peer);
  if (why !== null) {
    socket.end(encodeFrame(FrameType.refuse, new TextEncoder().encode(why)));
    throw new HandshakeError(`refusing "${o.addr}": ${why}`);
  }
  return peer;
}
