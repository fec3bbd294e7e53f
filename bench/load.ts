/**
 * A closed-loop request load generator for comparing engines over HTTP (etcd's v3 JSON gateway, cairn's /v1/kv),
 * writes (PUT, POST) and reads (GET; etcd's range is a POST):
 * `clients` concurrent loops, each sending its next request as soon as the previous answer arrives, over
 * keep-alive connections (one per client), until `total` requests are done. Closed loop, as etcd's own
 * `benchmark put --clients`, so figures are comparable with the ones etcd publishes and docs/raft-notes.md §7
 * quotes.
 */
import { Agent, request } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface PutLoadOptions {
  /** Full URL of request i; may spread requests over several endpoints. */
  readonly url: (i: number) => string;
  readonly body: (i: number) => Buffer | string;
  readonly method: "PUT" | "POST" | "GET";
  readonly clients: number;
  readonly total: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** For https:// URLs: the CA to trust and the client certificate to present (mutual TLS). */
  readonly tls?: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer };
  /**
   * Judges a 2xx answer's body (its first RESPONSE_BYTES_MAX): what is wrong with it, or undefined when it is
   * right. For reads whose miss is a 200 too (etcd's range of an absent key): a benchmark of misses measures
   * nothing.
   */
  readonly check?: (body: Buffer) => string | undefined;
}

export interface PutLoadResult {
  /** Requests per second: writes for a put load, reads for a read load. */
  readonly writesPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly elapsedMs: number;
  readonly total: number;
}

/** A request that failed or was refused; a benchmark with failed writes measures nothing, so the run stops. */
export class LoadError extends Error {
  override name = "LoadError";
}

const CLIENTS_MAX = 1024;
const RESPONSE_BYTES_MAX = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 30_000;

/** Runs the load; rejects with LoadError on the first non-2xx answer or transport error. */
export async function runPutLoad(opts: PutLoadOptions): Promise<PutLoadResult> {
  if (!(opts.clients >= 1 && opts.clients <= CLIENTS_MAX))
    throw new RangeError(`clients must be in [1, ${CLIENTS_MAX}]`);
  if (!(opts.total >= 1)) throw new RangeError("total must be at least 1");
  // One socket per client loop, kept open: the figure should be the engine's, not TCP handshakes'.
  const sockets = { keepAlive: true, maxSockets: opts.clients, maxFreeSockets: opts.clients };
  const agent = opts.tls === undefined ? new Agent(sockets) : new HttpsAgent({ ...sockets, ...opts.tls });
  const latenciesMs = new Float64Array(opts.total);
  let next = 0;
  let failed = false;
  const loop = async () => {
    // After one loop fails, Promise.all has already rejected: the others must stop, not run on unobserved.
    for (let i = next++; i < opts.total && !failed; i = next++) {
      const t0 = process.hrtime.bigint();
      try {
        await send(agent, opts, i);
      } catch (e) {
        failed = true;
        throw e;
      }
      latenciesMs[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
  };
  const start = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: Math.min(opts.clients, opts.total) }, loop));
  } finally {
    agent.destroy();
  }
  const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  latenciesMs.sort();
  return {
    writesPerSec: (opts.total / elapsedMs) * 1000,
    p50Ms: percentile(latenciesMs, 0.5),
    p99Ms: percentile(latenciesMs, 0.99),
    maxMs: latenciesMs[latenciesMs.length - 1] ?? 0,
    elapsedMs,
    total: opts.total,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

function send(agent: Agent | HttpsAgent, opts: PutLoadOptions, i: number): Promise<void> {
  const url = opts.url(i);
  const body = opts.body(i);
  const send = url.startsWith("https:") ? httpsRequest : request;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: opts.method,
        agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: { "content-length": Buffer.byteLength(body), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.byteLength;
          if (size <= RESPONSE_BYTES_MAX) chunks.push(c);
        });
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const answer = Buffer.concat(chunks);
          const wrong = status >= 200 && status < 300 ? opts.check?.(answer) : `answered ${status}`;
          if (wrong === undefined) return resolve();
          const text = answer.toString("utf8").slice(0, 300);
          reject(new LoadError(`${opts.method} ${url} ${wrong}: ${text}`));
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new LoadError(`${opts.method} ${url}: no answer in ${REQUEST_TIMEOUT_MS} ms`)),
    );
    req.on("error", (e) =>
      reject(e instanceof LoadError ? e : new LoadError(`${opts.method} ${url}: ${e.message}`)),
    );
    req.end(body);
  });
}
