import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { GLOBAL_MANAGEMENT_POLICY_RULES, GLOBAL_READ_ONLY_POLICY_RULES } from "./builtin.js";
import { AclRulesError } from "./errors.js";
import { formatRules } from "./format.js";
import {
  GLOBAL_RESOURCES,
  type GlobalResource,
  type ParsedRules,
  type PolicyAccess,
  parseRules,
  type Rule,
  SEGMENT_RESOURCES,
} from "./rules.js";

/** Rules sorted, so that the HCL and JSON forms (whose orders differ) compare equal. */
function canonical(r: ParsedRules): ParsedRules {
  const key = (x: Rule) => `${x.resource} ${x.prefix} ${x.name}`;
  return {
    rules: [...r.rules].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)),
    global: r.global,
  };
}

function rule(
  resource: Rule["resource"],
  prefix: boolean,
  name: string,
  policy: PolicyAccess,
  intentions?: PolicyAccess,
) {
  return { resource, prefix, name, policy, ...(intentions === undefined ? {} : { intentions }) };
}

describe("parseRules: the forms Consul accepts", () => {
  // Consul's acl/policy_test.go TestPolicySourceParse "Basic": the same rules in HCL and in JSON.
  const BASIC_HCL = `
    agent_prefix "bar" { policy = "write" }
    agent "foo" { policy = "read" }
    event_prefix "" { policy = "read" }
    event "foo" { policy = "write" }
    event "bar" { policy = "deny" }
    key_prefix "" { policy = "read" }
    key_prefix "foo/" { policy = "write" }
    key_prefix "foo/bar/" { policy = "read" }
    key "foo/bar/baz" { policy = "deny" }
    keyring = "deny"
    node_prefix "" { policy = "read" }
    node "foo" { policy = "write" }
    node "bar" { policy = "deny" }
    operator = "deny"
    mesh = "deny"
    peering = "deny"
    service_prefix "" { policy = "write" }
    service "foo" { policy = "read" }
    session "foo" { policy = "write" }
    session "bar" { policy = "deny" }
    session_prefix "baz" { policy = "deny" }
    query_prefix "" { policy = "read" }
    query "foo" { policy = "write" }
    query "bar" { policy = "deny" }
  `;
  const BASIC_JSON = JSON.stringify({
    agent_prefix: { bar: { policy: "write" } },
    agent: { foo: { policy: "read" } },
    event_prefix: { "": { policy: "read" } },
    event: { foo: { policy: "write" }, bar: { policy: "deny" } },
    key_prefix: { "": { policy: "read" }, "foo/": { policy: "write" }, "foo/bar/": { policy: "read" } },
    key: { "foo/bar/baz": { policy: "deny" } },
    keyring: "deny",
    node_prefix: { "": { policy: "read" } },
    node: { foo: { policy: "write" }, bar: { policy: "deny" } },
    operator: "deny",
    mesh: "deny",
    peering: "deny",
    service_prefix: { "": { policy: "write" } },
    service: { foo: { policy: "read" } },
    session_prefix: { baz: { policy: "deny" } },
    session: { foo: { policy: "write" }, bar: { policy: "deny" } },
    query_prefix: { "": { policy: "read" } },
    query: { foo: { policy: "write" }, bar: { policy: "deny" } },
  });
  const BASIC: ParsedRules = canonical({
    rules: [
      rule("agent", true, "bar", "write"),
      rule("agent", false, "foo", "read"),
      rule("event", true, "", "read"),
      rule("event", false, "foo", "write"),
      rule("event", false, "bar", "deny"),
      rule("key", true, "", "read"),
      rule("key", true, "foo/", "write"),
      rule("key", true, "foo/bar/", "read"),
      rule("key", false, "foo/bar/baz", "deny"),
      rule("node", true, "", "read"),
      rule("node", false, "foo", "write"),
      rule("node", false, "bar", "deny"),
      rule("service", true, "", "write"),
      rule("service", false, "foo", "read"),
      rule("session", false, "foo", "write"),
      rule("session", false, "bar", "deny"),
      rule("session", true, "baz", "deny"),
      rule("query", true, "", "read"),
      rule("query", false, "foo", "write"),
      rule("query", false, "bar", "deny"),
    ],
    global: { keyring: "deny", mesh: "deny", operator: "deny", peering: "deny" },
  });

  it("parses Consul's Basic case in HCL and in JSON to the same rules", () => {
    assert.deepEqual(canonical(parseRules(BASIC_HCL)), BASIC);
    assert.deepEqual(canonical(parseRules(BASIC_JSON)), BASIC);
  });

  it("keeps the HCL text's order", () => {
    const r = parseRules(
      `key "b" { policy = "read" }\nkey_prefix "a" { policy = "list" }\nkey "a" { policy = "write" }`,
    );
    assert.deepEqual(r.rules, [
      rule("key", false, "b", "read"),
      rule("key", true, "a", "list"),
      rule("key", false, "a", "write"),
    ]);
  });

  // Each row: the HCL1 forms of one rule set, all of which must decode to `expected`.
  const FORMS: { name: string; texts: string[]; expected: ParsedRules }[] = [
    {
      name: "a block, on one line or several, label quoted or bare",
      texts: [
        `key_prefix "foo/" { policy = "read" }`,
        `key_prefix "foo/" {\n  policy = "read"\n}`,
        `key_prefix "foo/" { "policy" = "read" }`,
        `KEY_PREFIX "foo/" { Policy = "READ" }`,
      ],
      expected: { rules: [rule("key", true, "foo/", "read")], global: {} },
    },
    {
      name: "an identifier as the label",
      texts: [`node web-1 { policy = "write" }`, `node "web-1" { policy = "write" }`],
      expected: { rules: [rule("node", false, "web-1", "write")], global: {} },
    },
    {
      name: "the assignment and nested-block forms",
      texts: [
        `key = { "a" = { policy = "read" } }`,
        `key { "a" { policy = "read" } }`,
        `key = { a { policy = "read" } }`,
        `{"key": {"a": {"policy": "read"}}}`,
        `{"key": [{"a": {"policy": "read"}}]}`,
        `{"key": {"a": [{"policy": "read"}]}}`,
        `  \n {"key": {"a": {"policy": "read"}}}`,
      ],
      expected: { rules: [rule("key", false, "a", "read")], global: {} },
    },
    {
      name: "comments of the three kinds, and commas",
      texts: [
        `# a comment\noperator = "read" // another\n/* and\n a block */ acl = "write"`,
        `operator = "read", acl = "write"`,
        `operator = "read"\r\nacl = "write"\r\n`,
      ],
      expected: { rules: [], global: { operator: "read", acl: "write" } },
    },
    {
      name: "service intentions",
      texts: [
        `service "foo" { policy = "write" intentions = "read" }`,
        `{ "service": { "foo": { "policy": "write", "intentions": "read" }}}`,
      ],
      expected: { rules: [rule("service", false, "foo", "write", "read")], global: {} },
    },
    {
      name: "empty global values, and the empty text",
      texts: ["", `keyring = ""`, `{ "operator": "" }`, `mesh = ""\npeering = ""`, "# nothing\n", "{}"],
      expected: { rules: [], global: {} },
    },
    {
      name: "keys Consul does not know are ignored, as HCL1's decoder ignores them",
      texts: [
        `partition "x" { policy = "read" }\nacl = "read"`,
        `acl = "read"\nfoo = 1`,
        `{"acl": "read", "x": [1]}`,
      ],
      expected: { rules: [], global: { acl: "read" } },
    },
    {
      name: "attributes a rule does not know are ignored",
      texts: [
        `key "a" { sentinel { code = "x" } policy = "deny" }`,
        `key "a" { policy = "deny", intentions = "x" }`,
      ],
      expected: { rules: [rule("key", false, "a", "deny")], global: {} },
    },
    {
      name: "string escapes (Go's)",
      texts: [
        `key "a\\"b\\\\c\\n\\u00e9\\x41\\101" { policy = "read" }`,
        JSON.stringify({ key: { 'a"b\\c\néAA': { policy: "read" } } }),
      ],
      expected: { rules: [rule("key", false, 'a"b\\c\néAA', "read")], global: {} },
    },
    {
      name: "repeated blocks accumulate (the merge decides later)",
      texts: [`key "a" { policy = "read" }\nkey "a" { policy = "deny" }`],
      expected: { rules: [rule("key", false, "a", "read"), rule("key", false, "a", "deny")], global: {} },
    },
  ];
  for (const row of FORMS) {
    it(row.name, () => {
      for (const text of row.texts) assert.deepEqual(parseRules(text), row.expected, text);
    });
  }

  it("parses Consul's built-in policies", () => {
    const all = (p: PolicyAccess): ParsedRules => ({
      rules: SEGMENT_RESOURCES.map((r) => rule(r, true, "", p, r === "service" ? p : undefined)),
      global: Object.fromEntries(GLOBAL_RESOURCES.map((g) => [g, p])) as Record<GlobalResource, PolicyAccess>,
    });
    assert.deepEqual(canonical(parseRules(GLOBAL_MANAGEMENT_POLICY_RULES)), canonical(all("write")));
    assert.deepEqual(canonical(parseRules(GLOBAL_READ_ONLY_POLICY_RULES)), canonical(all("read")));
  });
});

describe("parseRules: errors, with Consul's texts", () => {
  // acl/policy_test.go TestPolicySourceParse, the "Bad Policy" cases, and the texts of acl/policy.go Validate.
  const INVALID: { rules: string; json?: string; text: string }[] = [
    { rules: `acl = "list"`, json: `{ "acl": "list" }`, text: `Invalid acl policy: "list"` },
    {
      rules: `agent "foo" { policy = "nope" }`,
      json: `{ "agent": { "foo": { "policy": "nope" }}}`,
      text: `Invalid agent policy: &acl.AgentRule{Node:"foo", Policy:"nope"}`,
    },
    {
      rules: `agent_prefix "foo" { policy = "nope" }`,
      text: `Invalid agent_prefix policy: &acl.AgentRule{Node:"foo", Policy:"nope"}`,
    },
    {
      rules: `key "foo" { policy = "nope" }`,
      json: `{ "key": { "foo": { "policy": "nope" }}}`,
      text: `Invalid key policy: &acl.KeyRule{Prefix:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `key_prefix "foo" { policy = "nope" }`,
      text: `Invalid key_prefix policy: &acl.KeyRule{Prefix:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `node "foo" { policy = "list" }`,
      text: `Invalid node policy: &acl.NodeRule{Name:"foo", Policy:"list", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `node_prefix "foo" { policy = "nope" }`,
      text: `Invalid node_prefix policy: &acl.NodeRule{Name:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `service "foo" { policy = "nope" }`,
      text: `Invalid service policy: &acl.ServiceRule{Name:"foo", Policy:"nope", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `service "foo" { policy = "write" intentions = "foo" }`,
      json: `{ "service": { "foo": { "policy": "write", "intentions": "foo" }}}`,
      text: `Invalid service intentions policy: &acl.ServiceRule{Name:"foo", Policy:"write", Intentions:"foo", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `service_prefix "foo" { policy = "list" }`,
      text: `Invalid service_prefix policy: &acl.ServiceRule{Name:"foo", Policy:"list", Intentions:"", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `service_prefix "" { policy = "read" intentions = "list" }`,
      text: `Invalid service_prefix intentions policy: &acl.ServiceRule{Name:"", Policy:"read", Intentions:"list", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `session "foo" { policy = "nope" }`,
      text: `Invalid session policy: &acl.SessionRule{Node:"foo", Policy:"nope"}`,
    },
    {
      rules: `session_prefix "foo" { policy = "nope" }`,
      text: `Invalid session_prefix policy: &acl.SessionRule{Node:"foo", Policy:"nope"}`,
    },
    {
      rules: `event "foo" { policy = "nope" }`,
      text: `Invalid event policy: &acl.EventRule{Event:"foo", Policy:"nope"}`,
    },
    {
      rules: `event_prefix "foo" { policy = "nope" }`,
      text: `Invalid event_prefix policy: &acl.EventRule{Event:"foo", Policy:"nope"}`,
    },
    {
      rules: `query "foo" { policy = "nope" }`,
      text: `Invalid query policy: &acl.PreparedQueryRule{Prefix:"foo", Policy:"nope"}`,
    },
    {
      rules: `query_prefix "foo" { policy = "nope" }`,
      text: `Invalid query_prefix policy: &acl.PreparedQueryRule{Prefix:"foo", Policy:"nope"}`,
    },
    { rules: `keyring = "nope"`, json: `{ "keyring": "nope" }`, text: `Invalid keyring policy: "nope"` },
    { rules: `operator = "list"`, text: `Invalid operator policy: "list"` },
    { rules: `mesh = "nope"`, text: `Invalid mesh policy: "nope"` },
    { rules: `peering = "nope"`, text: `Invalid peering policy: "nope"` },
    {
      rules: `key "foo" { }`,
      text: `Invalid key policy: &acl.KeyRule{Prefix:"foo", Policy:"", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `key "foo" { polciy = "read" }`,
      text: `Invalid key policy: &acl.KeyRule{Prefix:"foo", Policy:"", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `key "foo" { policy = 5 }`,
      text: `Invalid key policy: &acl.KeyRule{Prefix:"foo", Policy:"5", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    {
      rules: `key "a\\tb" { policy = "x" }`,
      text: `Invalid key policy: &acl.KeyRule{Prefix:"a\\tb", Policy:"x", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
    // Consul's Validate checks acl first, then agent, key, …, keyring, operator, mesh, peering.
    { rules: `operator = "x"\nkey "a" { policy = "x" }\nacl = "x"`, text: `Invalid acl policy: "x"` },
    {
      rules: `operator = "x"\nsession "s" { policy = "x" }\nnode "n" { policy = "x" }`,
      text: `Invalid node policy: &acl.NodeRule{Name:"n", Policy:"x", EnterpriseRule:acl.EnterpriseRule{}}`,
    },
  ];
  for (const row of INVALID) {
    it(row.text, () => {
      for (const text of row.json === undefined ? [row.rules] : [row.rules, row.json]) {
        assert.throws(
          () => parseRules(text),
          (e: unknown) =>
            e instanceof AclRulesError && e.code === "acl_rules_invalid" && e.message === row.text,
          text,
        );
      }
    });
  }

  // Syntax errors: `Failed to parse ACL rules: ` and the parser's complaint, with its position where it has one.
  const SYNTAX: { rules: string; text: string }[] = [
    {
      rules: `key "foo" { policy = "read" policy = "read" }`,
      text: `The argument "policy" at 1:29 was already set. Each argument can only be defined once`,
    },
    {
      rules: `acl = "read"\nacl = "write"`,
      text: `The argument "acl" at 2:1 was already set. Each argument can only be defined once`,
    },
    { rules: `key "a" {`, text: "At 1:10: expected: RBRACE got: EOF" },
    { rules: `key "a" = { policy = "read" }`, text: "At 1:9: expected: LBRACE got: ASSIGN" },
    { rules: `key "a"`, text: `At 1:8: key 'key a' expected start of object ('{') or assign ('=')` },
    { rules: `= "read"`, text: "At 1:1: expected: IDENT | STRING got: ASSIGN" },
    { rules: `acl = read`, text: "At 1:7: Unknown token: 1:7 IDENT read" },
    { rules: `acl = "read`, text: "At 1:7: literal not terminated" },
    { rules: `acl = "re\nad"`, text: "At 1:7: literal not terminated" },
    { rules: `acl = "\\q"`, text: "At 1:7: invalid escape" },
    { rules: `acl = 'read'`, text: "At 1:7: single-quoted strings are not supported; use double quotes" },
    { rules: `acl = <<EOF\nread\nEOF`, text: "At 1:7: heredoc strings are not supported" },
    { rules: `/* open`, text: "At 1:1: comment not terminated" },
    { rules: `acl = "read" @`, text: `At 1:14: illegal char "@"` },
    { rules: `acl = ["read"]`, text: "At 1:7: acl: expected a string, got a list" },
    { rules: `acl = { policy = "read" }`, text: "At 1:7: acl: expected a string, got an object" },
    { rules: `acl "x" { policy = "read" }`, text: "At 1:9: acl: expected a string, got a block" },
    { rules: `key "a" "b" { policy = "read" }`, text: "At 1:13: key: a rule takes one label, got 2" },
    { rules: `key = { a = "read" }`, text: "At 1:13: key.a: expected an object, got a string" },
    { rules: `key "a" { policy = true }`, text: "At 1:20: key.a.policy: expected a string, got a bool" },
    { rules: `key = [1, 2`, text: "At 1:12: expected: COMMA | RBRACK got: EOF" },
    { rules: `{"acl": null}`, text: "null is not a valid value" },
    { rules: `{"acl": ["read"]}`, text: "acl: expected a string, got a list" },
  ];
  for (const row of SYNTAX) {
    it(row.text, () => {
      assert.throws(
        () => parseRules(row.rules),
        (e: unknown) => e instanceof AclRulesError && e.message === `Failed to parse ACL rules: ${row.text}`,
        row.rules,
      );
    });
  }

  it("accepts duplicate arguments, the last winning, for policies already held", () => {
    const text = `acl = "read"\nacl = "write"\nkey "a" { policy = "deny" policy = "read" }`;
    assert.throws(() => parseRules(text), AclRulesError);
    assert.deepEqual(parseRules(text, { allowDuplicates: true }), {
      rules: [rule("key", false, "a", "read")],
      global: { acl: "write" },
    });
  });

  it("bounds nesting", () => {
    for (const text of ["key = {".repeat(40), `{"a":${"[".repeat(40)}${"]".repeat(40)}}`]) {
      assert.throws(
        () => parseRules(text),
        (e: unknown) => e instanceof AclRulesError && e.message.includes("nesting deeper than 32"),
        text,
      );
    }
  });

  it("a JSON syntax error is a rules error too", () => {
    for (const text of [`{"key": }`, `{`, `{"a": 1} x`]) {
      assert.throws(
        () => parseRules(text),
        (e: unknown) => e instanceof AclRulesError && e.message.startsWith("Failed to parse ACL rules: "),
        text,
      );
    }
  });
});

const ACCESS = fc.constantFrom<PolicyAccess>("read", "write", "deny");
const arbRule: fc.Arbitrary<Rule> = fc
  .record({
    resource: fc.constantFrom(...SEGMENT_RESOURCES),
    prefix: fc.boolean(),
    name: fc.string({ unit: "grapheme", maxLength: 12 }),
    policy: ACCESS,
    list: fc.boolean(),
    intentions: fc.option(ACCESS, { nil: undefined }),
  })
  .map(({ resource, prefix, name, policy, list, intentions }) => {
    const p: PolicyAccess = resource === "key" && list ? "list" : policy;
    return rule(resource, prefix, name, p, resource === "service" ? intentions : undefined);
  });
const arbRules: fc.Arbitrary<ParsedRules> = fc.record({
  rules: fc.array(arbRule, { maxLength: 8 }),
  global: fc.record(
    Object.fromEntries(GLOBAL_RESOURCES.map((g) => [g, ACCESS])) as Record<
      GlobalResource,
      fc.Arbitrary<PolicyAccess>
    >,
    { requiredKeys: [] },
  ),
});

describe("parseRules: properties", () => {
  it("HCL printed from any rules parses back to the same rules", () => {
    fc.assert(
      fc.property(arbRules, (r) => {
        assert.deepEqual(parseRules(formatRules(r)), { rules: r.rules, global: { ...r.global } });
      }),
      { numRuns: 300 },
    );
  });

  it("never throws anything but a rules error, whatever the text", () => {
    const pieces = fc.constantFrom(
      "key",
      "key_prefix",
      "acl",
      "policy",
      '"a"',
      '"read"',
      '"list"',
      "=",
      "{",
      "}",
      "[",
      "]",
      ",",
      " ",
      "\n",
      "#",
      "/*",
      "*/",
      "1",
      "true",
      "\\",
      '"',
    );
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 30 }), (ps) => {
        try {
          parseRules(ps.join(""));
        } catch (e) {
          assert.ok(e instanceof AclRulesError, String(e));
        }
      }),
      { numRuns: 500 },
    );
  });
});
