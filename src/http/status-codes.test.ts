/**
 * Every error path of every endpoint, with Consul's status and text: the rows marked ✓ in the table "Status
 * codes by endpoint" (docs/consul-compat.md §0.6), through the real handlers over MemoryServer (the same endpoint
 * code a server runs). Applications branch on these codes (a lock loop takes only 500 + `invalid session` to mean "my
 * session is gone"), so a row changes only with the Consul source named beside it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { call, text } from "./test-util.js";

interface Row {
  /** Method and target, as sent. */
  readonly method: string;
  readonly target: string;
  readonly body?: string;
  readonly status: number;
  /** The exact body, or a pattern where the text carries a parser's detail. */
  readonly text: string | RegExp;
  /** The Consul source that decides the status and text. */
  readonly source: string;
  /** The server's kv_max_value_size, when the row needs a small one. */
  readonly kvValueBytesMax?: number;
  /** Puts the server into the state the row needs; answers the values to substitute for `$SID`. */
  readonly setup?: (api: MemoryServer) => Promise<string>;
}

const DOCS = "https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size";
const GONE = "00000000-0000-0000-0000-000000000000";
const ops = (n: number) =>
  JSON.stringify(Array.from({ length: n }, (_, i) => ({ KV: { Verb: "get-or-empty", Key: `k${i}` } })));

/**
 * A session that held `lock` and was then destroyed: what an application sees after its session expired. With
 * a lock-delay the key refuses every acquire (false) until it ends, before the session is looked up
 * (consul/kvs_endpoint.go kvsPreApply); the gone session's 500 comes after it, or at once with LockDelay 0.
 */
function goneSession(lockDelay: string): (api: MemoryServer) => Promise<string> {
  return async (api) => {
    const created = await call(api, "PUT", "/v1/session/create", `{"LockDelay":"${lockDelay}"}`);
    const sid = (JSON.parse(text(created)) as { ID: string }).ID;
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${sid}`, "me")), "true");
    assert.equal(text(await call(api, "PUT", `/v1/session/destroy/${sid}`)), "true");
    return sid;
  };
}

async function heldLock(api: MemoryServer): Promise<string> {
  const sid = await api.sessionCreate({});
  assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${sid}`, "me")), "true");
  return sid;
}

const ROWS: readonly Row[] = [
  // --- KV (agent/kvs_endpoint.go; agent/consul/state/kvs.go) ---
  {
    method: "GET",
    target: "/v1/kv/",
    status: 400,
    text: "Missing key name",
    source: "kvs_endpoint.go KVSGet",
  },
  { method: "GET", target: "/v1/kv/nope", status: 404, text: "", source: "kvs_endpoint.go KVSGet" },
  {
    method: "GET",
    target: "/v1/kv/k?index=abc",
    status: 400,
    text: "Invalid index",
    source: "http.go parseWait",
  },
  {
    method: "GET",
    target: "/v1/kv/k?wait=soon",
    status: 400,
    text: "Invalid wait time",
    source: "http.go parseWait",
  },
  {
    method: "GET",
    target: "/v1/kv/k?stale&consistent",
    status: 400,
    text: "Cannot specify ?stale with ?consistent, conflicting semantics.",
    source: "http.go parseConsistency",
  },
  {
    method: "GET",
    target: "/v1/kv/k?stale&max_stale=x",
    status: 400,
    text: 'Invalid max_stale value "x"',
    source: "http.go parseConsistency",
  },
  {
    method: "GET",
    target: "/v1/kv/k?dc=elsewhere",
    status: 500,
    text: "No path to datacenter",
    source: "structs.ErrNoDCPath",
  },
  { method: "PUT", target: "/v1/kv/", body: "v", status: 400, text: "Missing key name", source: "KVSPut" },
  {
    method: "PUT",
    target: "/v1/kv/k?cas=1&acquire=x",
    body: "v",
    status: 400,
    text: "Conflicting flags: acquire=x&cas=1\n",
    source: "kvs_endpoint.go conflictingFlags",
  },
  {
    method: "PUT",
    target: "/v1/kv/k?flags=abc",
    body: "v",
    status: 500,
    text: 'strconv.ParseUint: parsing "abc": invalid syntax',
    source: "kvs_endpoint.go KVSPut `return nil, err`",
  },
  {
    method: "PUT",
    target: "/v1/kv/k?cas=-1",
    body: "v",
    status: 500,
    text: 'strconv.ParseUint: parsing "-1": invalid syntax',
    source: "kvs_endpoint.go KVSPut `return nil, err`",
  },
  {
    method: "PUT",
    target: "/v1/kv/big",
    body: "x".repeat(600_000),
    status: 413,
    text: `Request body(600000 bytes) too large, max size: 524288 bytes. See ${DOCS}.`,
    source: "kvs_endpoint.go KVSPut",
  },
  {
    method: "PUT",
    target: `/v1/kv/lock?acquire=${GONE}`,
    body: "v",
    status: 500,
    text: `invalid session "${GONE}"`,
    source: "state/kvs.go kvsLockTxn",
  },
  {
    method: "PUT",
    target: "/v1/kv/lock?acquire=$SID",
    body: "v",
    status: 500,
    text: 'invalid session "$SID"',
    source: "state/kvs.go kvsLockTxn",
    setup: goneSession("0s"),
  },
  {
    method: "PUT",
    target: "/v1/kv/lock?acquire=$SID",
    body: "v",
    status: 200,
    text: "false",
    source: "consul/kvs_endpoint.go kvsPreApply (lock-delay)",
    setup: goneSession("15s"),
  },
  {
    method: "PUT",
    target: "/v1/kv/lock?acquire=",
    body: "v",
    status: 500,
    text: "missing session",
    source: "state/kvs.go kvsLockTxn",
  },
  {
    method: "PUT",
    target: "/v1/kv/lock?release=",
    body: "v",
    status: 500,
    text: "missing session",
    source: "state/kvs.go kvsUnlockTxn",
  },
  {
    method: "PUT",
    target: `/v1/kv/lock?release=${GONE}`,
    body: "v",
    status: 200,
    text: "false",
    source: "state/kvs.go kvsUnlockTxn (no session lookup)",
    setup: heldLock,
  },
  {
    method: "DELETE",
    target: "/v1/kv/",
    status: 400,
    text: "Missing key name",
    source: "kvs_endpoint.go KVSDelete",
  },
  {
    method: "DELETE",
    target: "/v1/kv/k?recurse&cas=1",
    status: 400,
    text: "Conflicting flags: cas=1&recurse=\n",
    source: "kvs_endpoint.go conflictingFlags",
  },
  {
    method: "DELETE",
    target: "/v1/kv/k?cas=x",
    status: 500,
    text: 'strconv.ParseUint: parsing "x": invalid syntax',
    source: "kvs_endpoint.go KVSDelete `return nil, err`",
  },
  // --- txn (agent/txn_endpoint.go) ---
  {
    method: "PUT",
    target: "/v1/txn",
    body: "[",
    status: 400,
    text: /^Failed to parse body: /,
    source: "txn_endpoint.go convertOps",
  },
  {
    method: "PUT",
    target: "/v1/txn",
    body: ops(129),
    status: 413,
    text: "Transaction contains too many operations (129 > 128)",
    source: "txn_endpoint.go convertOps",
  },
  {
    method: "PUT",
    target: "/v1/txn",
    body: "x".repeat(600_000),
    status: 413,
    text: "Request body too large, max size: 524288 bytes",
    source: "txn_endpoint.go convertOps",
  },
  {
    method: "PUT",
    target: "/v1/txn",
    body: '[{"KV":{"Verb":"get","Key":"a"}},{"KV":{"Verb":"set","Key":"big","Value":"MDEyMzQ1Njc4OTA="}}]',
    kvValueBytesMax: 10,
    status: 413,
    text: 'Value for key "big" is too large (11 > 10 bytes)',
    source: "txn_endpoint.go convertOps",
  },
  {
    method: "PUT",
    target: "/v1/txn",
    body: `[{"KV":{"Verb":"lock","Key":"k","Session":"${GONE}"}}]`,
    status: 409,
    text: `{"Results":null,"Errors":[{"OpIndex":0,"What":"invalid session \\"${GONE}\\""}]}`,
    source: "txn_endpoint.go Txn (conflict)",
  },
  // --- sessions (agent/session_endpoint.go; agent/consul/session_endpoint.go) ---
  {
    method: "PUT",
    target: "/v1/session/create",
    body: '{"TTL":"5s"}',
    status: 500,
    text: "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]",
    source: "consul/session_endpoint.go Apply",
  },
  {
    method: "PUT",
    target: "/v1/session/create",
    body: '{"TTL":"25h"}',
    status: 500,
    text: "Invalid Session TTL '90000000000000', must be between [10s=24h0m0s]",
    source: "consul/session_endpoint.go Apply",
  },
  {
    method: "PUT",
    target: "/v1/session/create",
    body: '{"TTL":"5"}',
    status: 500,
    text: `Session TTL '5' invalid: time: missing unit in duration "5"`,
    source: "consul/session_endpoint.go Apply",
  },
  {
    method: "PUT",
    target: "/v1/session/create",
    body: '{"Behavior":"keep"}',
    status: 500,
    text: "Invalid Behavior setting 'keep'",
    source: "consul/session_endpoint.go Apply",
  },
  {
    method: "PUT",
    target: "/v1/session/create",
    body: '{"Node":""}',
    status: 500,
    text: "Must provide Node",
    source: "consul/session_endpoint.go Apply",
  },
  {
    method: "PUT",
    target: "/v1/session/create",
    body: "{",
    status: 400,
    text: /^Request decode failed: /,
    source: "session_endpoint.go SessionCreate decodeBody",
  },
  {
    method: "PUT",
    target: "/v1/session/destroy/",
    status: 400,
    text: "Missing session",
    source: "session_endpoint.go SessionDestroy",
  },
  {
    method: "PUT",
    target: "/v1/session/renew/",
    status: 400,
    text: "Missing session",
    source: "session_endpoint.go SessionRenew",
  },
  {
    method: "PUT",
    target: `/v1/session/renew/${GONE}`,
    status: 404,
    text: `Session id '${GONE}' not found`,
    source: "session_endpoint.go SessionRenew",
  },
  {
    method: "GET",
    target: "/v1/session/info/",
    status: 400,
    text: "Missing session",
    source: "session_endpoint.go SessionGet",
  },
  {
    method: "GET",
    target: "/v1/session/node/",
    status: 400,
    text: "Missing node name",
    source: "session_endpoint.go SessionsForNode",
  },
  // --- catalog (agent/catalog_endpoint.go; agent/consul/catalog_endpoint.go) ---
  {
    method: "PUT",
    target: "/v1/catalog/register",
    body: "{",
    status: 400,
    text: /^Request decode failed: /,
    source: "catalog_endpoint.go CatalogRegister decodeBody",
  },
  {
    method: "PUT",
    target: "/v1/catalog/register",
    body: "{}",
    status: 500,
    text: "Must provide node",
    source: "consul/catalog_endpoint.go Register",
  },
  {
    method: "PUT",
    target: "/v1/catalog/register",
    body: '{"Node":"n"}',
    status: 500,
    text: "Must provide address if SkipNodeUpdate is not set",
    source: "consul/catalog_endpoint.go Register",
  },
  {
    method: "PUT",
    target: "/v1/catalog/register",
    body: '{"Node":"n","Address":"a","Check":{"Name":"c","ServiceID":"nope"}}',
    status: 500,
    text: "failed inserting check: Missing service registration",
    source: "state/catalog.go ensureCheckTxn",
  },
  {
    method: "PUT",
    target: "/v1/catalog/deregister",
    body: "{}",
    status: 500,
    text: "Must provide node",
    source: "consul/catalog_endpoint.go Deregister",
  },
  {
    method: "GET",
    target: "/v1/catalog/service/",
    status: 400,
    text: "Missing service name",
    source: "catalog_endpoint.go CatalogServiceNodes",
  },
  {
    method: "GET",
    target: "/v1/catalog/node/",
    status: 400,
    text: "Missing node name",
    source: "catalog_endpoint.go CatalogNodeServices",
  },
  // --- health (agent/health_endpoint.go) ---
  {
    method: "GET",
    target: "/v1/health/node/",
    status: 400,
    text: "Missing node name",
    source: "health_endpoint.go HealthNodeChecks",
  },
  {
    method: "GET",
    target: "/v1/health/checks/",
    status: 400,
    text: "Missing service name",
    source: "health_endpoint.go HealthServiceChecks",
  },
  {
    method: "GET",
    target: "/v1/health/service/",
    status: 400,
    text: "Missing service name",
    source: "health_endpoint.go healthServiceNodes",
  },
  {
    method: "GET",
    target: "/v1/health/service/web?passing=maybe",
    status: 400,
    text: "Invalid value for ?passing",
    source: "health_endpoint.go healthServiceNodes",
  },
  {
    method: "GET",
    target: "/v1/health/state/",
    status: 400,
    text: "Missing check state",
    source: "health_endpoint.go HealthChecksInState",
  },
  {
    method: "GET",
    target: "/v1/health/state/bogus",
    status: 200,
    text: "[]",
    source:
      "health_endpoint.go HealthChecksInState (no check of the state; state/catalog.go checksInStateTxn reads the status index)",
  },
  // --- filter (go-bexpr CreateFilter's error, returned plain: agent/http.go's default 500) ---
  {
    method: "GET",
    target: "/v1/catalog/nodes?filter=(Node%3D%3Dx",
    status: 500,
    text: "Failed to create boolean expression evaluator: 1:9 (8): rule grouping: Unmatched parentheses",
    source: "consul/catalog_endpoint.go ListNodes: bexpr.CreateFilter; agent/http.go handleErr default",
  },
  {
    method: "GET",
    target: "/v1/health/state/any?filter=Status%20%3D%3D",
    status: 500,
    text: /^Failed to create boolean expression evaluator: 1:10 \(9\): no match found/,
    source: "consul/health_endpoint.go ChecksInState: bexpr.CreateFilter",
  },
  // --- operator (agent/operator_endpoint.go) ---
  {
    method: "DELETE",
    target: "/v1/operator/raft/peer",
    status: 400,
    text: "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
    source: "operator_endpoint.go OperatorRaftPeer",
  },
  {
    method: "DELETE",
    target: "/v1/operator/raft/peer?id=a&address=b",
    status: 400,
    text: "Must specify only one of ?id or ?address",
    source: "operator_endpoint.go OperatorRaftPeer",
  },
  // --- snapshot (agent/snapshot_endpoint.go; agent/consul/snapshot_endpoint.go) ---
  {
    method: "PUT",
    target: "/v1/snapshot",
    body: "not an archive",
    status: 500,
    text: "failed to decompress snapshot: gzip: invalid header",
    source: "snapshot_endpoint.go Snapshot (the restore RPC's error)",
  },
  {
    method: "PUT",
    target: "/v1/snapshot?stale",
    body: "x",
    status: 500,
    text: "stale not allowed for restore",
    source: "consul/snapshot_endpoint.go dispatchSnapshotRequest",
  },
  // --- routing (agent/http.go, http_register.go) ---
  {
    method: "GET",
    target: "/v1/nope",
    status: 404,
    text: "Invalid URL path: not a recognized HTTP API endpoint\n",
    source: "http.go handler",
  },
  {
    method: "GET",
    target: "/v1/txn",
    status: 405,
    text: "method GET not allowed",
    source: "http.go MethodNotAllowedError",
  },
];

describe("status codes and texts, as Consul's (consul-compat.md, Status codes by endpoint)", () => {
  for (const row of ROWS) {
    it(`${row.method} ${row.target.slice(0, 60)}${row.body === undefined ? "" : ` ${row.body.slice(0, 40)}`} → ${row.status} (${row.source})`, async () => {
      const api = new MemoryServer(
        row.kvValueBytesMax === undefined ? {} : { kvValueBytesMax: row.kvValueBytesMax },
      );
      const sid = row.setup === undefined ? "" : await row.setup(api);
      const res = await call(api, row.method, row.target.replaceAll("$SID", sid), row.body);
      assert.equal(res.status, row.status, text(res));
      if (typeof row.text === "string") assert.equal(text(res), row.text.replaceAll("$SID", sid));
      else assert.match(text(res), row.text);
    });
  }

  it("without a leader, every read and write is 500 No cluster leader (structs.ErrNoLeader)", async () => {
    const api = new MemoryServer();
    api.hasLeader = false;
    for (const [method, target, body] of [
      ["GET", "/v1/kv/k", undefined],
      ["PUT", "/v1/kv/k", "v"],
      ["PUT", "/v1/session/create", undefined],
      ["GET", "/v1/catalog/nodes", undefined],
    ] as const) {
      const res = await call(api, method, target, body);
      assert.deepEqual([res.status, text(res)], [500, "No cluster leader"], `${method} ${target}`);
    }
  });
});
