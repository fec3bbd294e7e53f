/**
 * HTTP checks (agent/checks/check.go CheckHTTP): 2xx passing, 429 warning, anything else critical; the output is
 * `HTTP <method> <url>: <status line> Output: <body, at most 4 KiB>`; a request that fails gives Go's error text.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { dialError, PROBE_TIMEOUT_MS_DEFAULT, type ProbeResult } from "./checks-probe.js";
import { CHECK_OUTPUT_BYTES_MAX } from "./checks-ttl.js";
import type { CheckProbe } from "./defs.js";

export const USER_AGENT = "Consul Health Check";

function statusOf(code: number): ProbeResult["status"] {
  if (code >= 200 && code <= 299) return "passing";
  return code === 429 ? "warning" : "critical";
}

/** Go's "Get" / "Post" in its client errors: the method with only its first letter upper case. */
function goMethod(m: string): string {
  return m.charAt(0) + m.slice(1).toLowerCase();
}

/** Reads at most `max` bytes of the body, then stops reading. */
function readCapped(res: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on("data", (c: Buffer) => {
      if (n < max) chunks.push(c.subarray(0, max - n));
      n += c.length;
      if (n >= max) res.destroy();
    });
    const end = () => resolve(Buffer.concat(chunks).toString("utf8"));
    res.once("end", end);
    res.once("close", end);
    res.once("error", end);
  });
}

/** Go's client follows at most this many redirects. */
const REDIRECTS_MAX = 10;
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

interface Hop {
  readonly url: URL;
  readonly method: string;
  readonly body: string;
}

type HopResult = { readonly res: IncomingMessage } | { readonly error: unknown };

function send(
  hop: Hop,
  p: CheckProbe,
  headers: Record<string, string | string[]>,
  signal: AbortSignal,
): Promise<HopResult> {
  return new Promise((resolve) => {
    const request = hop.url.protocol === "https:" ? httpsRequest : httpRequest;
    const options = { method: hop.method, headers, rejectUnauthorized: !p.tlsSkipVerify, signal };
    const req = request(hop.url, options, (res) => resolve({ res }));
    req.once("error", (error) => resolve({ error }));
    req.end(hop.body === "" ? undefined : hop.body);
  });
}

/** The next request of a redirect, as Go's client makes it (303, and 301/302 of a POST, become GET). */
function redirected(hop: Hop, res: IncomingMessage): Hop | null {
  const location = res.headers.location;
  if (!REDIRECT_CODES.has(res.statusCode ?? 0) || location === undefined) return null;
  const code = res.statusCode ?? 0;
  const toGet = code === 303 || ((code === 301 || code === 302) && hop.method === "POST");
  return {
    url: new URL(location, hop.url),
    method: toGet && hop.method !== "HEAD" ? "GET" : hop.method,
    body: toGet ? "" : hop.body,
  };
}

/** One check run as the definition says (following redirects unless disabled); never rejects. */
export function probeHttp(p: CheckProbe, signal?: AbortSignal): Promise<ProbeResult> {
  const method = p.method === "" ? "GET" : p.method.toUpperCase();
  const limitMs = p.timeoutMs > 0 ? p.timeoutMs : PROBE_TIMEOUT_MS_DEFAULT;
  const max = p.outputMaxSize > 0 ? p.outputMaxSize : CHECK_OUTPUT_BYTES_MAX;
  const fail = (reason: string): ProbeResult => ({
    status: "critical",
    output: `${goMethod(method)} ${JSON.stringify(p.http)}: ${reason}`,
  });
  let url: URL;
  try {
    url = new URL(p.http);
  } catch {
    return Promise.resolve({ status: "critical", output: `parse ${JSON.stringify(p.http)}: invalid URL` });
  }
  const headers: Record<string, string | string[]> = {
    "User-Agent": USER_AGENT,
    Accept: "text/plain, text/*, */*",
  };
  for (const [k, v] of Object.entries(p.header)) headers[k] = [...v];
  const abort = new AbortController();
  signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const run = async (): Promise<ProbeResult> => {
    let hop: Hop = { url, method, body: p.body };
    for (let hops = 0; ; hops++) {
      const r = await send(hop, p, headers, abort.signal);
      if ("error" in r) return fail(dialError(hop.url.host, r.error));
      const next = p.disableRedirects ? null : redirected(hop, r.res);
      if (next === null) {
        const body = await readCapped(r.res, max);
        const code = r.res.statusCode ?? 0;
        const line = `${code} ${r.res.statusMessage ?? ""}`.trimEnd();
        return { status: statusOf(code), output: `HTTP ${method} ${p.http}: ${line} Output: ${body}` };
      }
      r.res.resume();
      if (hops + 1 >= REDIRECTS_MAX) return fail(`stopped after ${REDIRECTS_MAX} redirects`);
      hop = next;
    }
  };
  return new Promise((resolve) => {
    // Go's Client.Timeout covers the whole exchange, redirects included.
    const timer = setTimeout(() => {
      resolve(fail("context deadline exceeded (Client.Timeout exceeded while awaiting headers)"));
      abort.abort();
    }, limitMs);
    timer.unref();
    void run().then((r) => {
      clearTimeout(timer);
      resolve(r);
    });
  });
}
