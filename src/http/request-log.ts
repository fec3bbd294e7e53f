/**
 * The agent's HTTP request log as Consul writes it (agent/http.go `wrap`): `Request finished: method=GET
 * url=/v1/kv/a?token=<hidden> from=127.0.0.1:51234 latency=1.2ms` at debug level, and `Request error` at error
 * level for a 5xx. The URL never carries a token: every `token` query value is replaced by `<hidden>` (an
 * empty one gets `<hidden>` appended, as Consul does), and the token in the path of the legacy ACL endpoints
 * (`/v1/acl/{create,update,destroy,info,clone,list}/<token>`) too. Header tokens (`X-Consul-Token`,
 * `Authorization`) are never logged.
 */
import { formatGoDurationMs } from "./params.js";

const HIDDEN = "<hidden>";
/** Consul's aclEndpointRE: the legacy endpoints that took a token in the path. */
const LEGACY_ACL_PATH = /^(\/v1\/acl\/(?:create|update|destroy|info|clone|list)\/)([^?]+)(\??.*)$/;

/** The request target (path and query, as received) with every token replaced by `<hidden>`. */
export function redactedUrl(target: string): string {
  let url = target;
  const q = target.indexOf("?");
  if (q !== -1) {
    // Consul replaces each decoded value wherever it occurs; the raw (escaped) form is replaced as well, so a
    // token with characters that were percent-encoded on the wire does not slip through.
    for (const [name, value] of rawPairs(target.slice(q + 1))) {
      if (name !== "token") continue;
      if (value === "") {
        url += HIDDEN;
        continue;
      }
      for (const form of new Set([value, safeDecode(value)]))
        if (form !== "") url = url.split(form).join(HIDDEN);
    }
  }
  return url.replace(LEGACY_ACL_PATH, `$1${HIDDEN}$3`);
}

/** The query's name=value pairs, values still escaped (names decoded: `tok%65n` is still `token`). */
function rawPairs(query: string): [string, string][] {
  return query
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const eq = p.indexOf("=");
      return eq === -1 ? [safeDecode(p), ""] : [safeDecode(p.slice(0, eq)), p.slice(eq + 1)];
    });
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return s;
  }
}

export interface RequestLogEntry {
  readonly method: string;
  /** The request target as received (path and query). */
  readonly target: string;
  /** The client's address, `host:port`. */
  readonly from: string;
  readonly status: number;
  readonly latencyMs: number;
}

/** Where the request log goes: the agent's logger at debug (every request) and error (a 5xx). */
export interface RequestLog {
  debug(msg: string): void;
  error(msg: string): void;
  /** False when debug lines are dropped anyway: an answered 2xx–4xx then costs no formatting. Default true. */
  readonly debugEnabled?: boolean;
}

/** Writes Consul's lines for one answered request. */
export function logRequest(log: RequestLog, e: RequestLogEntry): void {
  if (e.status < 500 && log.debugEnabled === false) return;
  const fields = `method=${e.method} url=${redactedUrl(e.target)} from=${e.from}`;
  if (e.status >= 500) log.error(`Request error: ${fields} status=${e.status}`);
  if (log.debugEnabled !== false)
    log.debug(`Request finished: ${fields} latency=${formatGoDurationMs(e.latencyMs)}`);
}
