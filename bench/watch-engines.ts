/**
 * The two sides of the watch benchmark (bench/watch.ts), each a set of long-lived watchers on distinct keys of
 * one server, the writes that wake them, and the server's memory:
 * - cairn: Consul's blocking GET, `GET /v1/kv/<key>?index=<its ModifyIndex>&wait=5m`, one keep-alive socket
 *   each; answered means woken. Its memory and its count of sleeping queries come from bench/watch-probe.ts,
 *   loaded into the server.
 * - etcd: its v3 JSON gateway, `POST /v3/watch {"create_request": {"key": …}}`, which streams one JSON object
 *   per line (the gateway turns each HTTP request into a gRPC watch stream inside etcd); `created` means
 *   established, an `events` line means woken. Its memory comes from its Prometheus /metrics (the Go heap, not
 *   collected first: etcd offers no way to ask, and RSS).
 */
import { Agent, request } from "node:http";
import { join } from "node:path";
import { readRss } from "./rss.js";

/** What an engine's server holds, in bytes. */
export interface Memory {
  readonly heapBytes: number;
  readonly rssBytes: number;
}

/** Where watchers report: established (etcd says so; cairn's probe counts), woken, or failed. */
export interface WatchEvents {
  established(i: number): void;
  woke(i: number): void;
  failed(i: number, why: string): void;
}

export interface WatchEngine {
  readonly name: string;
  /** Which API carries the watches, for the report. */
  readonly api: string;
  /** Opens watcher i on key `keyOf(i)`, whose current version the engine knows from its preload. */
  open(i: number): void;
  /** How many watchers the server holds now, as far as the engine can tell (cairn: its probe). */
  held(): Promise<number | null>;
  memory(): Promise<Memory>;
  /** Writes `value` to watcher i's key; resolves when the write is acknowledged. */
  write(i: number, value: string): Promise<void>;
  /** Closes every watcher's connection; later failures are not reported. */
  close(): void;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const REQUEST_TIMEOUT_MS = 30_000;

/** One small request and its whole answer (status and text), bounded in time. */
function exchange(
  url: string,
  o: { method: string; body?: string; socketPath?: string; agent?: Agent },
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: o.method, socketPath: o.socketPath, agent: o.agent, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString("utf8"),
            headers: res.headers,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`${o.method} ${url}: no answer in ${REQUEST_TIMEOUT_MS} ms`)),
    );
    req.on("error", reject);
    req.end(o.body ?? "");
  });
}

async function ok(url: string, o: Parameters<typeof exchange>[1]): Promise<string> {
  const r = await exchange(url, o);
  if (r.status < 200 || r.status > 299)
    throw new Error(`${o.method} ${url}: ${r.status} ${r.text.slice(0, 200)}`);
  return r.text;
}

/** cairn's blocking GETs against `endpoint` (a server started with bench/watch-probe.ts under `probeDir`). */
export function cairnEngine(
  endpoint: string,
  pid: number,
  probeDir: string,
  keyOf: (i: number) => string,
  indexOf: (i: number) => number,
  events: WatchEvents,
): WatchEngine {
  // Every watcher keeps its own socket (a blocked GET holds its connection), so no bound on sockets.
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const writer = new Agent({ keepAlive: true, maxSockets: 1 });
  const socketPath = join(probeDir, `probe-${pid}.sock`);
  let closing = false;
  return {
    name: "cairn",
    api: "Consul HTTP API, GET /v1/kv/<key>?index=N&wait=5m",
    open(i) {
      const min = indexOf(i);
      const req = request(`${endpoint}/v1/kv/${keyOf(i)}?index=${min}&wait=5m`, { agent }, (res) => {
        res.resume();
        res.on("end", () => {
          const index = Number(res.headers["x-consul-index"]);
          if (res.statusCode === 200 && index > min) events.woke(i);
          else if (!closing) events.failed(i, `answered ${res.statusCode} at index ${index} (asked ${min})`);
        });
      });
      req.on("error", (e) => {
        if (!closing) events.failed(i, e.message);
      });
      req.end();
    },
    async held() {
      const r = JSON.parse(await ok("http://probe/blocked", { method: "GET", socketPath })) as {
        blocked: number;
      };
      return r.blocked;
    },
    async memory() {
      const r = JSON.parse(await ok("http://probe/memory", { method: "GET", socketPath })) as {
        heapUsed: number;
      };
      const rss = readRss(pid);
      if (rss === null) throw new Error(`cannot read the RSS of cairn's pid ${pid}`);
      return { heapBytes: r.heapUsed, rssBytes: rss };
    },
    async write(i, value) {
      const r = await ok(`${endpoint}/v1/kv/${keyOf(i)}`, { method: "PUT", body: value, agent: writer });
      if (r.trim() !== "true") throw new Error(`PUT ${keyOf(i)} answered ${r}`);
    },
    close() {
      closing = true;
      agent.destroy();
      writer.destroy();
    },
  };
}

/** etcd's watches through its v3 JSON gateway on `endpoint`. */
export function etcdEngine(endpoint: string, keyOf: (i: number) => string, events: WatchEvents): WatchEngine {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const writer = new Agent({ keepAlive: true, maxSockets: 1 });
  let closing = false;
  return {
    name: "etcd",
    api: "v3 JSON gateway, POST /v3/watch (a gRPC watch stream per request inside etcd)",
    open(i) {
      const req = request(
        `${endpoint}/v3/watch`,
        { method: "POST", agent, headers: { "content-type": "application/json" } },
        (res) => {
          if (res.statusCode !== 200) {
            events.failed(i, `answered ${res.statusCode}`);
            res.resume();
            return;
          }
          res.setEncoding("utf8");
          let buf = "";
          res.on("data", (c: string) => {
            buf += c;
            for (let n = buf.indexOf("\n"); n >= 0; n = buf.indexOf("\n")) {
              const line = buf.slice(0, n);
              buf = buf.slice(n + 1);
              if (line.trim() === "") continue;
              const m = JSON.parse(line) as {
                result?: { created?: boolean; events?: unknown[] };
                error?: unknown;
              };
              if (m.result?.created === true) events.established(i);
              else if ((m.result?.events?.length ?? 0) > 0) events.woke(i);
              else if (m.error !== undefined) events.failed(i, JSON.stringify(m.error));
            }
          });
        },
      );
      req.on("error", (e) => {
        if (!closing) events.failed(i, e.message);
      });
      req.end(JSON.stringify({ create_request: { key: b64(keyOf(i)) } }));
    },
    async held() {
      return null; // the client counts the `created` answers
    },
    async memory() {
      const text = await ok(`${endpoint}/metrics`, { method: "GET" });
      const metric = (name: string) => {
        const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
        if (m === null) throw new Error(`etcd's /metrics has no ${name}`);
        return Number(m[1]);
      };
      return {
        heapBytes: metric("go_memstats_heap_alloc_bytes"),
        rssBytes: metric("process_resident_memory_bytes"),
      };
    },
    async write(i, value) {
      const body = JSON.stringify({ key: b64(keyOf(i)), value: b64(value) });
      await ok(`${endpoint}/v3/kv/put`, { method: "POST", body, agent: writer });
    },
    close() {
      closing = true;
      agent.destroy();
      writer.destroy();
    },
  };
}

/** The index (0-based) of the etcd member that leads, asked of each member's maintenance status. */
export async function etcdLeader(endpoints: readonly string[]): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const [i, e] of endpoints.entries()) {
      const s = JSON.parse(await ok(`${e}/v3/maintenance/status`, { method: "POST", body: "{}" })) as {
        header?: { member_id?: string };
        leader?: string;
      };
      if (s.leader !== undefined && s.leader === s.header?.member_id) return i;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no etcd member leads within 30 s");
}

/** The index of the cairn server that reports itself the Raft leader (/v1/agent/self). */
export async function cairnLeader(endpoints: readonly string[]): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const [i, e] of endpoints.entries()) {
      const self = JSON.parse(await ok(`${e}/v1/agent/self`, { method: "GET" })) as {
        Stats?: { raft?: { state?: string } };
      };
      if (self.Stats?.raft?.state === "Leader") return i;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no cairn server reports itself leader within 30 s");
}

/** cairn's ModifyIndex of every key under `prefix` (one recursive GET). */
export async function cairnIndexes(endpoint: string, prefix: string): Promise<Map<string, number>> {
  const text = await ok(`${endpoint}/v1/kv/${prefix}?recurse`, { method: "GET" });
  const entries = JSON.parse(text) as { Key: string; ModifyIndex: number }[];
  return new Map(entries.map((e) => [e.Key, e.ModifyIndex]));
}
