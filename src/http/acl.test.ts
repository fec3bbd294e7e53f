import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AclSettings } from "../api/acl-types.js";
import { MemoryServer } from "../api/memory-server.js";
import { type HttpResponse, memoryRequest } from "./model.js";
import { requestToken } from "./request-token.js";
import { handle } from "./router.js";
import { call, text } from "./test-util.js";

const GM = "00000000-0000-0000-0000-000000000001";
/** The initial management token's secret, for the requests that need acl:read or acl:write. */
const ROOT = "5f0c3a9e-8d21-4b6f-9c4e-2a7b1d3e6f80";

/** A request made with the management token. */
function asRoot(api: MemoryServer, method: string, target: string, body?: string): Promise<HttpResponse> {
  const init = body === undefined ? {} : { body };
  return handle(
    memoryRequest(method, target, { ...init, headers: { "X-Consul-Token": ROOT } }),
    api,
    undefined,
  );
}
const ANON = "00000000-0000-0000-0000-000000000002";

async function aclServer(extra: Partial<AclSettings> = {}): Promise<MemoryServer> {
  const s = new MemoryServer({
    acl: { enabled: true, defaultPolicy: "deny", downPolicy: "extend-cache", tokens: {}, ...extra },
  });
  await s.aclReady;
  return s;
}

function json<T>(body: string): T {
  return JSON.parse(body) as T;
}

interface TokenJson {
  AccessorID: string;
  SecretID: string;
  Description: string;
  Policies?: { ID: string; Name: string }[];
  Local: boolean;
  CreateTime: string;
  Hash: string;
  CreateIndex: number;
  ModifyIndex: number;
}

describe("the request's token", () => {
  it("comes from ?token=, then X-Consul-Token, then Authorization: Bearer", () => {
    const r = (target: string, headers: Record<string, string> = {}) =>
      requestToken(memoryRequest("GET", target, { headers }));
    assert.equal(r("/v1/x?token=q", { "X-Consul-Token": "h", Authorization: "Bearer b" }), "q");
    assert.equal(r("/v1/x", { "X-Consul-Token": "h", Authorization: "Bearer b" }), "h");
    assert.equal(r("/v1/x", { Authorization: "bEaReR  b c" }), "b");
    assert.equal(r("/v1/x", { Authorization: "Basic b" }), "");
    assert.equal(r("/v1/x"), "");
  });
});

describe("PUT /v1/acl/bootstrap", () => {
  it("401 with ACLs disabled", async () => {
    const res = await call(new MemoryServer(), "PUT", "/v1/acl/bootstrap");
    assert.equal(res.status, 401);
    assert.equal(text(res), "ACL support disabled");
  });

  it("answers the token in Consul's shape once; then 403 with the reset index", async () => {
    const api = await aclServer();
    const res = await call(api, "PUT", "/v1/acl/bootstrap");
    assert.equal(res.status, 200, text(res));
    const body = text(res);
    const t = json<TokenJson>(body);
    assert.deepEqual(Object.keys(t), [
      "ID",
      "AccessorID",
      "SecretID",
      "Description",
      "Policies",
      "Local",
      "CreateTime",
      "Hash",
      "CreateIndex",
      "ModifyIndex",
    ]);
    assert.equal(t.Description, "Bootstrap Token (Global Management)");
    assert.equal((t as TokenJson & { ID: string }).ID, t.SecretID, "the legacy ID is the secret");
    assert.deepEqual(t.Policies, [{ ID: GM, Name: "global-management" }]);
    assert.match(t.CreateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal(Buffer.from(t.Hash, "base64").length, 32);
    const again = await call(api, "PUT", "/v1/acl/bootstrap");
    assert.equal(again.status, 403);
    assert.equal(
      text(again),
      `Permission denied: ACL bootstrap no longer allowed (reset index: ${t.CreateIndex})`,
    );
  });
});

describe("/v1/acl/token and /v1/acl/policy", () => {
  it("create, read (blocking), self, list with ?policy=, update, clone and delete", async () => {
    const api = await aclServer({ tokens: { initialManagement: ROOT } });
    const p = await asRoot(
      api,
      "PUT",
      "/v1/acl/policy",
      '{"Name":"kv-read","Rules":"key_prefix \\"\\" { policy = \\"read\\" }"}',
    );
    assert.equal(p.status, 200, text(p));
    const policy = json<{ ID: string; Name: string; Datacenters: null }>(text(p));
    assert.equal(policy.Datacenters, null);
    const c = await asRoot(
      api,
      "PUT",
      "/v1/acl/token",
      '{"Description":"app","Policies":[{"Name":"kv-read"}]}',
    );
    assert.equal(c.status, 200, text(c));
    const tok = json<TokenJson>(text(c));
    assert.deepEqual(tok.Policies, [{ ID: policy.ID, Name: "kv-read" }]);

    const read = await asRoot(api, "GET", `/v1/acl/token/${tok.AccessorID}`);
    assert.equal(read.status, 200);
    assert.equal(read.headers["X-Consul-Index"], String(tok.ModifyIndex));
    const self = await call(api, "GET", "/v1/acl/token/self", undefined);
    assert.equal(self.status, 403, "no token: not found");
    assert.equal(text(self), "ACL not found");
    const selfRes = await handle(
      memoryRequest("GET", "/v1/acl/token/self", { headers: { "X-Consul-Token": tok.SecretID } }),
      api,
      undefined,
    );
    assert.equal(json<TokenJson>(text(selfRes)).AccessorID, tok.AccessorID);

    const list = await asRoot(api, "GET", `/v1/acl/tokens?policy=${policy.ID}`);
    assert.deepEqual(
      json<TokenJson[]>(text(list)).map((x) => x.AccessorID),
      [tok.AccessorID],
    );
    const all = json<TokenJson[]>(text(await asRoot(api, "GET", "/v1/acl/tokens")));
    assert.ok(all.some((x) => x.AccessorID === ANON));

    // A blocking read of the token returns once it changes.
    const index = Number(read.headers["X-Consul-Index"]);
    const blocked = asRoot(api, "GET", `/v1/acl/token/${tok.AccessorID}?index=${index}&wait=30s`);
    const u = await asRoot(api, "PUT", `/v1/acl/token/${tok.AccessorID}`, '{"Description":"v2"}');
    assert.equal(u.status, 200, text(u));
    const woke = await blocked;
    assert.equal(json<TokenJson>(text(woke)).Description, "v2");
    assert.ok(Number(woke.headers["X-Consul-Index"]) > index);

    const mismatch = await asRoot(api, "PUT", `/v1/acl/token/${tok.AccessorID}`, `{"AccessorID":"${ANON}"}`);
    assert.equal(mismatch.status, 400);
    assert.equal(text(mismatch), "Token Accessor ID in URL and payload do not match");

    const clone = await asRoot(api, "PUT", `/v1/acl/token/${tok.AccessorID}/clone`, '{"Description":"copy"}');
    assert.equal(clone.status, 200, text(clone));
    assert.equal(json<TokenJson>(text(clone)).Description, "copy");

    const del = await asRoot(api, "DELETE", `/v1/acl/token/${tok.AccessorID}`);
    assert.equal(del.status, 200);
    assert.equal(text(del), "true");
    const gone = await asRoot(api, "GET", `/v1/acl/token/${tok.AccessorID}`);
    assert.equal(gone.status, 404);
    assert.equal(text(gone), "Requested token does not exist: ACL not found");
  });

  it("policies: by id and name, list stubs, duplicate name 500, missing 404, delete", async () => {
    const api = await aclServer({ tokens: { initialManagement: ROOT } });
    const p = json<{ ID: string }>(
      text(await asRoot(api, "PUT", "/v1/acl/policy", '{"Name":"ops","Description":"d"}')),
    );
    const byName = await asRoot(api, "GET", "/v1/acl/policy/name/ops");
    assert.equal(json<{ ID: string }>(text(byName)).ID, p.ID);
    const dup = await asRoot(api, "PUT", "/v1/acl/policy", '{"Name":"ops"}');
    assert.equal(dup.status, 500);
    assert.equal(text(dup), 'Invalid Policy: A Policy with Name "ops" already exists');
    const list = json<Record<string, unknown>[]>(text(await asRoot(api, "GET", "/v1/acl/policies")));
    assert.deepEqual(Object.keys(list[0] ?? {}), [
      "ID",
      "Name",
      "Description",
      "Datacenters",
      "Hash",
      "CreateIndex",
      "ModifyIndex",
    ]);
    assert.deepEqual(
      list.map((x) => x.Name),
      ["global-management", "ops"],
    );
    const up = await asRoot(
      api,
      "PUT",
      `/v1/acl/policy/${p.ID}`,
      '{"Name":"ops2","Rules":"","Datacenters":["dc1"]}',
    );
    assert.equal(up.status, 200, text(up));
    assert.deepEqual(json<{ Datacenters: string[] }>(text(up)).Datacenters, ["dc1"]);
    assert.equal((await asRoot(api, "DELETE", `/v1/acl/policy/${p.ID}`)).status, 200);
    const missing = await asRoot(api, "GET", `/v1/acl/policy/${p.ID}`);
    assert.equal(missing.status, 404);
    assert.equal(text(missing), "Requested policy does not exist: ACL not found");
    const withId = await asRoot(api, "PUT", "/v1/acl/policy", `{"Name":"x","ID":"${p.ID}"}`);
    assert.equal(withId.status, 400);
    assert.equal(text(withId), "Cannot specify the ID when creating a new policy");
    const bad = await asRoot(api, "PUT", "/v1/acl/policy", '{"Name":5}');
    assert.equal(bad.status, 400);
    assert.ok(text(bad).startsWith("Policy decoding failed: "), text(bad));
    const badToken = await asRoot(api, "PUT", "/v1/acl/token", '{"Local":"yes"}');
    assert.equal(badToken.status, 400);
    assert.ok(text(badToken).startsWith("Token decoding failed: "), text(badToken));
  });
});

describe("restore and ACLs", () => {
  it("after a restore the archive's bootstrap token works and the fresh one is gone", async () => {
    const a = await aclServer();
    const old = json<TokenJson>(text(await call(a, "PUT", "/v1/acl/bootstrap")));
    const as = (secret: string) => ({ headers: { "X-Consul-Token": secret } });
    const saved = await handle(memoryRequest("GET", "/v1/snapshot", as(old.SecretID)), a, undefined);
    assert.equal(saved.status, 200);
    const chunks: Uint8Array[] = [];
    if (typeof saved.body === "object" && !(saved.body instanceof Uint8Array))
      for await (const c of saved.body.stream) chunks.push(c);
    const b = await aclServer();
    const fresh = json<TokenJson>(text(await call(b, "PUT", "/v1/acl/bootstrap")));
    const restored = await handle(
      memoryRequest("PUT", "/v1/snapshot", { ...as(fresh.SecretID), body: Buffer.concat(chunks) }),
      b,
      undefined,
    );
    assert.equal(restored.status, 200, text(restored));
    const self = (secret: string) =>
      handle(
        memoryRequest("GET", "/v1/acl/token/self", { headers: { "X-Consul-Token": secret } }),
        b,
        undefined,
      );
    assert.equal(json<TokenJson>(text(await self(old.SecretID))).AccessorID, old.AccessorID);
    const gone = await self(fresh.SecretID);
    assert.equal(gone.status, 403);
    assert.equal(text(gone), "ACL not found");
  });
});
