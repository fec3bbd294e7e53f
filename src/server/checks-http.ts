/**
 * HTTP checks (agent/checks/check.go CheckHTTP): 2xx passing, 429 warning, anything else critical; the output is
 * `HTTP <method> <url>: <status line> Output: <body, at most 4 KiB>`; a request that fails gives Go's error text.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { dialError, PROBE_TIMEOUT_MS_DEFAULT, type ProbeResult } from "./checks-probe.js";
import { CHECK_OUTPUT_BYTES_MAX } from "./checks-ttl.js";
import type { CheckProbe } from "./local-defs.js";

export const USER_AGENT = "Consul Health Check";

function statusOf(code: number): ProbeResult["status"] {
  if (code >= 200 && code <= 299) return "passing";
  return code === 429 ? "warning" : "critical";
}

/** Go's "Get" / "Post" in its client errors: the method with only its first letter upper case. */
function goMethod(m: string): string {
  return m.charAt(0) + m.slice(1).toLowerCase();
}

/** Reads at most CHECK_OUTPUT_BYTES_MAX bytes of the body, then stops reading. */
function readCapped(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on("data", (c: Buffer) => {
      if (n < CHECK_OUTPUT_BYTES_MAX) chunks.push(c.subarray(0, CHECK_OUTPUT_BYTES_MAX - n));
      n += c.length;
      if (n >= CHECK_OUTPUT_BYTES_MAX) res.destroy();
    });
    const end = () => resolve(Buffer.concat(chunks).toString("utf8"));
    res.once("end", end);
    res.once("close", end);
    res.once("error", end);
  });
}

/** One request as the check definition says; never rejects. */
export function probeHttp(p: CheckProbe): Promise<ProbeResult> {
  const method = p.method === "" ? "GET" : p.method.toUpperCase();
  const limitMs = p.timeoutMs > 0 ? p.timeoutMs : PROBE_TIMEOUT_MS_DEFAULT;
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
  const fail = (reason: string): ProbeResult => ({
    status: "critical",
    output: `${goMethod(method)} ${JSON.stringify(p.http)}: ${reason}`,
  });
  return new Promise((resolve) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { method, headers, rejectUnauthorized: !p.tlsSkipVerify }, (res) => {
      void readCapped(res).then((body) => {
        clearTimeout(timer);
        const code = res.statusCode ?? 0;
        const line = `${code} ${res.statusMessage ?? ""}`.trimEnd();
        resolve({ status: statusOf(code), output: `HTTP ${method} ${p.http}: ${line} Output: ${body}` });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(fail("context deadline exceeded (Client.Timeout exceeded while awaiting headers)"));
    }, limitMs);
    timer.unref();
    req.once("error", (e) => {
      clearTimeout(timer);
      resolve(fail(dialError(url.host, e)));
    });
    req.end(p.body === "" ? undefined : p.body);
  });
}
