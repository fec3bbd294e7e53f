import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAgentArgs } from "./config.js";
import { ACL_DISABLED } from "./config-acl.js";
import { type Case, check, DD, E, F, fakeHost, file } from "./config-testutil.js";

const cases: Case[] = [
  { name: "ACLs are off by default", argv: DD, want: { acl: ACL_DISABLED } },
  {
    name: "the acl block as Consul's documentation shows it",
    argv: [...DD, ...F],
    world: file(
      JSON.stringify({
        acl: {
          enabled: true,
          default_policy: "deny",
          down_policy: "extend-cache",
          enable_key_list_policy: true,
          tokens: { initial_management: "root-secret", agent: "agent-secret", default: "" },
        },
      }),
    ),
    want: {
      acl: {
        enabled: true,
        defaultPolicy: "deny",
        downPolicy: "extend-cache",
        enableKeyListPolicy: true,
        tokens: { initialManagement: "root-secret", agent: "agent-secret" },
      },
    },
  },
  E(
    "a default policy other than allow or deny",
    [...DD, ...F],
    'config file "/f.json": "acl.default_policy" cannot be "block": must be one of "allow", "deny"',
    file('{"acl":{"default_policy":"block"}}'),
  ),
  E(
    "an unknown key inside acl",
    [...DD, ...F],
    'config file "/f.json": "acl.tokens.managment" is not a config key',
    file('{"acl":{"tokens":{"managment":"x"}}}'),
  ),
];

describe("agent config: acl", () => {
  for (const c of cases) it(c.name, () => check(c));

  it("accepts the deprecated master and agent_master names, with Consul's warning", () => {
    const cfg = parseAgentArgs(
      [...DD, ...F],
      {},
      fakeHost(file('{"acl":{"enabled":true,"tokens":{"master":"m","agent_master":"r"}}}')),
    );
    assert.deepEqual(cfg.acl.tokens, { initialManagement: "m", agentRecovery: "r" });
    assert.ok(cfg.warnings.some((w) => w.includes("'acl.tokens.master' field is deprecated")));
    assert.ok(cfg.warnings.some((w) => w.includes("'acl.tokens.agent_master' field is deprecated")));
  });
});
