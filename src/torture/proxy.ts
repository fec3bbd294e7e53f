/**
 * The torture's network: a userspace TCP proxy in front of each server's RPC port, so links between servers can
 * be cut, delayed or reset one way at a time.
 *
 * How links are told apart: server j listens on `127.0.2.j` and advertises `127.0.1.j` (the same port), where
 * this proxy listens; every server dials every other through its advertised address, so all server-to-server
 * traffic crosses a proxy. The dialer is named by the transport's first frame (`hello`, JSON with its node
 * name), which the proxy decodes before forwarding anything; so a link is (dialer, listener) for the bytes the
 * dialer sends, and (listener, dialer) for the answers. A one-way cut of a→b therefore drops every byte a sends
 * to b on every connection between them, whoever dialed it, while b's bytes to a still flow.
 *
 * The handshake frames (`hello`, `helloOk`/`refuse`) always pass: a cut takes effect on the frames after them.
 * Dropped bytes are never followed by later bytes on the same connection (the direction stays silent until the
 * connection closes), so a receiver only ever sees a frame stream that stops; healing a cut closes the
 * connections it silenced, and the transports reconnect.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { decodeHello } from "../transport/handshake.js";

const HEADER_BYTES = 5;
/** The handshake frame is bounded by the transport far below this; a longer one is not a server. */
const HANDSHAKE_BYTES_MAX = 4096;

export type LinkMode =
  | { readonly kind: "ok" }
  | { readonly kind: "cut" }
  | { readonly kind: "delay"; readonly ms: number };

const OK: LinkMode = { kind: "ok" };

/** One direction of one proxied connection: bytes from `from` to `to`. */
class Pipe {
  /** Bytes of the first frame still to forward before link rules apply (-1: header not read yet). */
  private handshakeLeft = -1;
  private head: Buffer = Buffer.alloc(0);
  /** Set once a byte was dropped: this direction stays silent for the rest of the connection. */
  silenced = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly out: Socket,
    private readonly mode: (from: string, to: string) => LinkMode,
  ) {}

  push(chunk: Buffer): void {
    if (this.handshakeLeft !== 0) {
      chunk = this.passHandshake(chunk);
      if (chunk.length === 0) return;
    }
    const mode = this.silenced ? { kind: "cut" as const } : this.mode(this.from, this.to);
    if (mode.kind === "cut") {
      this.silenced = true;
      return;
    }
    if (mode.kind === "ok") {
      this.chain = this.chain.then(() => void this.write(chunk));
      return;
    }
    // Delayed: in order, each chunk held `ms` after it arrived.
    const due = Date.now() + mode.ms;
    this.chain = this.chain.then(
      () =>
        new Promise<void>((res) =>
          setTimeout(
            () => {
              this.write(chunk);
              res();
            },
            Math.max(0, due - Date.now()),
          ),
        ),
    );
  }

  private write(chunk: Buffer): void {
    if (!this.out.destroyed) this.out.write(chunk);
  }

  /** Forwards the first frame's bytes at once and returns what follows them in `chunk`. */
  private passHandshake(chunk: Buffer): Buffer {
    if (this.handshakeLeft === -1) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < HEADER_BYTES) return Buffer.alloc(0);
      this.handshakeLeft = HEADER_BYTES + Math.min(this.head.readUInt32BE(0), HANDSHAKE_BYTES_MAX);
      chunk = this.head;
      this.head = Buffer.alloc(0);
    }
    const now = chunk.subarray(0, this.handshakeLeft);
    this.handshakeLeft -= now.length;
    this.write(now);
    return chunk.subarray(now.length);
  }
}

interface Conn {
  readonly a: Socket;
  readonly b: Socket;
  readonly up: Pipe;
  readonly down: Pipe;
}

/** The proxy in front of one server: accepts on its advertised address, forwards to where it listens. */
class ServerProxy {
  private server: Server | null = null;

  constructor(
    readonly name: string,
    private readonly listenHost: string,
    private readonly targetHost: string,
    readonly port: number,
    private readonly net: ProxyNet,
  ) {}

  async start(): Promise<void> {
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((res, rej) => {
      server.once("error", rej);
      server.listen(this.port, this.listenHost, () => res());
    });
    this.server = server;
  }

  private accept(client: Socket): void {
    client.on("error", () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      if (head.length < HEADER_BYTES) return;
      const len = head.readUInt32BE(0);
      if (len > HANDSHAKE_BYTES_MAX) {
        client.destroy();
        return;
      }
      if (head.length < HEADER_BYTES + len) return;
      client.off("data", onData);
      let dialer: string;
      try {
        dialer = decodeHello(head.subarray(HEADER_BYTES, HEADER_BYTES + len)).name;
      } catch {
        client.destroy();
        return;
      }
      this.bridge(client, dialer, head);
    };
    client.on("data", onData);
  }

  private bridge(client: Socket, dialer: string, first: Buffer): void {
    const upstream = connect({ host: this.targetHost, port: this.port });
    const mode = (from: string, to: string): LinkMode => this.net.mode(from, to);
    const conn: Conn = {
      a: client,
      b: upstream,
      up: new Pipe(dialer, this.name, upstream, mode),
      down: new Pipe(this.name, dialer, client, mode),
    };
    this.net.conns.add(conn);
    const close = (): void => {
      this.net.conns.delete(conn);
      client.destroy();
      upstream.destroy();
    };
    upstream.on("error", close);
    upstream.on("close", close);
    client.on("close", close);
    client.on("error", close);
    client.on("data", (d: Buffer) => conn.up.push(d));
    upstream.on("data", (d: Buffer) => conn.down.push(d));
    conn.up.push(first);
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s !== null) await new Promise<void>((res) => s.close(() => res()));
  }
}

/** Every server's proxy, and the mode of every directed link between servers. */
export class ProxyNet {
  readonly conns = new Set<Conn>();
  private readonly modes = new Map<string, LinkMode>();
  private readonly proxies: ServerProxy[] = [];

  mode(from: string, to: string): LinkMode {
    return this.modes.get(`${from}>${to}`) ?? OK;
  }

  async add(name: string, advertiseHost: string, bindHost: string, port: number): Promise<void> {
    const p = new ServerProxy(name, advertiseHost, bindHost, port, this);
    await p.start();
    this.proxies.push(p);
  }

  /** Sets the link from → to; leaving a cut closes the connections it silenced, so both ends reconnect. */
  set(from: string, to: string, mode: LinkMode): void {
    const key = `${from}>${to}`;
    if (mode.kind === "ok") this.modes.delete(key);
    else this.modes.set(key, mode);
    if (mode.kind !== "cut") {
      for (const c of [...this.conns]) {
        if (
          (c.up.silenced && c.up.from === from && c.up.to === to) ||
          (c.down.silenced && c.down.from === from && c.down.to === to)
        ) {
          c.a.destroy();
          c.b.destroy();
        }
      }
    }
  }

  /** Resets every connection between a and b (either direction), as a flaky network would. */
  reset(a: string, b: string): number {
    let n = 0;
    for (const c of [...this.conns]) {
      if ((c.up.from === a && c.up.to === b) || (c.up.from === b && c.up.to === a)) {
        c.a.destroy();
        c.b.destroy();
        n++;
      }
    }
    return n;
  }

  healAll(): void {
    for (const key of [...this.modes.keys()]) {
      const [from, to] = key.split(">") as [string, string];
      this.set(from, to, OK);
    }
  }

  async stop(): Promise<void> {
    for (const c of [...this.conns]) {
      c.a.destroy();
      c.b.destroy();
    }
    await Promise.all(this.proxies.map((p) => p.stop()));
  }
}
