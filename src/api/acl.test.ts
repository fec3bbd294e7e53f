import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ANONYMOUS_TOKEN_ID, GLOBAL_MANAGEMENT_POLICY_ID } from "../fsm/index.js";
import type { AclSettings } from "./acl-types.js";
import { MemoryServer } from "./memory-server.js";
import type { QueryOptions } from "./types.js";

const Q: QueryOptions = { consistency: "default", minIndex: 0, waitMs: 0 };
const ROOT = "3f0e9d2c-1111-4222-8333-944455556666";

function settings(extra: Partial<AclSettings> = {}): AclSettings {
  return { enabled: true, defaultPolicy: "deny", downPolicy: "extend-cache", tokens: {}, ...extra };
}

async function server(extra: Partial<AclSettings> = {}): Promise<MemoryServer> {
  const s = new MemoryServer({ acl: settings(extra) });
  await s.aclReady;
  return s;
}

async function rejects(p: Promise<unknown>, code: string, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.equal((e as Error & { code: string }).code, code);
    assert.equal(e.message, message);
    return true;
  });
}

describe("ACL endpoints", () => {
  it("refuse everything with ACL support disabled", async () => {
    const s = new MemoryServer();
    await rejects(s.acl.aclBootstrap(), "acl_disabled", "ACL support disabled");
    await rejects(s.acl.aclPolicyList(Q), "acl_disabled", "ACL support disabled");
    assert.equal(s.writes.length, 0);
  });

  it("initialize as Consul's leader: global-management, the anonymous token, the initial management token", async () => {
    const s = await server({ tokens: { initialManagement: ROOT } });
    const gm = (await s.acl.aclPolicyReadByName("global-management", Q)).value;
    assert.equal(gm.ID, GLOBAL_MANAGEMENT_POLICY_ID);
    const anon = (await s.acl.aclTokenRead(ANONYMOUS_TOKEN_ID, Q)).value;
    assert.equal(anon.SecretID, "anonymous");
    const root = (await s.acl.aclTokenSelf(ROOT, Q)).value;
    assert.equal(root.Description, "Initial Management Token");
    assert.deepEqual(root.Policies, [{ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: "global-management" }]);
    // The initial management token took the bootstrap, as Consul's does.
    await rejects(
      s.acl.aclBootstrap(),
      "acl_bootstrap_denied",
      `ACL bootstrap no longer allowed (reset index: ${root.CreateIndex})`,
    );
    assert.equal(s.writes.length, 3, "one write per missing piece; a refused bootstrap proposes nothing");
  });

  it("bootstrap once; the reset file allows one more and is removed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-acl-api-"));
    try {
      const file = join(dir, "acl-bootstrap-reset");
      const s = await server({ bootstrapResetFile: file });
      const first = await s.acl.aclBootstrap();
      assert.equal(first.Description, "Bootstrap Token (Global Management)");
      assert.match(first.SecretID, /^[0-9a-f-]{36}$/);
      const denied = `ACL bootstrap no longer allowed (reset index: ${first.CreateIndex})`;
      await rejects(s.acl.aclBootstrap(), "acl_bootstrap_denied", denied);
      await writeFile(file, "999\n");
      await rejects(
        s.acl.aclBootstrap(),
        "acl_bootstrap_reset",
        `Invalid bootstrap reset index (specified 999, reset index: ${first.CreateIndex})`,
      );
      await writeFile(file, `${first.CreateIndex}\n`);
      const second = await s.acl.aclBootstrap();
      assert.notEqual(second.SecretID, first.SecretID);
      await assert.rejects(stat(file), { code: "ENOENT" });
      assert.equal((await s.acl.aclTokenSelf(first.SecretID, Q)).value.AccessorID, first.AccessorID);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("tokens: create with links by name, read, list by policy, update, clone, delete", async () => {
    const s = await server();
    const p = await s.acl.aclPolicyCreate({ Name: "kv-read", Rules: 'key_prefix "" { policy = "read" }' });
    assert.match(p.ID, /^[0-9a-f-]{36}$/);
    const t = await s.acl.aclTokenCreate({
      Description: "app",
      Policies: [{ Name: "kv-read" }, { ID: p.ID }],
    });
    assert.deepEqual(t.Policies, [{ ID: p.ID, Name: "kv-read" }], "deduplicated by ID");
    assert.equal((await s.acl.aclTokenRead(t.AccessorID, Q)).value.SecretID, t.SecretID);
    assert.deepEqual(
      (await s.acl.aclTokenList(p.ID, Q)).value.map((x) => x.AccessorID),
      [t.AccessorID],
    );
    const u = await s.acl.aclTokenUpdate(t.AccessorID, { Description: "app v2", Policies: [] });
    assert.equal(u.Description, "app v2");
    assert.equal(u.CreateIndex, t.CreateIndex);
    assert.ok(u.ModifyIndex > t.ModifyIndex);
    assert.equal(u.Policies, null);
    const c = await s.acl.aclTokenClone(t.AccessorID, "");
    assert.notEqual(c.AccessorID, t.AccessorID);
    assert.equal(c.Description, "app v2");
    await rejects(
      s.acl.aclTokenDelete(t.AccessorID, t.SecretID),
      "acl_invalid",
      "Deletion of the request's authorization token is not permitted",
    );
    const epoch = s.acl.aclEpoch();
    await s.acl.aclTokenDelete(t.AccessorID, "");
    assert.ok(s.acl.aclEpoch() > epoch);
    await rejects(
      s.acl.aclTokenRead(t.AccessorID, Q),
      "acl_resource_not_found",
      "Requested token does not exist: ACL not found",
    );
    assert.equal(s.acl.aclTokenBySecret(t.SecretID), null);
    assert.equal(s.acl.aclTokenBySecret(c.SecretID)?.AccessorID, c.AccessorID);
  });

  it("refuse bad tokens and policies with Consul's texts, writing nothing", async () => {
    const s = await server();
    const writes = s.writes.length;
    await rejects(
      s.acl.aclTokenCreate({ AccessorID: "nope" }),
      "acl_invalid",
      "Invalid Token: AccessorID is not a valid UUID",
    );
    await rejects(
      s.acl.aclTokenCreate({ SecretID: ANONYMOUS_TOKEN_ID }),
      "acl_invalid",
      "Invalid Token: SecretID is already in use",
    );
    await rejects(
      s.acl.aclTokenCreate({ Policies: [{ Name: "missing" }] }),
      "acl_invalid",
      'No such ACL policy with name "missing"',
    );
    await rejects(
      s.acl.aclTokenCreate({ ExpirationTTL: -1 }),
      "acl_invalid",
      "Token Expiration TTL '-1ns' should be > 0",
    );
    await rejects(
      s.acl.aclTokenCreate({ ExpirationTTL: 1_000_000_000 }),
      "acl_invalid",
      "ExpirationTime cannot be less than 1m0s in the future (was 1s)",
    );
    await rejects(s.acl.aclPolicyCreate({ Name: "" }), "acl_invalid", "Invalid Policy: no Name is set");
    await rejects(
      s.acl.aclPolicyCreate({ Name: "a b" }),
      "acl_invalid",
      "Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed",
    );
    await rejects(
      s.acl.aclPolicyCreate({ Name: "global-management" }),
      "acl_invalid",
      'Invalid Policy: A Policy with Name "global-management" already exists',
    );
    await rejects(
      s.acl.aclPolicyUpdate(GLOBAL_MANAGEMENT_POLICY_ID, { Name: "global-management", Rules: "" }),
      "acl_invalid",
      "Changing the Rules for the builtin global-management policy is not permitted",
    );
    await rejects(
      s.acl.aclPolicyDelete(GLOBAL_MANAGEMENT_POLICY_ID),
      "acl_invalid",
      "Delete operation not permitted on the builtin global-management policy",
    );
    await rejects(
      s.acl.aclTokenDelete(ANONYMOUS_TOKEN_ID, ""),
      "acl_invalid",
      "Delete operation not permitted on the anonymous token",
    );
    await rejects(
      s.acl.aclPolicyRead(ANONYMOUS_TOKEN_ID, Q),
      "acl_resource_not_found",
      "Requested policy does not exist: ACL not found",
    );
    assert.equal(s.writes.length, writes);
  });

  it("a token that expired is gone from reads", async () => {
    const s = await server();
    let now = Date.UTC(2026, 0, 1);
    s.now = () => now;
    const t = await s.acl.aclTokenCreate({ ExpirationTTL: 120_000_000_000 });
    assert.equal(s.acl.aclTokenBySecret(t.SecretID)?.AccessorID, t.AccessorID);
    now += 121_000;
    assert.equal(s.acl.aclTokenBySecret(t.SecretID), null);
    await rejects(s.acl.aclTokenSelf(t.SecretID, Q), "acl_not_found", "ACL not found");
  });

  it("after a restore the archive's tokens are the state: its bootstrap token works, the fresh one's is gone", async () => {
    const a = await server();
    const old = await a.acl.aclBootstrap();
    const { archive } = await a.snapshotSave(false);
    const chunks: Uint8Array[] = [];
    for await (const c of archive) chunks.push(c);
    const b = await server();
    const fresh = await b.acl.aclBootstrap();
    const epoch = b.acl.aclEpoch();
    await b.snapshotRestore(
      (async function* () {
        yield* chunks;
      })(),
    );
    assert.ok(b.acl.aclEpoch() > epoch, "the enforcer's cache key moved");
    assert.equal((await b.acl.aclTokenSelf(old.SecretID, Q)).value.AccessorID, old.AccessorID);
    await rejects(b.acl.aclTokenSelf(fresh.SecretID, Q), "acl_not_found", "ACL not found");
    await rejects(
      b.acl.aclBootstrap(),
      "acl_bootstrap_denied",
      `ACL bootstrap no longer allowed (reset index: ${old.CreateIndex})`,
    );
  });
});
