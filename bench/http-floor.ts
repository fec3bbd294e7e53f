/**
 * node:http's own share of a parked request, for the watch benchmark: a bare node:http server (in a child
 * process started with --expose-gc, run as `node --expose-gc http-floor.js serve`) that keeps every request
 * and its response unanswered, measured as cairn's server is (heapUsed after two full collections, with the
 * requests held, less before). Blocking GETs of the same shape as bench/watch-engines.ts's, one keep-alive
 * socket each. What cairn holds per blocked query beyond this is its own; this much no handler can remove.
 */
import { fork } from "node:child_process";
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";

const OPEN_BATCH = 250;
const HOLD_WAIT_MS = 60_000;

type ToChild = "measure" | "count";
type FromChild = { port: number } | { heapUsed: number; held: number };

/**
 * The child: a bare server holding every request; answers "measure" with its heap after two collections, and
 * "count" with how many it holds (the heap figure then as it is).
 */
function serve(): void {
  const held: [IncomingMessage, ServerResponse][] = [];
  const server = createServer((req, res) => {
    held.push([req, res]);
  });
  // The waits are cairn's (up to 10 min): no timeout of node:http's may end a parked request first.
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("http-floor serve: run node with --expose-gc");
  process.on("message", (m: ToChild) => {
    if (m === "measure") {
      gc();
      gc();
    }
    process.send?.({ heapUsed: process.memoryUsage().heapUsed, held: held.length } satisfies FromChild);
  });
  process.on("disconnect", () => process.exit(0));
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("http-floor: no TCP address");
    process.send?.({ port: address.port } satisfies FromChild);
  });
}

/** Heap bytes per parked request of a bare node:http server holding `watchers` blocking GETs. */
export async function httpFloor(watchers: number): Promise<number> {
  const child = fork(fileURLToPath(import.meta.url), ["serve"], {
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const next = () =>
    new Promise<FromChild>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("http-floor: no answer from the child in 30 s")), 30_000);
      child.once("message", (m: FromChild) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  try {
    const started = await next();
    if (!("port" in started)) throw new Error("http-floor: the child did not say its port");
    const ask = async (what: ToChild) => {
      child.send(what);
      const m = await next();
      if (!("heapUsed" in m)) throw new Error("http-floor: the child did not measure");
      return m;
    };
    const before = await ask("measure");
    for (let opened = 0; opened < watchers; ) {
      const deadline = Date.now() + HOLD_WAIT_MS;
      const end = Math.min(watchers, opened + OPEN_BATCH);
      for (; opened < end; opened++) {
        const req = request(`http://127.0.0.1:${started.port}/v1/kv/w/k${opened}?index=1&wait=5m`, { agent });
        req.on("error", () => {}); // the child is stopped with the requests still open
        req.end();
      }
      for (let m = await ask("count"); m.held < opened; m = await ask("count")) {
        if (Date.now() > deadline) throw new Error(`http-floor: ${m.held} of ${opened} held`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const held = await ask("measure");
    return (held.heapUsed - before.heapUsed) / watchers;
  } finally {
    agent.destroy();
    child.kill();
  }
}

if (process.argv[2] === "serve" && process.argv[1] === fileURLToPath(import.meta.url)) serve();
