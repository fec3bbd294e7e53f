/**
 * The policy matrix over the real HTTP handlers: a table of rules × requests → allowed, denied (Consul's 403
 * texts) or filtered, for every rule kind the endpoints ask about and every endpoint family, against a
 * MemoryServer with ACLs on (default deny) and its data written by the management token.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { AclSettings } from "../api/acl-types.js";
import { MemoryServer } from "../api/memory-server.js";
import { type HttpResponse, memoryRequest } from "./model.js";
import { handle } from "./router.js";
import { bytes, text } from "./test-util.js";

const ROOT = "root-secret-for-tests";

async function aclServer(extra: Partial<AclSettings> = {}): Promise<MemoryServer> {
  const s = new MemoryServer({
    acl: {
      enabled: true,
      defaultPolicy: "deny",
      downPolicy: "extend-cache",
      tokens: { initialManagement: ROOT },
      ...extra,
    },
  });
  await s.aclReady;
  return s;
}

function send(api: MemoryServer, token: string | null, method: string, target: string, body?: string) {
  const headers: Record<string, string> = token === null ? {} : { "X-Consul-Token": token };
  return handle(memoryRequest(method, target, body === undefined ? { headers } : { headers, body }), api);
}

async function ok(res: Promise<HttpResponse>): Promise<string> {
  const r = await res;
  assert.equal(r.status, 200, text(r));
  return text(r);
}

let policies = 0;
/** A token whose only policy has these rules; returns its secret. */
async function tokenWith(api: MemoryServer, rules: string): Promise<string> {
  const name = `p${++policies}`;
  const p = JSON.parse(
    await ok(send(api, ROOT, "PUT", "/v1/acl/policy", JSON.stringify({ Name: name, Rules: rules }))),
  );
  const t = JSON.parse(
    await ok(send(api, ROOT, "PUT", "/v1/acl/token", JSON.stringify({ Policies: [{ ID: p.ID }] }))),
  );
  return t.SecretID as string;
}

async function seed(api: MemoryServer): Promise<void> {
  for (const k of ["app/a", "app/b", "secret/x"]) await ok(send(api, ROOT, "PUT", `/v1/kv/${k}`, "v"));
  for (const [node, address] of [
    ["n1", "10.0.0.1"],
    ["n2", "10.0.0.2"],
  ] as const) {
    for (const service of ["web", "db"]) {
      const body = {
        Node: node,
        Address: address,
        Service: { ID: service, Service: service, Port: 80 },
        Check: { CheckID: `${service}-check`, Name: "c", Status: "passing", ServiceID: service },
      };
      await ok(send(api, ROOT, "PUT", "/v1/catalog/register", JSON.stringify(body)));
    }
  }
  await ok(send(api, ROOT, "PUT", "/v1/session/create", JSON.stringify({ Node: "n1", Name: "s1" })));
  await ok(send(api, ROOT, "PUT", "/v1/session/create", JSON.stringify({ Node: "n2", Name: "s2" })));
}

type Expect = "allow" | "deny" | ((body: string) => void);

interface Row {
  readonly rules: string;
  readonly method: string;
  readonly target: string;
  readonly body?: string;
  readonly expect: Expect;
}

const keys = (want: string[]) => (b: string) => assert.deepEqual(JSON.parse(b), want);
const entryKeys = (want: string[]) => (b: string) =>
  assert.deepEqual(
    (JSON.parse(b) as { Key: string }[]).map((e) => e.Key),
    want,
  );
const names = (field: string, want: string[]) => (b: string) =>
  assert.deepEqual(
    [...new Set((JSON.parse(b) as Record<string, string>[]).map((e) => e[field]))].sort(),
    want,
  );

const READ_APP = 'key_prefix "app/" { policy = "read" }';
const WRITE_APP = 'key_prefix "app/" { policy = "write" }';
const NODES_READ = 'node_prefix "" { policy = "read" }';

const MATRIX: readonly Row[] = [
  // key / key_prefix: exact beats prefix, the longest prefix wins, read does not write
  { rules: READ_APP, method: "GET", target: "/v1/kv/app/a", expect: "allow" },
  { rules: READ_APP, method: "GET", target: "/v1/kv/secret/x", expect: "deny" },
  { rules: READ_APP, method: "PUT", target: "/v1/kv/app/a", body: "w", expect: "deny" },
  { rules: READ_APP, method: "GET", target: "/v1/kv/?recurse", expect: entryKeys(["app/a", "app/b"]) },
  { rules: READ_APP, method: "GET", target: "/v1/kv/?keys", expect: keys(["app/a", "app/b"]) },
  { rules: WRITE_APP, method: "PUT", target: "/v1/kv/app/c", body: "w", expect: "allow" },
  { rules: WRITE_APP, method: "PUT", target: "/v1/kv/secret/y", body: "w", expect: "deny" },
  { rules: WRITE_APP, method: "DELETE", target: "/v1/kv/app/zz/?recurse", expect: "allow" },
  { rules: WRITE_APP, method: "DELETE", target: "/v1/kv/?recurse", expect: "deny" },
  {
    rules: `${WRITE_APP}\nkey "app/locked" { policy = "read" }`,
    method: "DELETE",
    target: "/v1/kv/app/?recurse",
    expect: "deny",
  },
  {
    rules: 'key_prefix "" { policy = "write" }\nkey "app/a" { policy = "deny" }',
    method: "GET",
    target: "/v1/kv/app/a",
    expect: "deny",
  },
  {
    rules: 'key_prefix "" { policy = "write" }\nkey "app/a" { policy = "deny" }',
    method: "GET",
    target: "/v1/kv/app/b",
    expect: "allow",
  },
  {
    rules: 'key_prefix "" { policy = "read" }\nkey_prefix "secret/" { policy = "deny" }',
    method: "GET",
    target: "/v1/kv/?recurse",
    // app/c: written by an earlier row (rows run in order).
    expect: entryKeys(["app/a", "app/b", "app/c"]),
  },
  // txn: a denied op fails the whole txn (409) with the denial as its error; reads are filtered
  {
    rules: READ_APP,
    method: "PUT",
    target: "/v1/txn",
    body: JSON.stringify([{ KV: { Verb: "set", Key: "app/t", Value: "dg==" } }]),
    expect: (b) =>
      assert.match(
        b,
        /"What":"Permission denied: token with AccessorID '[^']+' lacks permission 'key:write' on \\"app\/t\\""/,
      ),
  },
  {
    rules: READ_APP,
    method: "PUT",
    target: "/v1/txn",
    body: JSON.stringify([{ KV: { Verb: "get", Key: "app/a" } }, { KV: { Verb: "get", Key: "secret/x" } }]),
    expect: (b) =>
      assert.deepEqual(
        (JSON.parse(b) as { Results: { KV: { Key: string } }[] }).Results.map((r) => r.KV.Key),
        ["app/a"],
      ),
  },
  // session / session_prefix: writes by node, reads filtered
  {
    rules: 'session "n1" { policy = "write" }',
    method: "PUT",
    target: "/v1/session/create",
    body: '{"Node":"n1"}',
    expect: "allow",
  },
  {
    rules: 'session "n1" { policy = "write" }',
    method: "PUT",
    target: "/v1/session/create",
    body: '{"Node":"n2"}',
    expect: "deny",
  },
  {
    rules: 'session_prefix "n1" { policy = "read" }',
    method: "GET",
    target: "/v1/session/list",
    expect: names("Node", ["n1"]),
  },
  { rules: READ_APP, method: "GET", target: "/v1/session/list", expect: keys([]) },
  // node / node_prefix, service / service_prefix: catalog and health reads filtered, writes checked
  {
    rules: 'node "n1" { policy = "read" }',
    method: "GET",
    target: "/v1/catalog/nodes",
    expect: names("Node", ["n1"]),
  },
  {
    rules: 'service "web" { policy = "read" }',
    method: "GET",
    target: "/v1/catalog/services",
    expect: (b) => assert.deepEqual(Object.keys(JSON.parse(b)), ["web"]),
  },
  {
    rules: `${NODES_READ}\nservice_prefix "w" { policy = "read" }`,
    method: "GET",
    target: "/v1/catalog/service/db",
    expect: keys([]),
  },
  {
    rules: `${NODES_READ}\nservice_prefix "w" { policy = "read" }`,
    method: "GET",
    target: "/v1/catalog/service/web",
    expect: names("Node", ["n1", "n2"]),
  },
  {
    rules: 'node "n2" { policy = "read" }\nservice "web" { policy = "read" }',
    method: "GET",
    target: "/v1/health/service/web",
    expect: (b) =>
      assert.deepEqual(
        (JSON.parse(b) as { Node: { Node: string } }[]).map((e) => e.Node.Node),
        ["n2"],
      ),
  },
  { rules: 'node "n1" { policy = "read" }', method: "GET", target: "/v1/health/node/n1", expect: keys([]) },
  {
    rules: 'node "n1" { policy = "read" }\nservice "db" { policy = "read" }',
    method: "GET",
    target: "/v1/health/node/n1",
    expect: names("CheckID", ["db-check"]),
  },
  {
    rules: 'service "web" { policy = "read" }',
    method: "GET",
    target: "/v1/catalog/node/n1",
    expect: (b) => assert.equal(b, "null"),
  },
  {
    rules: 'node "n1" { policy = "write" }\nservice "web" { policy = "write" }',
    method: "PUT",
    target: "/v1/catalog/register",
    body: JSON.stringify({
      Node: "n1",
      Address: "10.0.0.1",
      Service: { ID: "web", Service: "web", Port: 81 },
    }),
    expect: "allow",
  },
  {
    rules: 'service "web" { policy = "write" }',
    method: "PUT",
    target: "/v1/catalog/register",
    body: JSON.stringify({
      Node: "n1",
      Address: "10.0.0.1",
      Service: { ID: "web", Service: "web", Port: 82 },
    }),
    expect: "allow",
  },
  {
    rules: 'service "web" { policy = "write" }',
    method: "PUT",
    target: "/v1/catalog/register",
    body: JSON.stringify({
      Node: "n1",
      Address: "10.9.9.9",
      Service: { ID: "web", Service: "web", Port: 82 },
    }),
    expect: "deny",
  },
  {
    rules: 'node_prefix "" { policy = "write" }',
    method: "PUT",
    target: "/v1/catalog/register",
    body: JSON.stringify({
      Node: "n1",
      Address: "10.0.0.1",
      Service: { ID: "db", Service: "db", Port: 5432 },
    }),
    expect: "deny",
  },
  {
    rules: 'service "web" { policy = "write" }',
    method: "PUT",
    target: "/v1/catalog/deregister",
    body: JSON.stringify({ Node: "n2", ServiceID: "db" }),
    expect: "deny",
  },
  // operator, acl and the snapshot (acl:write)
  { rules: 'operator = "read"', method: "GET", target: "/v1/operator/raft/configuration", expect: "allow" },
  { rules: 'operator = "read"', method: "POST", target: "/v1/operator/raft/transfer-leader", expect: "deny" },
  { rules: READ_APP, method: "GET", target: "/v1/operator/autopilot/health", expect: "deny" },
  { rules: 'acl = "read"', method: "GET", target: "/v1/acl/policies", expect: "allow" },
  {
    rules: 'acl = "read"',
    method: "PUT",
    target: "/v1/acl/policy",
    body: '{"Name":"x","Rules":""}',
    expect: "deny",
  },
  {
    rules: 'key_prefix "" { policy = "write" }\noperator = "write"',
    method: "GET",
    target: "/v1/snapshot",
    expect: "deny",
  },
  { rules: 'acl = "write"', method: "GET", target: "/v1/snapshot", expect: "allow" },
  // agent / agent_prefix
  { rules: 'agent_prefix "" { policy = "read" }', method: "GET", target: "/v1/agent/self", expect: "allow" },
  { rules: NODES_READ, method: "GET", target: "/v1/agent/self", expect: "deny" },
  // status needs nothing
  { rules: READ_APP, method: "GET", target: "/v1/status/leader", expect: "allow" },
];

describe("ACL enforcement: the policy matrix over every endpoint family", () => {
  let api: MemoryServer;
  before(async () => {
    api = await aclServer();
    await seed(api);
  });

  for (const row of MATRIX) {
    const what = typeof row.expect === "string" ? row.expect : "filtered";
    it(`${row.rules.replaceAll("\n", "; ")} × ${row.method} ${row.target} → ${what}`, async () => {
      const secret = await tokenWith(api, row.rules);
      const res = await send(api, secret, row.method, row.target, row.body);
      const body = row.target === "/v1/snapshot" && res.status === 200 ? "" : text(res);
      if (row.expect === "deny") {
        assert.equal(res.status, 403, body);
        assert.match(
          body,
          /^Permission denied: token with AccessorID '[0-9a-f-]{36}' lacks permission '[a-z]+:[a-z]+'/,
        );
      } else if (row.expect === "allow") {
        assert.ok(res.status === 200, `${res.status} ${body}`);
        if (row.target === "/v1/snapshot") assert.ok((await bytes(res)).length > 0);
      } else {
        assert.ok(res.status === 200 || res.status === 409, `${res.status} ${body}`);
        try {
          row.expect(body);
        } catch (e) {
          throw new Error(`${res.status} ${body}`, { cause: e });
        }
      }
    });
  }
});

describe("ACL enforcement: tokens and the default policy", () => {
  it("the anonymous token is used without a token, and its denial says so", async () => {
    const api = await aclServer();
    await ok(send(api, ROOT, "PUT", "/v1/kv/k", "v"));
    const res = await send(api, null, "GET", "/v1/kv/k");
    assert.equal(res.status, 403);
    assert.match(text(res), /^Permission denied: anonymous token lacks permission 'key:read' on "k"/);
    assert.equal(res.headers["X-Consul-Default-ACL-Policy"], "deny");
  });

  it("an unknown secret is 403 ACL not found, on reads and writes alike", async () => {
    const api = await aclServer();
    for (const [m, p] of [
      ["GET", "/v1/kv/k"],
      ["PUT", "/v1/kv/k"],
      ["GET", "/v1/catalog/nodes"],
    ] as const) {
      const res = await send(api, "no-such-secret", m, p, m === "PUT" ? "v" : undefined);
      assert.equal(res.status, 403);
      assert.equal(text(res), "ACL not found");
    }
  });

  it("with default_policy allow, what no rule names is allowed, and ACL writes still need a grant", async () => {
    const api = await aclServer({ defaultPolicy: "allow" });
    await ok(send(api, null, "PUT", "/v1/kv/k", "v"));
    const denied = await tokenWith(api, 'key "k" { policy = "deny" }');
    assert.equal((await send(api, denied, "GET", "/v1/kv/k")).status, 403);
    assert.equal((await send(api, null, "GET", "/v1/acl/policies")).status, 403);
    assert.equal((await send(api, null, "GET", "/v1/snapshot")).status, 403);
  });

  it("the agent's default token stands in for a request without one", async () => {
    const api = await aclServer();
    const reader = await tokenWith(api, READ_APP);
    // A second server over the same settings cannot see the first's tokens: use the same server's settings.
    const withDefault = new MemoryServer({
      acl: {
        enabled: true,
        defaultPolicy: "deny",
        downPolicy: "extend-cache",
        tokens: { initialManagement: ROOT, default: reader },
      },
    });
    await withDefault.aclReady;
    // The default token must exist in this server's state: create it by its secret.
    const p = JSON.parse(
      await ok(
        send(withDefault, ROOT, "PUT", "/v1/acl/policy", JSON.stringify({ Name: "r", Rules: READ_APP })),
      ),
    );
    await ok(
      send(
        withDefault,
        ROOT,
        "PUT",
        "/v1/acl/token",
        JSON.stringify({ SecretID: reader, Policies: [{ ID: p.ID }] }),
      ),
    );
    await ok(send(withDefault, ROOT, "PUT", "/v1/kv/app/a", "v"));
    assert.equal((await send(withDefault, null, "GET", "/v1/kv/app/a")).status, 200);
    assert.equal((await send(withDefault, null, "PUT", "/v1/kv/app/a", "w")).status, 403);
  });

  it("a deleted token stops working at once, and a changed policy is in force on the next request", async () => {
    const api = await aclServer();
    await ok(send(api, ROOT, "PUT", "/v1/kv/app/a", "v"));
    const p = JSON.parse(
      await ok(send(api, ROOT, "PUT", "/v1/acl/policy", JSON.stringify({ Name: "chg", Rules: READ_APP }))),
    );
    const t = JSON.parse(
      await ok(send(api, ROOT, "PUT", "/v1/acl/token", JSON.stringify({ Policies: [{ ID: p.ID }] }))),
    );
    assert.equal((await send(api, t.SecretID, "GET", "/v1/kv/app/a")).status, 200);
    await ok(
      send(
        api,
        ROOT,
        "PUT",
        `/v1/acl/policy/${p.ID}`,
        JSON.stringify({ Name: "chg", Rules: 'key "other" { policy = "read" }' }),
      ),
    );
    assert.equal((await send(api, t.SecretID, "GET", "/v1/kv/app/a")).status, 403);
    await ok(send(api, ROOT, "DELETE", `/v1/acl/token/${t.AccessorID}`));
    const gone = await send(api, t.SecretID, "GET", "/v1/kv/other");
    assert.equal(gone.status, 403);
    assert.equal(text(gone), "ACL not found");
  });

  it("with enable_key_list_policy, listing needs list on the prefix (list ranks above read, as Consul's)", async () => {
    const api = await aclServer({ enableKeyListPolicy: true });
    await ok(send(api, ROOT, "PUT", "/v1/kv/app/a", "v"));
    const lister = await tokenWith(api, 'key_prefix "app/" { policy = "list" }');
    assert.deepEqual(JSON.parse(await ok(send(api, lister, "GET", "/v1/kv/app/?keys"))), ["app/a"]);
    assert.equal((await send(api, lister, "GET", "/v1/kv/app/?recurse")).status, 200);
    assert.equal((await send(api, lister, "PUT", "/v1/kv/app/a", "w")).status, 403);
    const reader = await tokenWith(api, READ_APP);
    assert.equal((await send(api, reader, "GET", "/v1/kv/app/?keys")).status, 403);
    assert.equal((await send(api, reader, "GET", "/v1/kv/app/?recurse")).status, 403);
    assert.equal((await send(api, reader, "GET", "/v1/kv/app/a")).status, 200);
  });

  it("a token with acl:read alone sees other tokens' SecretIDs as <hidden>; acl:write sees them", async () => {
    const api = await aclServer();
    const reader = await tokenWith(api, 'acl = "read"');
    const list = JSON.parse(await ok(send(api, reader, "GET", "/v1/acl/tokens"))) as { SecretID: string }[];
    assert.ok(list.length >= 2 && list.every((t) => t.SecretID === "<hidden>"), JSON.stringify(list));
    const full = JSON.parse(await ok(send(api, ROOT, "GET", "/v1/acl/tokens"))) as { SecretID: string }[];
    assert.ok(full.some((t) => t.SecretID === ROOT));
  });

  it("rules that do not parse are refused when the policy is written (500, Consul's text)", async () => {
    const api = await aclServer();
    const res = await send(
      api,
      ROOT,
      "PUT",
      "/v1/acl/policy",
      JSON.stringify({ Name: "bad", Rules: 'key "a" { policy = "nope" }' }),
    );
    assert.equal(res.status, 500);
    assert.match(text(res), /^Invalid key policy/);
  });
});
