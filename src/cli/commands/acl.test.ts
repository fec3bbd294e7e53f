import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { cliAgent, run } from "../../../test/support/cli-harness.js";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-acl-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("acl commands: bad input is refused before anything is sent", () => {
  const cases: [string[], RegExp][] = [
    [
      ["acl", "token", "create", "-description", "x"],
      /^Cannot create a token without specifying -policy-name, -policy-id, -service-identity, or -node-identity at least once\n$/,
    ],
    [["acl", "token", "create", "-policy-name", "p", "-format", "yaml"], /^Unknown format: yaml\n$/],
    [["acl", "token", "create", "-node-identity", "web"], /^Malformed -node-identity argument: "web"\n$/],
    [
      ["acl", "token", "create", "-service-identity", "a:b:c"],
      /^Malformed -service-identity argument: "a:b:c"\n$/,
    ],
    [
      ["acl", "token", "create", "-expires-ttl", "soon", "-policy-name", "p"],
      /^invalid value "soon" for flag -expires-ttl/,
    ],
    [["acl", "token", "read"], /^Must specify the -accessor-id parameter\n$/],
    [["acl", "token", "delete"], /^Must specify the -accessor-id parameter\n$/],
    [["acl", "token", "update"], /^Cannot update a token without specifying the -accessor-id parameter\n$/],
    [["acl", "token", "clone"], /^Cannot update a token without specifying the -accessor-id parameter\n$/],
    [
      ["acl", "token", "update", "-accessor-id", "abcd", "-policy-id", "a", "-append-policy-name", "b"],
      /^Cannot combine the use of policy-id\/policy-name flags with append- variants\. /,
    ],
    [
      [
        "acl",
        "token",
        "update",
        "-accessor-id",
        "abcd",
        "-service-identity",
        "a",
        "-append-service-identity",
        "b",
      ],
      /^Cannot combine the use of service-identity flag with append-service-identity\. /,
    ],
    [
      [
        "acl",
        "token",
        "update",
        "-accessor-id",
        "abcd",
        "-node-identity",
        "a:d",
        "-append-node-identity",
        "b:d",
      ],
      /^Cannot combine the use of node-identity flag with append-node-identity\. /,
    ],
    [
      ["acl", "policy", "create", "-rules", "x"],
      /^Missing require '-name' flag\nUsage: cairn acl policy create -name NAME/,
    ],
    [
      ["acl", "policy", "create", "-name", "p", "-rules", "@/nonexistent/rules.hcl"],
      /^Error loading rules: Failed to read file: open \/nonexistent\/rules\.hcl: no such file or directory\n$/,
    ],
    [["acl", "policy", "read"], /^Must specify either the -id or -name parameters\n$/],
    [["acl", "policy", "update"], /^Must specify either the -id or -name parameters\n$/],
    [["acl", "policy", "delete"], /^Must specify either the -id or -name parameters\n$/],
    [["acl", "policy", "list", "-format=xml"], /^Unknown format: xml\n$/],
    [["acl", "bootstrap", "a", "b"], /^This command takes up to one argument\n$/],
    [
      ["acl", "bootstrap", "/nonexistent/secret"],
      /^Error reading provided token: Failed to read file: open \/nonexistent\/secret: no such file or directory\n$/,
    ],
    [
      ["acl", "bootstrap", ""],
      /^Error reading provided token: Failed to load data: must specify a file path or '-' for stdin\n$/,
    ],
    [["acl", "token", "list", "-nope"], /^flag provided but not defined: -nope\nUsage: cairn acl token list/],
  ];
  for (const [argv, stderr] of cases) {
    it(argv.slice(1).join(" "), async (t) => {
      const { agent, env } = await cliAgent(t);
      const r = await run(argv, env);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, stderr);
      assert.deepEqual(agent.requests, []);
    });
  }

  it("`acl` alone lists its subcommands on stderr and exits 1, as Consul's RunResultHelp", async (t) => {
    const { env } = await cliAgent(t);
    const r = await run(["acl"], env);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "Usage: cairn acl <subcommand> [options] [args]\n\n  Interact with Consul's ACLs\n\nSubcommands:\n" +
        "    bootstrap    Bootstrap Consul's ACL system\n    policy       Manage Consul's ACL policies\n" +
        "    token        Manage Consul's ACL tokens\n",
    );
    const token = await run(["acl", "token", "-h"], env);
    assert.equal(token.code, 0);
    assert.match(token.stdout, /Subcommands:\n {4}clone {5}Clone an ACL token\n {4}create/);
  });

  it("keeps the deprecated flags out of the help, as Consul registers them after building it", async (t) => {
    const { env } = await cliAgent(t);
    const help = (await run(["acl", "token", "update", "-h"], env)).stdout;
    assert.match(help, /-accessor-id=<string>/);
    assert.doesNotMatch(help, /^ {2}-(merge-policies|id=)/m);
  });
});

describe("acl commands: the token goes out as X-Consul-Token", () => {
  it("reads -self with the token of CONSUL_HTTP_TOKEN_FILE, which beats -token and CONSUL_HTTP_TOKEN", async (t) => {
    const { agent, env } = await cliAgent(t);
    const dir = await tempDir(t);
    const file = join(dir, "token");
    await writeFile(file, "  3a69a8d8-c4d4-485d-9b19-b5b61648ea0c\n");
    agent.override = () => ({ status: 403, body: "ACL not found" });
    const r = await run(["acl", "token", "read", "-self", "-token", "flag-token"], {
      ...env,
      CONSUL_HTTP_TOKEN: "env-token",
      CONSUL_HTTP_TOKEN_FILE: file,
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "Error reading token: Unexpected response code: 403 (ACL not found)\n");
    assert.equal(agent.requests.length, 1);
    assert.equal(agent.requests[0]?.path, "/v1/acl/token/self");
    assert.equal(agent.requests[0]?.headers["x-consul-token"], "3a69a8d8-c4d4-485d-9b19-b5b61648ea0c");
  });

  it("sends -token over CONSUL_HTTP_TOKEN, and an empty token file falls back to them", async (t) => {
    const { agent, env } = await cliAgent(t);
    const dir = await tempDir(t);
    const empty = join(dir, "empty");
    await writeFile(empty, "\n");
    agent.override = () => ({ status: 403, body: "ACL not found" });
    await run(["acl", "token", "read", "-self", "-token", "flag-token"], {
      ...env,
      CONSUL_HTTP_TOKEN: "env-token",
    });
    await run(["acl", "token", "read", "-self", "-token-file", empty], {
      ...env,
      CONSUL_HTTP_TOKEN: "env-token",
    });
    assert.deepEqual(
      agent.requests.map((r) => r.headers["x-consul-token"]),
      ["flag-token", "env-token"],
    );
  });

  it("fails with Consul's text when the token file cannot be read, sending nothing", async (t) => {
    const { agent, env } = await cliAgent(t);
    const r = await run(["acl", "token", "list", "-token-file", "/nonexistent/token"], env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^Error connecting to Consul agent: Error loading token file: open \/nonexistent\/token: no such file or directory\n$/,
    );
    assert.deepEqual(agent.requests, []);
  });
});

describe("acl commands: what goes on the wire, as Go's api sends it", () => {
  it("token create sends api.ACLToken's fields in order, the TTL in nanoseconds, full policy IDs as given", async (t) => {
    const { agent, env } = await cliAgent(t);
    const policyId = "beb04680-815b-4d7c-9e33-3d707c24672c";
    const r = await run(
      [
        "acl",
        "token",
        "create",
        "-accessor=3d852bb8-5153-4388-a3ca-8ca78661889f",
        "-secret=3a69a8d8-c4d4-485d-9b19-b5b61648ea0c",
        "-description=app",
        "-policy-id",
        policyId,
        "-policy-name=kv-app",
        "-service-identity=web:dc1,dc2",
        "-node-identity=n1:dc1",
        "-local",
        "-expires-ttl=1h30m",
        "-datacenter=dc2",
      ],
      env,
    );
    assert.equal(r.code, 1, "this agent has no datacenter dc2");
    assert.match(r.stderr, /^Failed to create new token: Unexpected response code: \d{3} /);
    const [req] = agent.requests;
    assert.equal(agent.requests.length, 1, "a full UUID needs no policy list");
    assert.equal(req?.method, "PUT");
    assert.equal(req?.path, "/v1/acl/token");
    assert.equal(req?.query.get("dc"), "dc2");
    assert.equal(
      req?.body.toString(),
      JSON.stringify({
        AccessorID: "3d852bb8-5153-4388-a3ca-8ca78661889f",
        SecretID: "3a69a8d8-c4d4-485d-9b19-b5b61648ea0c",
        Description: "app",
        Policies: [
          { ID: "", Name: "kv-app" },
          { ID: policyId, Name: "" },
        ],
        ServiceIdentities: [{ ServiceName: "web", Datacenters: ["dc1", "dc2"] }],
        NodeIdentities: [{ NodeName: "n1", Datacenter: "dc1" }],
        Local: true,
        ExpirationTTL: 5_400_000_000_000,
      }),
    );
  });

  it("policy create reads -rules from stdin and sends Go's nil Datacenters as null", async (t) => {
    const { agent, env } = await cliAgent(t);
    const rules = 'key "a" { policy = "read" }\n';
    await run(["acl", "policy", "create", "-name", "p", "-rules", "-"], env, rules);
    await run(
      ["acl", "policy", "create", "-name", "q", "-valid-datacenter", "dc1", "-valid-datacenter", "dc2"],
      env,
    );
    assert.deepEqual(
      agent.requests.map((r) => [r.method, r.path, JSON.parse(r.body.toString())]),
      [
        ["PUT", "/v1/acl/policy", { ID: "", Name: "p", Description: "", Rules: rules, Datacenters: null }],
        [
          "PUT",
          "/v1/acl/policy",
          { ID: "", Name: "q", Description: "", Rules: "", Datacenters: ["dc1", "dc2"] },
        ],
      ],
    );
  });

  it("resolves a partial accessor with one token list, warning about the deprecated -id", async (t) => {
    const { agent, env } = await cliAgent(t);
    const r = await run(["acl", "token", "delete", "-id", "abc"], env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^Use the -accessor-id parameter to specify token by Accessor ID\.\nError determining token ID: Unexpected response code: 4\d\d /,
    );
    assert.deepEqual(
      agent.requests.map((q) => `${q.method} ${q.path}`),
      ["GET /v1/acl/tokens"],
    );
  });
});
