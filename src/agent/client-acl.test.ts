import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AclNotFoundError, ANONYMOUS_TOKEN_SECRET_ID } from "../acl/index.js";
import { ACL_DISABLED, type AclSettings } from "../api/acl-types.js";
import { NoServersError } from "../server/client-link.js";
import { ClientAcl, TOKEN_TTL_MS } from "./client-acl.js";

const READ_KV = { ID: "p1", Name: "read-kv", Rules: 'key_prefix "" { policy = "read" }', ModifyIndex: 5 };

function settings(downPolicy: string): AclSettings {
  return { enabled: true, defaultPolicy: "deny", downPolicy, tokens: {} };
}

/** A ClientAcl over a fake server: `up` says whether it answers; tokens "good" (read-kv) and anonymous exist. */
function world(downPolicy: string) {
  const w = { up: true, calls: 0, now: 1_000_000 };
  const link = {
    call: async (_method: unknown, request: unknown) => {
      w.calls++;
      if (!w.up) throw new NoServersError("No known Consul servers");
      const { secret } = request as { secret: string };
      const anonymous = secret === ANONYMOUS_TOKEN_SECRET_ID;
      const found = secret === "good" || anonymous;
      const answer = {
        found,
        accessorId: found ? `acc-${secret}` : "",
        anonymous,
        policies: secret === "good" ? [READ_KV] : [],
        identities: [],
      };
      return { answer, server: 1 } as never;
    },
  };
  const acl = new ClientAcl(
    settings(downPolicy),
    link,
    () => {},
    () => w.now,
  );
  return { w, acl };
}

const canRead = (acl: ClientAcl, secret: string | undefined): boolean =>
  acl.resolve(secret).authorizer.check("key", "read", "a") === "allow";

describe("a client agent's ACLs", () => {
  it("with ACLs off, everything is allowed and nothing is asked", async () => {
    const calls: unknown[] = [];
    const acl = new ClientAcl(
      ACL_DISABLED,
      { call: async (...a: unknown[]) => calls.push(a) as never },
      () => {},
    );
    await acl.prefetch("x");
    assert.equal(acl.resolve("x").authorizer.check("operator", "write", ""), "allow");
    assert.equal(calls.length, 0);
  });

  it("resolves a token through a server, compiles its policies, and caches it for the token TTL", async () => {
    const { w, acl } = world("extend-cache");
    await acl.prefetch("good");
    assert.ok(canRead(acl, "good"));
    assert.equal(acl.resolve("good").authorizer.check("key", "write", "a"), "deny");
    await acl.prefetch("good");
    assert.equal(w.calls, 1);
    w.now += TOKEN_TTL_MS;
    await acl.prefetch("good");
    assert.equal(w.calls, 2);
    // No token: the anonymous token, which the default policy (deny) governs.
    await acl.prefetch(undefined);
    assert.equal(acl.resolve(undefined).anonymous, true);
    assert.ok(!canRead(acl, undefined));
    await acl.prefetch("nope");
    assert.throws(() => acl.resolve("nope"), AclNotFoundError);
  });

  it("a token not resolved first is denied everything", () => {
    const { acl } = world("allow");
    assert.ok(!canRead(acl, "good"));
  });

  it("with the servers down, down_policy decides", async () => {
    const extend = world("extend-cache");
    await extend.acl.prefetch("good");
    extend.w.up = false;
    extend.w.now += TOKEN_TTL_MS;
    await extend.acl.prefetch("good");
    assert.ok(canRead(extend.acl, "good"), "extend-cache keeps the last resolution");
    await extend.acl.prefetch("never-seen");
    assert.ok(!canRead(extend.acl, "never-seen"), "extend-cache with nothing cached denies");
    // Back up: the next request resolves again (a stand-in is never fresh).
    extend.w.up = true;
    const before = extend.w.calls;
    await extend.acl.prefetch("good");
    assert.equal(extend.w.calls, before + 1);

    const deny = world("deny");
    await deny.acl.prefetch("good");
    deny.w.up = false;
    deny.w.now += TOKEN_TTL_MS;
    await deny.acl.prefetch("good");
    assert.ok(!canRead(deny.acl, "good"));

    const allow = world("allow");
    allow.w.up = false;
    await allow.acl.prefetch("anything");
    assert.equal(allow.acl.resolve("anything").authorizer.check("operator", "write", ""), "allow");
  });
});
