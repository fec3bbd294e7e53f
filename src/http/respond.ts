/** Response builders shared by the handlers: JSON bodies (honouring ?pretty) and Consul's query-meta headers. */
import type { QueryMeta } from "../api/types.js";
import { type GoJson, goJson } from "./json.js";
import { APPLICATION_JSON, type HttpRequest, type HttpResponse } from "./model.js";

/** A JSON response as Consul's wrapper writes it: minified, or 4-space indented with `?pretty` (presence). */
export function jsonResponse(
  req: HttpRequest,
  value: GoJson,
  headers: Record<string, string> = {},
  status = 200,
): HttpResponse {
  return {
    status,
    headers: { ...headers, "Content-Type": APPLICATION_JSON },
    body: goJson(value, req.query.has("pretty")),
  };
}

const CONSISTENCY_HEADER: Readonly<Record<QueryMeta["consistency"], string>> = {
  default: "leader",
  consistent: "consistent",
  stale: "stale",
};

/** Consul's setMeta: sent on every read, found or not (the Go client parses LastContact unconditionally). */
export function metaHeaders(meta: QueryMeta): Record<string, string> {
  return {
    // Never 0: the npm Watch aborts on "Consul returned zero index value".
    "X-Consul-Index": String(Math.max(1, meta.index)),
    "X-Consul-KnownLeader": meta.knownLeader ? "true" : "false",
    // Go: uint64(lastContact / time.Millisecond), so whole milliseconds, truncated.
    "X-Consul-LastContact": String(Math.max(0, Math.floor(meta.lastContactMs))),
    "X-Consul-Effective-Consistency": CONSISTENCY_HEADER[meta.consistency],
  };
}
