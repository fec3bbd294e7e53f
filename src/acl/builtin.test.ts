import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CairnError } from "../util/index.js";
import {
  ANONYMOUS_TOKEN_ACCESSOR_ID,
  bootstrapNoLongerAllowed,
  GLOBAL_MANAGEMENT_POLICY_ID,
  GLOBAL_MANAGEMENT_POLICY_RULES,
  GLOBAL_READ_ONLY_POLICY_RULES,
  isReservedId,
  permissionDenied,
} from "./builtin.js";
import { AclDisabledError, AclNotFoundError, PermissionDeniedError } from "./errors.js";

describe("denial texts (acl/errors.go PermissionDeniedError.Error)", () => {
  const CASES: { args: Parameters<typeof permissionDenied>; text: string }[] = [
    {
      args: [{ accessorId: "6a1253d2-1785-24fd-91c2-f8e78c745511" }, "key:write", "foo"],
      text: `Permission denied: token with AccessorID '6a1253d2-1785-24fd-91c2-f8e78c745511' lacks permission 'key:write' on "foo"`,
    },
    {
      args: ["anonymous", "key:read", "foo"],
      text: `Permission denied: anonymous token lacks permission 'key:read' on "foo". The anonymous token is used implicitly when a request does not specify a token.`,
    },
    {
      args: [{ accessorId: ANONYMOUS_TOKEN_ACCESSOR_ID }, "service:read", "web"],
      text: `Permission denied: anonymous token lacks permission 'service:read' on "web". The anonymous token is used implicitly when a request does not specify a token.`,
    },
    {
      args: [{ accessorId: "a" }, "operator:write", ""],
      text: `Permission denied: token with AccessorID 'a' lacks permission 'operator:write'`,
    },
    {
      args: ["anonymous", "acl:write", ""],
      text: `Permission denied: anonymous token lacks permission 'acl:write'. The anonymous token is used implicitly when a request does not specify a token.`,
    },
    // Consul quotes the name with bare quotes (ResourceDescriptor.ToString), escaping nothing.
    {
      args: [{ accessorId: "a" }, "key:list", 'dir/"x"'],
      text: `Permission denied: token with AccessorID 'a' lacks permission 'key:list' on "dir/"x""`,
    },
  ];
  for (const c of CASES) {
    it(c.text, () => {
      const e = permissionDenied(...c.args);
      assert.ok(e instanceof PermissionDeniedError && e instanceof CairnError);
      assert.equal(e.code, "permission_denied");
      assert.equal(e.message, c.text);
    });
  }

  it("bootstrap once bootstrapped (agent/acl_endpoint.go ACLBootstrap)", () => {
    const e = bootstrapNoLongerAllowed(13);
    assert.ok(e instanceof PermissionDeniedError);
    assert.equal(e.message, "Permission denied: ACL bootstrap no longer allowed (reset index: 13)");
    assert.equal(
      bootstrapNoLongerAllowed(2n ** 63n).message.endsWith("(reset index: 9223372036854775808)"),
      true,
    );
  });

  it("ACL not found, ACL support disabled", () => {
    const notFound = new AclNotFoundError();
    assert.deepEqual([notFound.message, notFound.code], ["ACL not found", "acl_not_found"]);
    const disabled = new AclDisabledError();
    assert.deepEqual([disabled.message, disabled.code], ["ACL support disabled", "acl_disabled"]);
  });
});

describe("reserved ids", () => {
  it("the built-in ids are reserved, a random uuid is not", () => {
    assert.equal(isReservedId(GLOBAL_MANAGEMENT_POLICY_ID), true);
    assert.equal(isReservedId(ANONYMOUS_TOKEN_ACCESSOR_ID), true);
    assert.equal(isReservedId("00000000-0000-0000-0000-0000000000ff"), true);
    assert.equal(isReservedId("6a1253d2-1785-24fd-91c2-f8e78c745511"), false);
  });
});

describe("the built-in policies' rules", () => {
  it("are Consul's text, byte for byte", () => {
    assert.equal(
      GLOBAL_MANAGEMENT_POLICY_RULES,
      '\nacl = "write"\nagent_prefix "" {\n\tpolicy = "write"\n}\nevent_prefix "" {\n\tpolicy = "write"\n}\nidentity_prefix "" {\n\tpolicy = "write"\n\tintentions = "write"\n}\nkey_prefix "" {\n\tpolicy = "write"\n}\nkeyring = "write"\nnode_prefix "" {\n\tpolicy = "write"\n}\noperator = "write"\nmesh = "write"\npeering = "write"\nquery_prefix "" {\n\tpolicy = "write"\n}\nservice_prefix "" {\n\tpolicy = "write"\n\tintentions = "write"\n}\nsession_prefix "" {\n\tpolicy = "write"\n}\n',
    );
    assert.equal(
      GLOBAL_READ_ONLY_POLICY_RULES,
      GLOBAL_MANAGEMENT_POLICY_RULES.replaceAll('"write"', '"read"'),
    );
  });
});
