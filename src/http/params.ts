/**
 * Query parameters as Consul's agent/http.go reads them: presence-based flags, Go's strconv and time
 * parsers (with their error texts, which users see), the common `parse` step (dc, consistency, wait, index)
 * and Go's url.Values.Encode for messages that echo the query back.
 */
import { compareKeys, formatGoDuration } from "../fsm/index.js";

export { formatGoDuration };

import { WAIT_MS_DEFAULT } from "../api/blocking.js";
import type { Consistency, QueryOptions, ServerApi } from "../api/types.js";
import { BexprSyntaxError, createFilter } from "../util/bexpr/index.js";
import { parseGoDurationNs } from "../util/flags.js";
import { goQuote } from "../util/goquote.js";
import { HttpError } from "./errors.js";

const U64_MAX = (1n << 64n) - 1n;

/** Presence-based flag (`?recurse`, `?recurse=false` and `?recurse=true` are all true), as Consul's `_, ok := params[x]`. */
export function has(q: URLSearchParams, name: string): boolean {
  return q.has(name);
}

/** Go's url.Values.Get: the first value, or "" when absent. */
export function get(q: URLSearchParams, name: string): string {
  return q.get(name) ?? "";
}

/**
 * Go's strconv.ParseUint(s, 10, 64) with its error text, as a 500: Consul's KVSPut and KVSDelete return the
 * strconv error as it is (kvs_endpoint.go `return nil, err`), which agent/http.go answers with 500. Base 10
 * only: no sign, no prefix, no underscores.
 */
export function parseUint64(s: string): bigint {
  if (!/^[0-9]+$/.test(s))
    throw new HttpError(500, `strconv.ParseUint: parsing ${goQuote(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n > U64_MAX) throw new HttpError(500, `strconv.ParseUint: parsing ${goQuote(s)}: value out of range`);
  return n;
}

/** Go's time.ParseDuration, in (possibly fractional) milliseconds, or null when it does not parse. */
export function parseGoDurationMs(s: string): number | null {
  try {
    return Number(parseGoDurationNs(s)) / 1e6;
  } catch {
    return null;
  }
}

/** A duration given in milliseconds (ServerApi's unit), as Go prints it. */
export function formatGoDurationMs(ms: number): string {
  return formatGoDuration(BigInt(Math.round(ms * 1e6)));
}

/** Go's url.QueryEscape: unreserved bytes kept, space as `+`, every other UTF-8 byte as %XX (upper case). */
function queryEscape(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Go's url.Values.Encode: keys sorted (byte order), each key's values in order, `k=v` joined by `&`. */
export function encodeGoQuery(q: URLSearchParams): string {
  const byKey = new Map<string, string[]>();
  for (const [k, v] of q) {
    const list = byKey.get(k);
    if (list === undefined) byKey.set(k, [v]);
    else list.push(v);
  }
  const keys = [...byKey.keys()].sort(compareKeys);
  const parts: string[] = [];
  for (const k of keys) for (const v of byKey.get(k) ?? []) parts.push(`${queryEscape(k)}=${queryEscape(v)}`);
  return parts.join("&");
}

/**
 * Consul's `parse` for an endpoint that takes QueryOptions: consistency (stale + consistent → 400),
 * max_stale, wait and index, in Consul's order so that the first failing check is the one reported. The
 * datacenter is checked later (checkDatacenter), where Consul's RPC forwarding would fail.
 */
export function parseQueryOptions(q: URLSearchParams): QueryOptions {
  const consistency = parseConsistency(q);
  let waitMs = WAIT_MS_DEFAULT;
  const wait = get(q, "wait");
  if (wait !== "") {
    const ms = parseGoDurationMs(wait);
    if (ms === null) throw new HttpError(400, "Invalid wait time");
    // Consul hands a zero or negative wait to the RPC layer, which then uses its default.
    if (ms > 0) waitMs = ms;
  }
  let minIndex = 0;
  const index = get(q, "index");
  if (index !== "") {
    if (!/^[0-9]+$/.test(index) || BigInt(index) > U64_MAX) throw new HttpError(400, "Invalid index");
    // Indexes past 2^53 are beyond any raft log; rounding only moves a wait that is certain to time out.
    minIndex = Number(index);
  }
  return { consistency, minIndex, waitMs };
}

/**
 * Single datacenter: the agent's own name (or none) is fine, any other has no path. Handlers call this just
 * before the ServerApi call, since Consul fails there (RPC forwarding), after every parameter check.
 */
export function checkDatacenter(q: URLSearchParams, api: ServerApi): void {
  const dc = get(q, "dc");
  if (dc !== "" && dc !== api.datacenter) throw new HttpError(500, "No path to datacenter");
}

function parseConsistency(q: URLSearchParams): Consistency {
  let stale = has(q, "stale");
  const consistent = has(q, "consistent");
  const maxStale = get(q, "max_stale");
  if (maxStale !== "") {
    const ms = parseGoDurationMs(maxStale);
    if (ms === null) throw new HttpError(400, `Invalid max_stale value ${goQuote(maxStale)}`);
    if (ms > 0) stale = true;
  }
  if (stale && consistent) {
    throw new HttpError(400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
  }
  if (consistent) return "consistent";
  return stale ? "stale" : "default";
}

/** What `?filter=` keeps: one element of an endpoint's answer in, whether it stays out. */
export type Keep = (datum: unknown) => boolean;

/**
 * `?filter=<go-bexpr expression>` (consul-compat.md §8.10): null when absent or empty (Consul ignores an empty
 * one), else the compiled filter. A bad expression is 500 with Consul's text, `Failed to create boolean
 * expression evaluator: <go-bexpr's parse error>`: Consul's endpoints (the catalog and health RPCs,
 * agent_endpoint.go AgentServices/AgentChecks) return bexpr.CreateFilter's plain error, which agent/http.go
 * answers with its default, 500.
 */
export function parseFilter(q: URLSearchParams): Keep | null {
  const expression = get(q, "filter");
  if (expression === "") return null;
  try {
    return createFilter(expression);
  } catch (e) {
    if (e instanceof BexprSyntaxError) throw new HttpError(500, e.message);
    throw e;
  }
}

/**
 * Runs a filter over an answer's elements. go-bexpr fails the whole request on an element it cannot evaluate
 * (a field the shape lacks, a value of the wrong type): Filter.Execute's plain error, which Consul answers
 * with a 500 as well.
 */
export function applyFilter<T>(keep: Keep, items: readonly T[]): T[] {
  try {
    return items.filter((x) => keep(x));
  } catch (e) {
    if (e instanceof Error && e.name === "BexprEvalError") throw new HttpError(500, e.message);
    throw e;
  }
}

/** applyFilter over a map's values (Consul's bexpr Filter.Execute on a map keeps the entries whose value matches). */
export function applyFilterToMap<T>(keep: Keep, map: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(applyFilter((e) => keep((e as [string, T])[1]), Object.entries(map)));
}
