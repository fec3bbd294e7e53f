/**
 * /v1/health/*: node/<node>, checks/<service>, service/<service> and state/<state> as Consul's
 * agent/health_endpoint.go serves them (consul-compat.md §8.4): blocking reads with Consul's indexes, `tag`
 * (repeatable), `passing` (presence-based, its value a Go bool), `node-meta`, `near`, `filter`
 * (go-bexpr over the answer's elements, §8.10).
 */
import { visibleChecks, visibleServiceEntries } from "./acl-filters.js";
import { readHandler, tagsOf } from "./catalog.js";
import { HttpError } from "./errors.js";

/** Go's strconv.ParseBool, with "" (a bare `?passing`) as true. */
function parsePassing(q: URLSearchParams): boolean {
  if (!q.has("passing")) return false;
  const v = q.get("passing") ?? "";
  if (["", "1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  throw new HttpError(400, "Invalid value for ?passing");
}

export const healthNode = readHandler(
  "Missing node name",
  (api, node, q) => api.healthNode(node, q),
  visibleChecks,
);
export const healthChecks = readHandler(
  "Missing service name",
  (api, s, q) => api.healthChecks(s, q),
  visibleChecks,
);
export const healthService = readHandler(
  "Missing service name",
  (api, s, q, req) => api.healthService(s, tagsOf(req), parsePassing(req.query), q),
  visibleServiceEntries,
);
/** Any state is asked for as it is (HealthState): Consul's HealthChecksInState checks only that one is given. */
export const healthState = readHandler(
  "Missing check state",
  (api, state, q) => api.healthState(state, q),
  visibleChecks,
);
