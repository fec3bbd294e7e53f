import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { memoryRequest } from "../http/model.js";
import { handle } from "../http/router.js";
import { fixture, skipUnlessFixtures } from "../snapshot/testutil.js";
import { MemoryServer } from "./memory-server.js";

const utf8 = (s: string) => new TextEncoder().encode(s);

/** A MemoryServer with ACLs on (default deny) whose state is Consul 1.18's all.snap, restored through the API. */
async function restoredAllSnap(): Promise<MemoryServer> {
  const api = new MemoryServer({
    acl: { enabled: true, defaultPolicy: "deny", downPolicy: "extend-cache", tokens: {} },
  });
  await api.aclReady;
  const boot = JSON.parse(
    String((await handle(memoryRequest("PUT", "/v1/acl/bootstrap"), api, undefined)).body),
  ) as { SecretID: string };
  const archive = readFileSync(fixture("decode/all.snap"));
  const res = await handle(
    memoryRequest("PUT", "/v1/snapshot", { body: archive, headers: { "X-Consul-Token": boot.SecretID } }),
    api,
    undefined,
  );
  assert.equal(res.status, 200, String(res.body));
  return api;
}

describe("the ACL resolver over a Consul archive's tokens", () => {
  it("a restored token's node identity grants node:write on its node and read on services, nothing else", {
    skip: skipUnlessFixtures("decode/all.snap"),
  }, async () => {
    const api = await restoredAllSnap();
    // all.snap's token with NodeIdentities [{NodeName: "localhost", Datacenter: "dc1"}].
    const id = api.acl.resolve("a4794332-5fe2-51e1-3a78-47c684bd181c");
    assert.equal(id.accessorId, "d56136c7-a3a8-ceac-da70-9bee9755d252");
    assert.equal(id.authorizer.check("node", "write", "localhost"), "allow");
    assert.equal(id.authorizer.check("node", "write", "other"), "deny");
    assert.equal(id.authorizer.check("service", "read", "anything"), "allow");
    assert.equal(id.authorizer.check("key", "read", "k"), "deny");
    // all.snap's initial management token (SecretID "root") manages everything.
    assert.equal(api.acl.resolve("root").authorizer.isManagement, true);
    assert.equal(api.acl.resolve(undefined).anonymous, true);
  });

  it("token writes refuse the identities cairn does not grant yet, rather than store and ignore them", async () => {
    const api = new MemoryServer({
      acl: {
        enabled: true,
        defaultPolicy: "deny",
        downPolicy: "extend-cache",
        tokens: { initialManagement: "root" },
      },
    });
    await api.aclReady;
    const res = await handle(
      memoryRequest("PUT", "/v1/acl/token", {
        body: utf8('{"ServiceIdentities":[{"ServiceName":"web"}]}'),
        headers: { "X-Consul-Token": "root" },
      }),
      api,
      undefined,
    );
    assert.equal(res.status, 400);
    assert.match(String(res.body), /cairn does not support ServiceIdentities on tokens yet/);
  });
});
