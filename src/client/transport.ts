/**
 * The HTTP layer of the client: where to connect (Consul's address forms), TLS, keep-alive, time bounds, and
 * moving bytes. It knows nothing of Consul's endpoints; `client.ts` builds on it.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { isIP } from "node:net";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checkServerIdentity } from "node:tls";
import { ClientConfigError, ConnectionError, describeConnectionFailure, errnoOf } from "./errors.js";

export interface TlsOptions {
  readonly caFile?: string;
  /** A directory whose PEM files are all trusted, as Go's rootcerts.LoadCAPath. */
  readonly caPath?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** SNI and verification name; a port is stripped, as Go's api.SetupTLSConfig does. */
  readonly serverName?: string;
  readonly insecureSkipVerify?: boolean;
}

/** Where and how to connect. Invariant: `socketPath` set ⇔ the address was `unix://...`. */
export interface Endpoint {
  readonly scheme: "http" | "https";
  readonly hostname: string;
  readonly port: number;
  readonly socketPath?: string;
  /** Reverse-proxy prefix from `https://host:8501/consul`; "" or starts with "/" and has no trailing "/". */
  readonly pathPrefix: string;
  /** `scheme://host:port` (or the socket path) for error messages. */
  readonly display: string;
  /** Go's dial description: `tcp 127.0.0.1:8500` or `unix /run/consul.sock`. */
  readonly dial: string;
}

export const DEFAULT_ADDRESS = "127.0.0.1:8500";

/**
 * Consul's address forms (api.NewClient): `host:port`, `http://host:port`, `https://host:port[/prefix]`,
 * `unix:///path/to/sock`. `https://` or `useTls` selects TLS; an explicit `http://` never turns TLS off.
 */
export function parseAddress(address: string, useTls: boolean): Endpoint {
  let scheme: "http" | "https" = useTls ? "https" : "http";
  let rest = address;
  let pathPrefix = "";
  const sep = address.indexOf("://");
  if (sep >= 0) {
    const given = address.slice(0, sep);
    rest = address.slice(sep + 3);
    if (given === "unix") {
      return {
        scheme,
        hostname: "localhost",
        port: 0,
        socketPath: rest,
        pathPrefix: "",
        display: `unix://${rest}`,
        dial: `unix ${rest}`,
      };
    }
    if (given === "https") scheme = "https";
    else if (given !== "http") throw new ClientConfigError(`Unknown protocol scheme: ${given}`);
    const slash = rest.indexOf("/");
    if (slash >= 0) {
      pathPrefix = `/${rest.slice(slash + 1)}`.replace(/\/+$/, "");
      rest = rest.slice(0, slash);
    }
  }
  let url: URL;
  try {
    url = new URL(`${scheme}://${rest}`);
  } catch {
    throw new ClientConfigError(`parse "${scheme}://${rest}": invalid address`);
  }
  const port = url.port === "" ? (scheme === "https" ? 443 : 80) : Number(url.port);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const hostPort = `${url.hostname}:${port}`;
  return { scheme, hostname, port, pathPrefix, display: `${scheme}://${hostPort}`, dial: `tcp ${hostPort}` };
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ClientConfigError(`Error loading ${what}: ${goFileError(path, err)}`, { cause: err });
  }
}

/** Go's *PathError text for the usual cases: `open /x: no such file or directory`. */
export function goFileError(path: string, err: unknown): string {
  const code = errnoOf(err);
  const text =
    code === "ENOENT"
      ? "no such file or directory"
      : code === "EACCES"
        ? "permission denied"
        : code === "EISDIR"
          ? "is a directory"
          : err instanceof Error
            ? err.message
            : String(err);
  return `open ${path}: ${text}`;
}

function loadCaPath(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name);
    if (statSync(file).isFile()) out.push(readPem(file, "CA path"));
  }
  return out;
}

/** Node TLS options from Consul's TLS settings; files are read once, when the client is made. */
export function tlsAgentOptions(tls: TlsOptions | undefined, ep: Endpoint): https.AgentOptions {
  const opts: https.AgentOptions = {};
  if (tls === undefined) return opts;
  const ca: Buffer[] = [];
  if (tls.caFile !== undefined && tls.caFile !== "") ca.push(readPem(tls.caFile, "CA file"));
  else if (tls.caPath !== undefined && tls.caPath !== "") ca.push(...loadCaPath(tls.caPath));
  if (ca.length > 0) opts.ca = ca;
  const hasCert = tls.certFile !== undefined && tls.certFile !== "";
  const hasKey = tls.keyFile !== undefined && tls.keyFile !== "";
  if (hasCert !== hasKey) throw new ClientConfigError("both client cert and client key must be provided");
  if (hasCert && hasKey) {
    opts.cert = readPem(tls.certFile ?? "", "client cert");
    opts.key = readPem(tls.keyFile ?? "", "client key");
  }
  if (tls.insecureSkipVerify === true) opts.rejectUnauthorized = false;
  const name = (tls.serverName ?? "").replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  // Node refuses an IP as SNI (RFC 6066); it then verifies against the connected host, which is the same IP.
  if (name !== "" && isIP(name) === 0) opts.servername = name;
  else if (name !== "" && name !== ep.hostname) {
    opts.checkServerIdentity = (_host, cert) => checkServerIdentity(name, cert);
  }
  return opts;
}

export interface TransportOptions {
  readonly endpoint: Endpoint;
  readonly tls?: TlsOptions;
  /** Bound on a whole buffered exchange (connect → last byte). */
  readonly requestTimeoutMs: number;
  /** Bound on silence during a streamed exchange (snapshot save/restore), which may last long overall. */
  readonly streamIdleTimeoutMs: number;
  /** Bound on a buffered response body; larger answers fail rather than fill memory. */
  readonly responseBytesMax: number;
  readonly socketsMax: number;
}

export interface RawRequest {
  readonly method: string;
  /** API path without the prefix, e.g. `/v1/kv/a%20b`; already escaped. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | Readable;
  /** When set, a 2xx body streams here instead of being buffered (`body` of the result is then empty). */
  readonly sink?: Writable;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Carries an error of the caller's sink through the connection-error wrapping untouched. */
class SinkError extends Error {
  constructor(override readonly cause: unknown) {
    super("sink failed");
  }
}

export class TimeoutError extends Error {
  override name = "TimeoutError";
  readonly code = "ETIMEDOUT";
}

/** Keep-alive HTTP(S) connection pool to one Consul agent. Owns its sockets: call `close()` when done. */
export class Transport {
  private readonly agent: http.Agent;
  readonly endpoint: Endpoint;

  constructor(private readonly opts: TransportOptions) {
    this.endpoint = opts.endpoint;
    const base = { keepAlive: true, maxSockets: opts.socketsMax, maxFreeSockets: opts.socketsMax };
    this.agent =
      opts.endpoint.scheme === "https"
        ? new https.Agent({ ...base, ...tlsAgentOptions(opts.tls, opts.endpoint) })
        : new http.Agent(base);
  }

  close(): void {
    this.agent.destroy();
  }

  /** The URL as Go would print it in an error: `http://127.0.0.1:8500/v1/kv/a?recurse=`. */
  displayUrl(req: RawRequest): string {
    const q = req.query.toString();
    return `${this.endpoint.display}${this.endpoint.pathPrefix}${req.path}${q === "" ? "" : `?${q}`}`;
  }

  /** Sends one request. Rejects with ConnectionError when no complete answer arrives in time. */
  async request(req: RawRequest): Promise<RawResponse> {
    try {
      return await this.exchange(req);
    } catch (err) {
      if (err instanceof ClientConfigError) throw err;
      if (err instanceof SinkError) throw err.cause;
      const msg = describeConnectionFailure(req.method, this.displayUrl(req), this.endpoint.dial, err);
      throw new ConnectionError(msg, errnoOf(err), { cause: err });
    }
  }

  private exchange(req: RawRequest): Promise<RawResponse> {
    const ep = this.endpoint;
    const q = req.query.toString();
    const options: http.RequestOptions = {
      method: req.method,
      path: `${ep.pathPrefix}${req.path}${q === "" ? "" : `?${q}`}`,
      headers: { ...req.headers, "user-agent": "cairn" },
      agent: this.agent,
    };
    if (ep.socketPath !== undefined) options.socketPath = ep.socketPath;
    else {
      options.hostname = ep.hostname;
      options.port = ep.port;
    }
    const streaming = req.sink !== undefined || (req.body !== undefined && !(req.body instanceof Uint8Array));
    return new Promise<RawResponse>((resolve, reject) => {
      const send = ep.scheme === "https" ? https.request : http.request;
      const creq = send(options);
      let timer: NodeJS.Timeout | undefined;
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        creq.destroy();
        reject(err);
      };
      if (streaming)
        creq.setTimeout(this.opts.streamIdleTimeoutMs, () => fail(new TimeoutError("stream idle timeout")));
      else timer = setTimeout(() => fail(new TimeoutError("request timeout")), this.opts.requestTimeoutMs);
      creq.on("error", fail);
      creq.on("response", (res) => {
        this.receive(res, req.sink).then((r) => {
          clearTimeout(timer);
          resolve(r);
        }, fail);
      });
      this.sendBody(creq, req.body).catch(fail);
    });
  }

  private async sendBody(creq: http.ClientRequest, body: Uint8Array | Readable | undefined): Promise<void> {
    if (body === undefined) {
      creq.end();
    } else if (body instanceof Uint8Array) {
      creq.setHeader("content-length", body.byteLength);
      creq.end(body);
    } else {
      await pipeline(body, creq);
    }
  }

  private async receive(res: http.IncomingMessage, sink: Writable | undefined): Promise<RawResponse> {
    const status = res.statusCode ?? 0;
    if (sink !== undefined && status >= 200 && status < 300) {
      let sinkFailed = false;
      sink.once("error", () => {
        sinkFailed = true;
      });
      try {
        await pipeline(res, sink);
      } catch (err) {
        // A failing destination (disk full) is the caller's error, not a connection failure.
        throw sinkFailed ? new SinkError(err) : err;
      }
      return { status, headers: res.headers, body: Buffer.alloc(0) };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res) {
      const buf = chunk as Buffer;
      size += buf.byteLength;
      if (size > this.opts.responseBytesMax) {
        res.destroy();
        throw new Error(`response body exceeds ${this.opts.responseBytesMax} bytes`);
      }
      chunks.push(buf);
    }
    return { status, headers: res.headers, body: Buffer.concat(chunks) };
  }
}
