/**
 * Test support for the HTTP fuzz suite (fuzz.test.ts): hostile requests for every route of `ROUTES` as fast-check
 * arbitraries, the oracle that judges an answer (docs/consul-compat.md §0.6: 2xx, a 4xx with a message, or one of
 * the 5xx Consul answers on purpose), and a digest of everything a request could change.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import type { MemoryServer } from "../api/memory-server.js";
import type { LocalState } from "../local/state.js";
import { type HttpRequest, type HttpResponse, memoryRequest } from "./model.js";
import { ROUTES } from "./router.js";
import { bytes } from "./test-util.js";

/** Strings that break parsers: traversal, encodings, control and format characters, lone surrogates, overlong. */
const HOSTILE_STRINGS: readonly string[] = [
  "",
  " ",
  "..",
  "../..",
  "%2e%2e%2f",
  "%",
  "%zz",
  "%00",
  "%C0%AE",
  "%ED%A0%80",
  "\u0000",
  "\n",
  "\u202e",
  "\ud800",
  "\udfff",
  "☃",
  "𝄞",
  "-1",
  "0",
  "1",
  "18446744073709551615",
  "18446744073709551616",
  "1e309",
  "NaN",
  "0x10",
  "true",
  "null",
  "[]",
  "{}",
  "a".repeat(70_000),
  "1ms",
  "10s",
  "-5s",
  "9999999h",
  "Bar == ",
  'Node matches "("',
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
);

/** A path segment: hostile text, percent-encoded or raw. */
const segment: fc.Arbitrary<string> = fc.oneof(
  hostileString,
  hostileString.map((s) => {
    try {
      return encodeURIComponent(s);
    } catch {
      return s;
    }
  }),
  fc.constantFrom("web", "n1", "app/a", "web1", "passing", "critical", "any"),
);

/** Every query parameter some handler reads, and a few none does. */
const PARAMS = [
  "index",
  "wait",
  "stale",
  "consistent",
  "leader",
  "max_stale",
  "dc",
  "recurse",
  "keys",
  "raw",
  "separator",
  "seperator",
  "cas",
  "flags",
  "acquire",
  "release",
  "filter",
  "passing",
  "tag",
  "node-meta",
  "near",
  "id",
  "address",
  "enable",
  "reason",
  "note",
  "token",
  "policy",
  "pretty",
  "replace-existing-checks",
  "wan",
  "ns",
  "format",
] as const;

/**
 * `wait` is either malformed (a 400) or at most 20 ms: a blocking query waits as long as asked (an empty,
 * zero or negative wait as long as Consul's default, 5 minutes), and the suite must not. Present whenever
 * `index` is, so no generated request blocks for long.
 */
const shortWait = fc.constantFrom(
  "1ms",
  "5ms",
  "20ms",
  "0.01s",
  "20000us",
  "x",
  "1",
  "ms",
  "--1s",
  "1.2.3s",
  "%",
  "1d",
);

const query: fc.Arbitrary<URLSearchParams> = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom(...PARAMS), hostileString), { maxLength: 5 }),
    fc.option(fc.oneof(hostileString, fc.bigInt({ min: 0n, max: 2n ** 65n }).map(String))),
    shortWait,
  )
  .map(([pairs, index, wait]) => {
    const q = new URLSearchParams();
    for (const [k, v] of pairs) if (k !== "index" && k !== "wait") q.append(k, v);
    if (index !== null) {
      q.set("index", index);
      q.set("wait", wait);
    }
    return q;
  });

/** Values of the wrong JSON type, out of range, or deeply nested. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { A: v };
  return v;
}

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    -1,
    0,
    1e308,
    -1e308,
    2 ** 64,
    1.5,
    "",
    "x",
    [],
    {},
    [null],
    { "": 1 },
    nested(64),
    "0.0.0.0",
    "critical",
    "10s",
    "00000000-0000-0000-0000-000000000000",
  ),
  hostileString,
  fc.jsonValue({ maxDepth: 3 }),
);

/** Valid-looking bodies per route, whose fields the fuzzer then replaces with hostile values. */
const TEMPLATES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  "/v1/txn": { KV: { Verb: "set", Key: "k", Value: "dg==" } },
  "/v1/session/create": {
    Node: "n1",
    Name: "s",
    TTL: "15s",
    Behavior: "release",
    LockDelay: "1s",
    Checks: [],
  },
  "/v1/catalog/register": {
    Node: "n1",
    Address: "10.0.0.1",
    ID: "",
    Service: { ID: "web", Service: "web", Port: 80, Tags: ["a"], Meta: {} },
    Check: { CheckID: "c", Name: "c", Status: "passing", ServiceID: "web" },
    NodeMeta: {},
    TaggedAddresses: {},
  },
  "/v1/catalog/deregister": { Node: "n1", ServiceID: "web", CheckID: "c" },
  "/v1/acl/token": { Description: "d", Policies: [{ Name: "p" }], Local: false, ExpirationTTL: "1h" },
  "/v1/acl/token/": { Description: "d", Policies: [{ ID: "x" }] },
  "/v1/acl/policy": { Name: "p", Rules: 'key_prefix "" { policy = "read" }', Description: "" },
  "/v1/acl/policy/": { Name: "p", Rules: "" },
  "/v1/agent/service/register": {
    Name: "web",
    ID: "web1",
    Port: 80,
    Tags: ["a"],
    Check: { TTL: "10s" },
    Checks: [{ HTTP: "http://127.0.0.1:1/", Interval: "10s" }],
    Weights: { Passing: 1, Warning: 1 },
  },
  "/v1/agent/check/register": { Name: "c", ID: "c1", TTL: "10s", ServiceID: "web1", Status: "passing" },
  "/v1/agent/check/update/": { Status: "passing", Output: "o" },
};

/** A template with some fields (top-level or one level down) swapped for hostile values, or dropped. */
function mutated(template: Readonly<Record<string, unknown>>): fc.Arbitrary<unknown> {
  const keys = Object.keys(template);
  return fc
    .array(fc.tuple(fc.constantFrom(...keys), fc.option(hostileValue), fc.boolean()), { maxLength: 3 })
    .map((edits) => {
      const out: Record<string, unknown> = structuredClone(template) as Record<string, unknown>;
      for (const [k, shared, deep] of edits) {
        // A copy: the constants are shared across runs, and one inserted into itself would be a cycle.
        const v = structuredClone(shared);
        const inner = out[k];
        if (deep && typeof inner === "object" && inner !== null && !Array.isArray(inner)) {
          const innerKeys = Object.keys(inner);
          const ik = innerKeys[k.length % Math.max(1, innerKeys.length)] ?? "X";
          (inner as Record<string, unknown>)[ik] = v;
        } else if (v === null) delete out[k];
        else out[k] = v;
      }
      return out;
    });
}

const enc = new TextEncoder();
/** 600 KB: past kv_max_value_size (512 KB) and txn_max_req_len. */
const OVERSIZED = new Uint8Array(600 * 1024).fill(0x61);

function body(pattern: string): fc.Arbitrary<Uint8Array | undefined> {
  const template = TEMPLATES[pattern];
  const json: fc.Arbitrary<unknown> =
    template === undefined
      ? hostileValue
      : fc.oneof(
          mutated(template),
          hostileValue,
          mutated(template).map((t) => [t]),
        );
  const text = json.map((v) => JSON.stringify(v) ?? "");
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 4, arbitrary: text.map((s) => enc.encode(s)) },
    // Truncated JSON.
    {
      weight: 1,
      arbitrary: fc.tuple(text, fc.nat()).map(([s, n]) => enc.encode(s.slice(0, n % (s.length + 1)))),
    },
    // Invalid UTF-8 inside JSON strings and outside.
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 24 })
        .map((b) => Uint8Array.from([0x22, 0xff, 0xfe, ...b, 0xc3, 0x22])),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(enc.encode("1e99999"), enc.encode("-0"), enc.encode('{"a":1,"a":2}')),
    },
    { weight: 1, arbitrary: fc.constant(enc.encode(`${"[".repeat(5000)}${"]".repeat(5000)}`)) },
    { weight: 1, arbitrary: fc.constant(OVERSIZED) },
  );
}

export interface Probe {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: Uint8Array | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

export function describeProbe(p: Probe): string {
  const b =
    p.body === undefined
      ? ""
      : ` body(${p.body.length})=${JSON.stringify(Buffer.from(p.body.slice(0, 200)).toString("latin1"))}`;
  return `${p.method} ${p.path}?${p.query} headers=${JSON.stringify(p.headers)}${b}`;
}

const METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "get", "X\u0000"];

/** A hostile request to one route: its own methods mostly, others sometimes. */
export function probe(tokens: fc.Arbitrary<string | undefined>): fc.Arbitrary<Probe> {
  return fc.constantFrom(...ROUTES).chain((route) => {
    const own = Object.keys(route.methods);
    const rest = route.pattern.endsWith("/")
      ? fc.array(segment, { maxLength: 3 }).map((s) => s.join("/"))
      : fc.oneof(
          { weight: 5, arbitrary: fc.constant("") },
          { weight: 1, arbitrary: segment.map((s) => `/${s}`) },
        );
    const method = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...own) },
      { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
    );
    const headers = fc
      .tuple(tokens, fc.option(hostileString), fc.option(fc.constantFrom("-1", "abc", "99999999999", "0")))
      .map(([token, auth, length]) => {
        const h: Record<string, string> = {};
        if (token !== undefined) h["X-Consul-Token"] = token;
        if (auth !== null) h.Authorization = `Bearer ${auth}`;
        if (length !== null) h["Content-Length"] = length;
        return h;
      });
    return fc.record({
      method,
      path: rest.map((r) => route.pattern + r),
      query,
      body: body(route.pattern),
      headers,
    });
  });
}

export function toRequest(p: Probe): HttpRequest {
  const target = `${p.path}?${p.query.toString()}`;
  const headers = p.headers;
  const base = memoryRequest(
    p.method,
    target,
    p.body === undefined ? { headers } : { body: p.body, headers },
  );
  // memoryRequest splits the target at "?": keep a path holding "?" or "#" as sent by building the query apart.
  return { ...base, path: p.path, query: p.query };
}

/**
 * The 5xx answers Consul gives on purpose (docs/consul-compat.md §0.6, the rows marked 500): a client's mistake
 * its state store or endpoints return as a plain error (and the agent's and ACL endpoints' texts of §8.7 and §4.3b).
 * Anything else 5xx is a bug.
 */
const DOCUMENTED_500: readonly RegExp[] = [
  // §0.6
  /^No path to datacenter$/,
  /^No cluster leader$/,
  /^strconv\.ParseUint: parsing ".*": (invalid syntax|value out of range)$/s,
  /^invalid session ".*"$/s,
  /^missing session$/,
  /^Invalid Session TTL '.*', must be between \[10s=24h0m0s\]$/s,
  /^Session TTL '.*' invalid: /s,
  /^Invalid Behavior setting '.*'$/s,
  /^Must provide Node$/,
  /^Missing node registration$/,
  /^Check '.*' is in critical state$/s,
  /^Missing check '.*' registration$/s,
  /^Must provide node$/,
  /^Must provide address if SkipNodeUpdate is not set$/,
  /^Bad node ID: /,
  /^Must provide service name with ID$/,
  /^Invalid service address$/,
  /^failed inserting check: /,
  /^Failed to create boolean expression evaluator: /,
  // go-bexpr's evaluation errors (a filter the data cannot answer), as src/util/bexpr/evaluate.ts words them.
  /^error finding value in datum: /,
  /^strconv\.Parse(Bool|Uint|Int|Float): parsing /,
  /^unable to find suitable primitive comparison function for matching$/,
  /^error getting match value in expression: /,
  /^failed to compile regular expression /,
  /^value of type .* is not convertible to /,
  /^(address|id) ".*" was not found in the Raft configuration$/s,
  /^failed to decompress snapshot: /,
  /^stale not allowed for restore$/,
  /^Failed to parse ACL rules: /,
  /^Invalid (key|service|node|session|agent|event|query|keyring|operator|acl|mesh|peering|intention|key_prefix|service_prefix|node_prefix|session_prefix|agent_prefix|event_prefix|query_prefix)[a-z_]* policy: /,
  /^CheckID ".*" does not have associated TTL$/s,
  // §8.7b–d: the agent's force-leave, join and reload.
  /^agent: No node found with name '.*'$/s,
  /^Failed to join .*: /s,
  /^Failed to reload configs: /,
  // The twin's agent runs without configuration files or local state (tests only; §8.7c).
  /^This agent has no (configuration files to reload|local state for services and checks)$/,
  // §4.3b: the ACL endpoints' plain errors.
  /^Invalid Policy: /,
  /^Invalid Token: /,
  /^Policy ID invalid UUID$/,
  /^cannot find policy /,
  /^Changing the Rules for the builtin global-management policy is not permitted$/,
  /^Delete operation not permitted on the (builtin global-management policy|anonymous token)$/,
  /^No such (ACL )?policy with (name|ID)/,
  /^Token Expiration TTL '.*' should be > 0$/s,
  /^ExpirationTime cannot be less than /,
  /^Cannot find token ".*"$/s,
  /^Changing a tokens SecretID is not permitted$/,
  /^cannot toggle local mode of /,
  /^Cannot change expiration time of /,
  /^Accessor ID is missing or an invalid UUID$/,
  /^AccessorID is not a valid UUID$/,
  /^Deletion of the request's authorization token is not permitted$/,
  /^A policy with name ".*" already exists$/s,
  /^Invalid bootstrap reset index /,
];

/** A character Go's unicode.IsPrint refuses (anything but letters, marks, numbers, punctuation, symbols, U+0020). */
const NOT_PRINTABLE = /[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

/**
 * Empty bodies Consul sends on purpose: a missing key or entry (404), a path outside /v1/ (404), and the 400 of
 * cleanhttp's PrintablePathCheckHandler for a path with a character that is not printable.
 */
function emptyAllowed(p: Probe, status: number): boolean {
  if (p.method === "OPTIONS" || p.method === "HEAD") return true;
  if (status === 404) return true;
  if (status !== 400) return false;
  try {
    return NOT_PRINTABLE.test(decodeURIComponent(p.path));
  } catch {
    return false;
  }
}

/** Why a response breaks the rules, or null when it keeps them. */
export async function judge(p: Probe, res: HttpResponse): Promise<string | null> {
  const { status } = res;
  if (!Number.isInteger(status)) return `status ${String(status)} is not an integer`;
  const body = (await bytes(res)).toString("utf8");
  if (status >= 200 && status < 300) return null;
  if (status >= 400 && status < 500) {
    if (body.trim() === "" && !emptyAllowed(p, status)) return `${status} with an empty message`;
    return null;
  }
  if (status === 500 && DOCUMENTED_500.some((re) => re.test(body))) return null;
  // §8.8: the agent's service health answers 503 when a check is critical, with the health as its body.
  if (status === 503 && p.path.startsWith("/v1/agent/health/service/") && body !== "") return null;
  return `undocumented ${status}: ${JSON.stringify(body.slice(0, 300))}`;
}

/** Everything a request could change: the store's state (as its snapshot encodes it) and the agent's own. */
export async function digest(api: MemoryServer, local: LocalState): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of api.store.snapshot().stateBin()) h.update(chunk);
  h.update(JSON.stringify(local.services()));
  h.update(JSON.stringify(local.checks()));
  return h.digest("hex");
}
