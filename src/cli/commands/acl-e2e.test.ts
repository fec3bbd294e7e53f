/**
 * `cairn acl …` end to end: the CLI in-process against cairn's real HTTP stack over a MemoryServer with ACLs
 * enabled (default deny): bootstrap, a policy from a rules file, a token with it, read/list/update/clone/delete,
 * and `acl token read -self` with CONSUL_HTTP_TOKEN_FILE.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { cliAgent, run } from "../../../test/support/cli-harness.js";
import { MemoryServer } from "../../api/memory-server.js";
import type { Env } from "../../client/index.js";

const RULES = 'key_prefix "app/" {\n  policy = "write"\n}\n';

/** A MemoryServer with Consul's `acl { enabled = true, default_policy = "deny" }`, its ACLs initialized. */
async function aclServer(): Promise<MemoryServer> {
  const api = new MemoryServer({
    acl: { enabled: true, defaultPolicy: "deny", downPolicy: "extend-cache", tokens: {} },
  });
  await api.aclReady;
  return api;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-acl-e2e-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command that must succeed; its stdout. */
async function ok(argv: string[], env: Env, stdin = ""): Promise<string> {
  const r = await run(argv, env, stdin);
  assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  assert.equal(r.stderr, "", argv.join(" "));
  return r.stdout;
}

/** The value of a pretty `Label:   value` line. */
function field(pretty: string, label: string): string {
  const m = new RegExp(`^${label}:\\s+(.*)$`, "m").exec(pretty);
  assert.ok(m !== null, `no ${label} in:\n${pretty}`);
  return m[1] ?? "";
}

describe("cairn acl against the ACL endpoints", () => {
  it("bootstraps, writes a policy from a rules file, and manages a token with it", async (t) => {
    const { env: base } = await cliAgent(t, { api: await aclServer() });
    const dir = await tempDir(t);

    const boot = JSON.parse(await ok(["acl", "bootstrap", "-format=json"], base));
    assert.equal(boot.Description, "Bootstrap Token (Global Management)");
    assert.deepEqual(boot.Policies, [
      { ID: "00000000-0000-0000-0000-000000000001", Name: "global-management" },
    ]);
    const again = await run(["acl", "bootstrap"], base);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^Failed ACL bootstrapping: Unexpected response code: 403 \(Permission denied: ACL bootstrap no longer allowed \(reset index: \d+\)\)\n$/,
    );
    const env: Env = { ...base, CONSUL_HTTP_TOKEN: boot.SecretID };

    const rulesFile = join(dir, "rules.hcl");
    await writeFile(rulesFile, RULES);
    const created = await ok(
      ["acl", "policy", "create", "-name", "kv-app", "-description", "app keys", "-rules", `@${rulesFile}`],
      env,
    );
    const policyId = field(created, "ID");
    assert.equal(
      created,
      `ID:           ${policyId}\nName:         kv-app\nDescription:  app keys\nDatacenters:  \nRules:\n${RULES}\n`,
    );
    assert.equal(await ok(["acl", "policy", "read", "-name", "kv-app"], env), created);
    assert.equal(await ok(["acl", "policy", "read", "-id", policyId.slice(0, 8)], env), created);
    assert.match(
      await ok(["acl", "policy", "list"], env),
      new RegExp(`^kv-app:\\n   ID:           ${policyId}\\n`, "m"),
    );

    const token = JSON.parse(
      await ok(
        ["acl", "token", "create", "-description", "app", "-policy-name", "kv-app", "-format", "json"],
        env,
      ),
    );
    assert.deepEqual(token.Policies, [{ ID: policyId, Name: "kv-app" }]);
    const read = await ok(["acl", "token", "read", "-accessor-id", token.AccessorID.slice(0, 8)], env);
    assert.equal(field(read, "AccessorID"), token.AccessorID);
    assert.equal(field(read, "Description"), "app");
    assert.match(read, new RegExp(`\\nPolicies:\\n   ${policyId} - kv-app\\n`));
    assert.match(field(read, "Create Time"), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+$/);
    const list = await ok(["acl", "token", "list"], env);
    assert.match(list, new RegExp(`^AccessorID:       ${token.AccessorID}$`, "m"));
    assert.match(list, new RegExp(`^AccessorID:       ${boot.AccessorID}$`, "m"));

    const updated = await ok(
      ["acl", "token", "update", "-accessor-id", token.AccessorID, "-description", "renamed"],
      env,
    );
    assert.equal(field(updated, "Description"), "renamed");
    assert.match(
      updated,
      new RegExp(`\\nPolicies:\\n   ${policyId} - kv-app\\n`),
      "update keeps the policies",
    );

    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, `${token.SecretID}\n`);
    const self = await ok(["acl", "token", "read", "-self"], { ...base, CONSUL_HTTP_TOKEN_FILE: tokenFile });
    assert.equal(field(self, "AccessorID"), token.AccessorID);
    const clone = await ok(
      ["acl", "token", "clone", "-accessor-id", token.AccessorID, "-description", "copy"],
      env,
    );
    assert.notEqual(field(clone, "AccessorID"), token.AccessorID);
    assert.equal(field(clone, "Description"), "copy");

    assert.equal(
      await ok(["acl", "token", "delete", "-accessor-id", token.AccessorID], env),
      `Token "${token.AccessorID}" deleted successfully\n`,
    );
    const gone = await run(["acl", "token", "read", "-accessor-id", token.AccessorID], env);
    assert.equal(gone.code, 1);
    assert.match(
      gone.stderr,
      new RegExp(`^Error reading token "${token.AccessorID}": Unexpected response code: 40[34]`),
    );

    const renamed = await ok(
      ["acl", "policy", "update", "-name", "kv-app", "-description", "new words"],
      env,
    );
    assert.equal(field(renamed, "Description"), "new words");
    assert.ok(renamed.endsWith(`Rules:\n${RULES}\n`), "rules kept when -rules is not given");
    assert.equal(
      await ok(["acl", "policy", "delete", "-name", "kv-app"], env),
      `Policy "${policyId}" deleted successfully\n`,
    );
    const missing = await run(["acl", "policy", "read", "-name", "kv-app"], env);
    assert.deepEqual([missing.code, missing.stderr], [1, "Error policy not found: kv-app\n"]);
  });
});

describe("snapshots and ACLs, through the CLI", () => {
  it("snapshot save with a token lacking acl:write is 403 and leaves no file; with management it saves and verifies", async (t) => {
    const { env: base } = await cliAgent(t, { api: await aclServer() });
    const dir = await tempDir(t);
    const root = JSON.parse(await ok(["acl", "bootstrap", "-format=json"], base)).SecretID as string;
    const mgmt = { ...base, CONSUL_HTTP_TOKEN: root };
    await ok(["kv", "put", "app/k", "v"], mgmt);
    const rules = join(dir, "rules.hcl");
    await writeFile(rules, 'key_prefix "" { policy = "write" }\noperator = "write"\n');
    await ok(["acl", "policy", "create", "-name", "all-but-acl", "-rules", `@${rules}`], mgmt);
    const writer = JSON.parse(
      await ok(["acl", "token", "create", "-policy-name", "all-but-acl", "-format=json"], mgmt),
    ).SecretID as string;

    const denied = await run(["snapshot", "save", join(dir, "denied.snap")], {
      ...base,
      CONSUL_HTTP_TOKEN: writer,
    });
    assert.equal(denied.code, 1);
    assert.match(
      denied.stderr,
      /403 \(Permission denied: token with AccessorID '[0-9a-f-]{36}' lacks permission 'acl:write'/,
    );
    assert.deepEqual((await readdir(dir)).sort(), ["rules.hcl"]);

    const saved = await run(["snapshot", "save", join(dir, "ok.snap")], mgmt);
    assert.equal(saved.code, 0, saved.stderr);
    const inspect = await run(["snapshot", "inspect", join(dir, "ok.snap")], base);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /ACLToken/);
    // inspect never prints a secret.
    assert.ok(!inspect.stdout.includes(root) && !inspect.stdout.includes(writer));
    const restoreDenied = await run(["snapshot", "restore", join(dir, "ok.snap")], {
      ...base,
      CONSUL_HTTP_TOKEN: writer,
    });
    assert.equal(restoreDenied.code, 1);
    assert.match(restoreDenied.stderr, /403 \(Permission denied: .* lacks permission 'acl:write'/);
    const restored = await run(["snapshot", "restore", join(dir, "ok.snap")], mgmt);
    assert.equal(restored.code, 0, restored.stderr);
  });
});
