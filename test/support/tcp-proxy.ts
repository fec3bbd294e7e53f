/**
 * Test support: a TCP proxy on 127.0.0.1 in front of a local server, to see and to break what a client sends on
 * the wire: it keeps the bytes clients send (to check the headers a request carried), and can cut any connection
 * once its client has sent more than a given number of bytes (a network that fails mid-upload).
 */
import { once } from "node:events";
import { type AddressInfo, createConnection, createServer, type Socket } from "node:net";

/** Bytes of client traffic kept for `sent()`: enough for the small requests whose headers tests read. */
const RECORD_BYTES_MAX = 32 * 1024 * 1024;

export interface TcpProxyOptions {
  /** Cut (destroy both sides of) a connection once its client has sent more than this many bytes. */
  readonly cutAfterBytes?: number;
}

export interface TcpProxy {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** What clients sent so far, as latin1 text (headers read as written; bodies as noise). */
  sent(): string;
  /** How many connections were cut. */
  cuts(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(upstreamPort: number, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const recorded: Buffer[] = [];
  let recordedBytes = 0;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: upstreamPort });
    sockets.add(client);
    sockets.add(upstream);
    let sentBytes = 0;
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => {
      if (recordedBytes < RECORD_BYTES_MAX) {
        recorded.push(chunk);
        recordedBytes += chunk.length;
      }
      sentBytes += chunk.length;
      if (options.cutAfterBytes !== undefined && sentBytes > options.cutAfterBytes) {
        cuts++;
        cut();
        return;
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once("drain", () => client.resume());
      }
    });
    client.on("end", () => upstream.end());
    upstream.pipe(client);
    for (const s of [client, upstream]) {
      s.on("error", cut);
      s.on("close", () => {
        sockets.delete(s);
        cut();
      });
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    sent: () => Buffer.concat(recorded).toString("latin1"),
    cuts: () => cuts,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}
