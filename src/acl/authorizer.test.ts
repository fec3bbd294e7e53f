import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ALLOW_ALL, compileAuthorizer, DENY_ALL, MANAGE_ALL, mergeRules } from "./authorizer.js";
import { GLOBAL_MANAGEMENT_POLICY_RULES, GLOBAL_READ_ONLY_POLICY_RULES } from "./builtin.js";
import {
  blockName,
  GLOBAL_RESOURCES,
  type GlobalResource,
  type ParsedRules,
  type PolicyAccess,
  parseRules,
  type Rule,
  SEGMENT_RESOURCES,
} from "./rules.js";
import type { Access, Authorizer, Decision, Resource } from "./types.js";

/**
 * A request in the matrix: `<resource>:<access> <segment>` asks check(); `key:write-prefix <prefix>` asks
 * keyWritePrefix(); `node:read-all` and `service:read-all` ask nodeReadAll() and serviceReadAll().
 */
function ask(authz: Authorizer, request: string): Decision {
  const space = request.indexOf(" ");
  const head = space < 0 ? request : request.slice(0, space);
  const segment = space < 0 ? "" : request.slice(space + 1);
  if (head === "key:write-prefix") return authz.keyWritePrefix(segment);
  if (head === "node:read-all") return authz.nodeReadAll();
  if (head === "service:read-all") return authz.serviceReadAll();
  const [resource, access] = head.split(":") as [Resource, Access];
  return authz.check(resource, access, segment);
}

/** The same rules in Consul's JSON form, to hold JSON to the answers of HCL. */
function jsonForm(r: ParsedRules): string {
  const doc: Record<string, unknown> = { ...r.global };
  for (const rule of r.rules) {
    const block = blockName(rule.resource, rule.prefix);
    const byName = (doc[block] ?? {}) as Record<string, unknown>;
    // The list form, so that rules repeated on one name stay apart.
    const bodies = (byName[rule.name] ?? []) as unknown[];
    bodies.push({
      policy: rule.policy,
      ...(rule.intentions === undefined ? {} : { intentions: rule.intentions }),
    });
    byName[rule.name] = bodies;
    doc[block] = byName;
  }
  return JSON.stringify(doc);
}

interface Row {
  name: string;
  /** One Rules text per policy of the token. */
  policies: string[];
  default: "allow" | "deny";
  expect: Record<string, Decision>;
  management?: boolean;
}

/** The policy matrix: rule sets × requests → decisions. Add a row to cover a new case. */
const MATRIX: Row[] = [
  {
    name: "exact beats prefix; a prefix applies to itself",
    policies: [`key_prefix "foo/" { policy = "write" }\nkey "foo/bar" { policy = "read" }`],
    default: "deny",
    expect: {
      "key:write foo/x": "allow",
      "key:write foo/": "allow",
      "key:write foo/bar": "deny",
      "key:read foo/bar": "allow",
      "key:read foo/bar/baz": "allow",
      "key:write foo/bar/baz": "allow",
      "key:read foo": "deny",
    },
  },
  {
    name: "the longest prefix wins",
    policies: [
      `key_prefix "" { policy = "read" }\nkey_prefix "a/" { policy = "write" }\nkey_prefix "a/b/" { policy = "deny" }`,
    ],
    default: "deny",
    expect: {
      "key:write a/x": "allow",
      "key:read a/b/c": "deny",
      "key:read a/b": "allow",
      "key:read z": "allow",
      "key:write z": "deny",
      "key:read ": "allow",
    },
  },
  {
    name: "list for keys: list grants read and list, read grants no list, write grants all",
    policies: [
      `key_prefix "l/" { policy = "list" }\nkey_prefix "r/" { policy = "read" }\nkey_prefix "w/" { policy = "write" }\nkey "d" { policy = "deny" }`,
    ],
    default: "allow",
    expect: {
      "key:list l/x": "allow",
      "key:read l/x": "allow",
      "key:write l/x": "deny",
      "key:list r/x": "deny",
      "key:read r/x": "allow",
      "key:write r/x": "deny",
      "key:list w/x": "allow",
      "key:read w/x": "allow",
      "key:list d": "deny",
      "key:list other": "allow",
    },
  },
  {
    name: "keyWritePrefix: write on the prefix, and nothing below it granting less",
    policies: [
      `key_prefix "app/" { policy = "write" }\nkey "app/locked" { policy = "read" }\nkey_prefix "app/x/" { policy = "write" }\nkey_prefix "tmp/" { policy = "write" }\nkey_prefix "tmp/ro/" { policy = "list" }`,
    ],
    default: "allow",
    expect: {
      "key:write-prefix app/": "deny",
      "key:write-prefix app/x/": "allow",
      "key:write-prefix app/other": "allow",
      "key:write-prefix app/locked": "deny",
      "key:write-prefix tmp/": "deny",
      "key:write-prefix tmp/a": "allow",
      "key:write-prefix tmp/ro/": "deny",
      "key:write-prefix ": "deny",
      // No prefix rule reaches "elsewhere" and nothing below it objects: the default policy decides.
      "key:write-prefix elsewhere": "allow",
      "key:write app/locked": "deny",
    },
  },
  {
    name: "keyWritePrefix under default deny, and exact write rules",
    policies: [`key "k" { policy = "write" }\nkey_prefix "all/" { policy = "write" }`],
    default: "deny",
    expect: {
      "key:write-prefix k": "deny",
      "key:write k": "allow",
      "key:write-prefix all/": "allow",
      "key:write-prefix all/sub/": "allow",
      "key:write-prefix al": "deny",
      "key:write-prefix ": "deny",
    },
  },
  {
    name: "keyWritePrefix with a catch-all write",
    policies: [`key_prefix "" { policy = "write" }`],
    default: "deny",
    expect: { "key:write-prefix ": "allow", "key:write-prefix x/": "allow", "key:list x": "allow" },
  },
  {
    name: "nodes: exact deny inside a prefix grant; nodeReadAll sees it",
    policies: [`node_prefix "" { policy = "write" }\nnode "db" { policy = "deny" }`],
    default: "deny",
    expect: {
      "node:read web": "allow",
      "node:write web": "allow",
      "node:read db": "deny",
      "node:read db2": "allow",
      "node:read-all": "deny",
    },
  },
  {
    name: "nodeReadAll: a catch-all read with nothing denying",
    policies: [`node_prefix "" { policy = "read" }\nnode "web" { policy = "write" }`],
    default: "deny",
    expect: { "node:read-all": "allow", "node:write web": "allow", "node:write db": "deny" },
  },
  {
    name: "nodeReadAll and serviceReadAll without a catch-all: the default policy (allow)",
    policies: [`node "a" { policy = "read" }\nservice_prefix "web" { policy = "write" }`],
    default: "allow",
    expect: { "node:read-all": "allow", "service:read-all": "allow", "service:write webapp": "allow" },
  },
  {
    name: "nodeReadAll and serviceReadAll without a catch-all: the default policy (deny)",
    policies: [`node "a" { policy = "read" }\nservice_prefix "web" { policy = "write" }`],
    default: "deny",
    expect: { "node:read-all": "deny", "service:read-all": "deny", "service:read web": "allow" },
  },
  {
    name: "serviceReadAll: a catch-all deny, and a catch-all read overridden below",
    policies: [
      `service_prefix "" { policy = "deny" }\nnode_prefix "" { policy = "read" }\nnode_prefix "x" { policy = "deny" }`,
    ],
    default: "allow",
    expect: {
      "service:read-all": "deny",
      "service:read web": "deny",
      "node:read-all": "deny",
      "node:read y": "allow",
    },
  },
  {
    name: "services: exact and prefix; intentions do not change service access",
    policies: [
      `service_prefix "web" { policy = "read" intentions = "write" }\nservice "web-admin" { policy = "write" }`,
    ],
    default: "deny",
    expect: {
      "service:read web-1": "allow",
      "service:write web-1": "deny",
      "service:write web-admin": "allow",
      "service:read api": "deny",
    },
  },
  {
    name: "sessions, agents, events and queries: exact and prefix",
    policies: [
      `session_prefix "" { policy = "write" }\nsession "n1" { policy = "deny" }\nagent_prefix "node" { policy = "read" }\nagent "node-9" { policy = "write" }\nevent_prefix "deploy" { policy = "write" }\nevent "deploy-prod" { policy = "read" }\nquery_prefix "" { policy = "read" }\nquery "mine" { policy = "write" }`,
    ],
    default: "deny",
    expect: {
      "session:write n2": "allow",
      "session:read n1": "deny",
      "agent:read node-1": "allow",
      "agent:write node-1": "deny",
      "agent:write node-9": "allow",
      "agent:read other": "deny",
      "event:write deploy-x": "allow",
      "event:write deploy-prod": "deny",
      "event:read deploy-prod": "allow",
      "event:read other": "deny",
      "query:read any": "allow",
      "query:write any": "deny",
      "query:write mine": "allow",
    },
  },
  {
    name: "global resources: operator, keyring, acl",
    policies: [`operator = "read"\nkeyring = "write"\nacl = "read"`],
    default: "deny",
    expect: {
      "operator:read": "allow",
      "operator:write": "deny",
      "keyring:read": "allow",
      "keyring:write": "allow",
      "acl:read": "allow",
      "acl:write": "deny",
    },
  },
  {
    name: "default allow without rules: everything but ACL management",
    policies: [""],
    default: "allow",
    expect: {
      "key:write x": "allow",
      "key:list x": "allow",
      "key:write-prefix ": "allow",
      "operator:write": "allow",
      "session:write n": "allow",
      "node:read-all": "allow",
      "acl:read": "deny",
      "acl:write": "deny",
    },
  },
  {
    name: "default deny without rules: nothing",
    policies: [],
    default: "deny",
    expect: {
      "key:read x": "deny",
      "key:write-prefix ": "deny",
      "operator:read": "deny",
      "node:read-all": "deny",
      "service:read-all": "deny",
      "acl:read": "deny",
    },
  },
  {
    name: "an explicit deny under default allow; a global deny",
    policies: [`key_prefix "secret/" { policy = "deny" }\noperator = "deny"`],
    default: "allow",
    expect: {
      "key:read secret/x": "deny",
      "key:read other": "allow",
      "operator:read": "deny",
      "keyring:write": "allow",
      "key:write-prefix ": "deny",
      "key:write-prefix other/": "allow",
    },
  },
  {
    name: "merging: deny beats write on the same name",
    policies: [`key "a" { policy = "write" }`, `key "a" { policy = "deny" }`],
    default: "allow",
    expect: { "key:read a": "deny", "key:write a": "deny" },
  },
  {
    name: "merging: write beats read, list beats read, the order of policies aside",
    policies: [
      `key_prefix "a" { policy = "read" }\nkey_prefix "l" { policy = "list" }`,
      `key_prefix "a" { policy = "write" }\nkey_prefix "l" { policy = "read" }`,
    ],
    default: "deny",
    expect: { "key:write ab": "allow", "key:list lx": "allow", "key:write lx": "deny" },
  },
  {
    name: "merging: an exact rule of one policy beats a prefix rule of another",
    policies: [`key "a" { policy = "write" }`, `key_prefix "a" { policy = "deny" }`],
    default: "allow",
    expect: { "key:write a": "allow", "key:read ab": "deny" },
  },
  {
    name: "merging: rules of different resources both apply; globals take the strongest",
    policies: [
      `key_prefix "x/" { policy = "read" }\noperator = "read"`,
      `node_prefix "" { policy = "write" }\noperator = "write"`,
    ],
    default: "deny",
    expect: {
      "key:read x/1": "allow",
      "node:write n": "allow",
      "operator:write": "allow",
      "key:read y": "deny",
    },
  },
  {
    name: "merging within one policy: repeated blocks, deny wins",
    policies: [`node "n" { policy = "write" }\nnode "n" { policy = "deny" }\nnode "n" { policy = "read" }`],
    default: "allow",
    expect: { "node:read n": "deny" },
  },
  {
    name: "global-management",
    policies: [GLOBAL_MANAGEMENT_POLICY_RULES],
    default: "deny",
    management: true,
    expect: {
      "acl:write": "allow",
      "key:write any": "allow",
      "key:write-prefix ": "allow",
      "operator:write": "allow",
      "keyring:write": "allow",
      "node:read-all": "allow",
      "service:read-all": "allow",
      "session:write n": "allow",
      "agent:write n": "allow",
      "event:write e": "allow",
      "query:write q": "allow",
    },
  },
  {
    name: "global-read-only",
    policies: [GLOBAL_READ_ONLY_POLICY_RULES],
    default: "deny",
    management: false,
    expect: {
      "acl:read": "allow",
      "acl:write": "deny",
      "key:read any": "allow",
      "key:list any": "deny",
      "key:write any": "deny",
      "key:write-prefix ": "deny",
      "node:read-all": "allow",
    },
  },
  {
    name: 'acl = "write" alone is management',
    policies: [`acl = "write"`],
    default: "deny",
    management: true,
    expect: { "acl:write": "allow", "key:read x": "deny" },
  },
];

describe("the policy matrix", () => {
  for (const row of MATRIX) {
    it(`${row.name} (default ${row.default})`, () => {
      const parsed = row.policies.map((t) => parseRules(t));
      const fromHcl = compileAuthorizer(parsed, row.default);
      const fromJson = compileAuthorizer(
        parsed.map(jsonForm).map((t) => parseRules(t)),
        row.default,
      );
      for (const [request, expected] of Object.entries(row.expect)) {
        assert.equal(ask(fromHcl, request), expected, `HCL: ${request}`);
        assert.equal(ask(fromJson, request), expected, `JSON: ${request}`);
      }
      assert.equal(fromHcl.isManagement, row.management ?? false);
      assert.equal(fromJson.isManagement, row.management ?? false);
    });
  }
});

describe("the static authorizers", () => {
  const REQUESTS = [
    "key:read a",
    "key:list a",
    "key:write a",
    "key:write-prefix ",
    "operator:write",
    "node:read-all",
  ];
  it("ALLOW_ALL allows all but ACL management; DENY_ALL denies all; MANAGE_ALL allows all", () => {
    for (const r of REQUESTS) {
      assert.equal(ask(ALLOW_ALL, r), "allow", r);
      assert.equal(ask(DENY_ALL, r), "deny", r);
      assert.equal(ask(MANAGE_ALL, r), "allow", r);
    }
    for (const r of ["acl:read", "acl:write"]) {
      assert.equal(ask(ALLOW_ALL, r), "deny", r);
      assert.equal(ask(DENY_ALL, r), "deny", r);
      assert.equal(ask(MANAGE_ALL, r), "allow", r);
    }
    assert.deepEqual(
      [ALLOW_ALL.isManagement, DENY_ALL.isManagement, MANAGE_ALL.isManagement],
      [false, false, true],
    );
  });
});

describe("mergeRules", () => {
  it("merges a service's policy and intentions separately", () => {
    const merged = mergeRules([
      parseRules(`service "s" { policy = "write" intentions = "read" }`),
      parseRules(`service "s" { policy = "read" intentions = "deny" }`),
      parseRules(`service "t" { policy = "read" }`),
      parseRules(`service "t" { policy = "read" intentions = "write" }`),
    ]);
    assert.deepEqual(merged.rules, [
      { resource: "service", prefix: false, name: "s", policy: "write", intentions: "deny" },
      { resource: "service", prefix: false, name: "t", policy: "read", intentions: "write" },
    ]);
  });
});

// Properties, over names from a small alphabet so that rules overlap often.
const NAME = fc.string({ unit: fc.constantFrom("a", "b", "/"), maxLength: 5 });
const LEVEL = fc.constantFrom<PolicyAccess>("read", "write", "deny", "list");
const arbRule: fc.Arbitrary<Rule> = fc
  .record({
    resource: fc.constantFrom(...SEGMENT_RESOURCES),
    prefix: fc.boolean(),
    name: NAME,
    policy: LEVEL,
  })
  .map((r) => ({ ...r, policy: r.policy === "list" && r.resource !== "key" ? "read" : r.policy }));
const arbPolicy: fc.Arbitrary<ParsedRules> = fc.record({
  rules: fc.array(arbRule, { maxLength: 10 }),
  global: fc.record(
    Object.fromEntries(
      GLOBAL_RESOURCES.map((g) => [g, fc.constantFrom<PolicyAccess>("read", "write", "deny")]),
    ) as Record<GlobalResource, fc.Arbitrary<PolicyAccess>>,
    { requiredKeys: [] },
  ),
});
const DEFAULT = fc.constantFrom<"allow" | "deny">("allow", "deny");
const RESOURCE = fc.constantFrom<Resource>(...SEGMENT_RESOURCES, "acl", "keyring", "operator");

/** Every request a matrix could ask, for the properties to sweep. */
function requestsOn(segment: string): string[] {
  return [
    ...SEGMENT_RESOURCES.flatMap((r) => ["read", "list", "write"].map((a) => `${r}:${a} ${segment}`)),
    ...["acl", "keyring", "operator"].flatMap((r) => ["read", "write"].map((a) => `${r}:${a}`)),
    `key:write-prefix ${segment}`,
    "node:read-all",
    "service:read-all",
  ];
}

/** The lookup rule stated plainly: the exact rule, else the longest prefix rule, over the merged rules. */
function referenceLookup(
  merged: ParsedRules,
  resource: Rule["resource"],
  segment: string,
): PolicyAccess | undefined {
  const rules = merged.rules.filter((r) => r.resource === resource);
  const exact = rules.find((r) => !r.prefix && r.name === segment);
  if (exact !== undefined) return exact.policy;
  let best: Rule | undefined;
  for (const r of rules) {
    if (r.prefix && segment.startsWith(r.name) && (best === undefined || r.name.length > best.name.length))
      best = r;
  }
  return best?.policy;
}

describe("the authorizer: properties", () => {
  it("write implies read (and list for keys), and list implies read", () => {
    fc.assert(
      fc.property(
        fc.array(arbPolicy, { maxLength: 3 }),
        DEFAULT,
        RESOURCE,
        NAME,
        (policies, def, resource, segment) => {
          const authz = compileAuthorizer(policies, def);
          if (authz.check(resource, "write", segment) === "allow") {
            assert.equal(authz.check(resource, "read", segment), "allow");
            if (resource === "key") assert.equal(authz.check(resource, "list", segment), "allow");
          }
          if (authz.check(resource, "list", segment) === "allow")
            assert.equal(authz.check(resource, "read", segment), "allow");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("looks up the exact rule, else the longest prefix, as stated plainly", () => {
    fc.assert(
      fc.property(fc.array(arbPolicy, { maxLength: 3 }), DEFAULT, NAME, (policies, def, segment) => {
        const authz = compileAuthorizer(policies, def);
        const merged = mergeRules(policies);
        for (const resource of SEGMENT_RESOURCES) {
          const level = referenceLookup(merged, resource, segment);
          for (const access of ["read", "list", "write"] as const) {
            const expected: Decision =
              level === undefined
                ? def
                : level === "write" ||
                    (level === "list" && access !== "write") ||
                    (level === "read" && access === "read")
                  ? "allow"
                  : "deny";
            assert.equal(
              authz.check(resource, access, segment),
              expected,
              `${resource}:${access} ${segment}`,
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keyWritePrefix allows only when every key under the prefix that has a rule may be written", () => {
    fc.assert(
      fc.property(fc.array(arbPolicy, { maxLength: 3 }), DEFAULT, NAME, (policies, def, prefix) => {
        const authz = compileAuthorizer(policies, def);
        if (authz.keyWritePrefix(prefix) !== "allow") return;
        const merged = mergeRules(policies);
        for (const r of merged.rules) {
          if (r.resource === "key" && r.name.startsWith(prefix))
            assert.equal(r.policy, "write", JSON.stringify(r));
        }
        assert.equal(authz.check("key", "write", prefix), "allow");
      }),
      { numRuns: 300 },
    );
  });

  it("the order of a token's policies does not matter", () => {
    fc.assert(
      fc.property(
        fc.array(arbPolicy, { minLength: 2, maxLength: 3 }),
        DEFAULT,
        NAME,
        (policies, def, segment) => {
          const a = compileAuthorizer(policies, def);
          const b = compileAuthorizer([...policies].reverse(), def);
          for (const request of requestsOn(segment)) assert.equal(ask(a, request), ask(b, request), request);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("adding a policy of deny rules never grants anything", () => {
    const denyOnly = fc
      .array(arbRule, { maxLength: 5 })
      .map((rules): ParsedRules => ({ rules: rules.map((r) => ({ ...r, policy: "deny" })), global: {} }));
    fc.assert(
      fc.property(
        fc.array(arbPolicy, { maxLength: 2 }),
        denyOnly,
        DEFAULT,
        NAME,
        (policies, extra, def, segment) => {
          const before = compileAuthorizer(policies, def);
          const after = compileAuthorizer([...policies, extra], def);
          for (const request of requestsOn(segment)) {
            if (ask(after, request) === "allow") assert.equal(ask(before, request), "allow", request);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
