import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { cliAgent, run } from "../../../test/support/cli-harness.js";
import type { MemberInfo, RaftServerInfo } from "../../api/types.js";
import { VERSION } from "../../util/version.js";
import { formatExport, goPathClean, importKey } from "./kv-impexp.js";

describe("kv export / import", () => {
  it("round-trips keys, binary values and flags past 2^53", async (t) => {
    const src = await cliAgent(t);
    await src.agent.put("app/a", "1");
    await src.agent.put("app/b<&>", Buffer.from([0, 255, 10]), 18446744073709551615n);
    await src.agent.put("app//odd", "");
    await src.agent.put("other", "x");
    const exp = await run(["kv", "export", "app/"], src.env);
    assert.equal(exp.code, 0);
    assert.match(
      exp.stdout,
      /^\[\n\t\{\n\t\t"key": "app\/\/odd",\n\t\t"flags": 0,\n\t\t"value": ""\n\t\},\n\t\{\n\t\t"key": "app\/a",\n\t\t"flags": 0,\n\t\t"value": "MQ=="\n\t\},/,
    );
    assert.ok(exp.stdout.includes('"key": "app/b\\u003c\\u0026\\u003e"'));
    assert.ok(exp.stdout.includes('"flags": 18446744073709551615'));
    const dst = await cliAgent(t);
    const imp = await run(["kv", "import", "-"], dst.env, exp.stdout);
    assert.equal(imp.code, 0);
    assert.equal(imp.stdout, "Imported: app//odd\nImported: app/a\nImported: app/b<&>\n");
    for (const k of ["app/a", "app/b<&>", "app//odd"]) {
      const a = src.agent.entry(k);
      const b = dst.agent.entry(k);
      assert.deepEqual([b?.Value, b?.Flags], [a?.Value, a?.Flags], k);
    }
    assert.equal(dst.agent.entry("other"), null);
  });

  it("prints [] for an empty tree and applies -prefix as Go's path.Join", async (t) => {
    const { agent, env } = await cliAgent(t);
    assert.equal((await run(["kv", "export", "none"], env)).stdout, "[]\n");
    const data = JSON.stringify([
      { key: "x/", flags: 3, value: "" },
      { Key: "y", Flags: 0, Value: "eQ==" },
    ]);
    const r = await run(["kv", "import", "-prefix=pre//", data], env);
    assert.equal(r.stdout, "Imported: pre/x/\nImported: pre/y\n");
    assert.equal(agent.entry("pre/x/")?.Flags, 3n);
    assert.equal(agent.value("pre/y")?.toString(), "y");
  });

  it("reports import errors as Consul", async (t) => {
    const { env } = await cliAgent(t);
    const cases: Array<[string[], string]> = [
      [["kv", "import"], "Error! Missing DATA argument\n"],
      [["kv", "import", ""], "Error! Empty DATA argument\n"],
      [["kv", "import", "a", "b"], "Error! Too many arguments (expected 1, got 2)\n"],
      [
        ["kv", "import", '[{"key":"k","value":"!"}]'],
        "Error base 64 decoding value for key k: illegal base64 data at input byte 0\n",
      ],
    ];
    for (const [argv, stderr] of cases) {
      const r = await run(argv, env);
      assert.deepEqual([r.code, r.stderr], [1, stderr], argv.join(" "));
    }
    assert.match((await run(["kv", "import", "{"], env)).stderr, /^Cannot unmarshal data: /);
  });

  it("formats like json.MarshalIndent and cleans paths like Go", () => {
    assert.equal(
      formatExport([{ key: "k", flags: 1n, value: "", namespace: "ns", partition: "" }]),
      '[\n\t{\n\t\t"key": "k",\n\t\t"flags": 1,\n\t\t"value": "",\n\t\t"namespace": "ns"\n\t}\n]',
    );
    const clean: Array<[string, string]> = [
      ["a//b/./c/..", "a/b"],
      ["/../x", "/x"],
      ["../a", "../a"],
      ["", "."],
      ["a/..", "."],
    ];
    for (const [i, o] of clean) assert.equal(goPathClean(i), o, i);
    assert.equal(importKey("", "a//b"), "a//b");
    assert.equal(importKey("p", "d/"), "p/d/");
  });
});

/** The raft configuration the server reports (MemoryServer's fixture field behind the real endpoint). */
const raftServers: RaftServerInfo[] = [
  {
    id: "id-1",
    node: "alpha",
    address: "127.0.0.1:8300",
    leader: true,
    voter: true,
    protocolVersion: "3",
    lastIndex: 108,
  },
  {
    id: "id-2",
    node: "b",
    address: "127.0.0.2:8300",
    leader: false,
    voter: true,
    protocolVersion: "3",
    lastIndex: 107,
  },
  {
    id: "id-3",
    node: "c",
    address: "127.0.0.3:8300",
    leader: false,
    voter: false,
    protocolVersion: "",
    lastIndex: 100,
  },
];

describe("operator raft", () => {
  it("list-peers prints Consul's columnized table", async (t) => {
    const { agent, env } = await cliAgent(t);
    agent.api.raftServers = raftServers;
    const r = await run(["operator", "raft", "list-peers", "-stale"], env);
    const want = [
      "Node   ID    Address         State     Voter  RaftProtocol  Commit Index  Trails Leader By",
      "alpha  id-1  127.0.0.1:8300  leader    true   3             108           -",
      "b      id-2  127.0.0.2:8300  follower  true   3             107           1 commit",
      "c      id-3  127.0.0.3:8300  follower  false  <=1           100           8 commits",
    ].join("\n");
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${want}\n`, ""]);
    assert.equal(agent.requests.at(-1)?.rawUrl, "/v1/operator/raft/configuration?stale=");
  });

  it("list-peers -stale without a leader prints - for every lag, never a wrapped uint64", async (t) => {
    const { agent, env } = await cliAgent(t);
    agent.api.raftServers = raftServers.map((s, i) => ({
      ...s,
      leader: false,
      lastIndex: [9, 7, 0][i] ?? 0,
    }));
    const r = await run(["operator", "raft", "list-peers", "-stale"], env);
    const want = [
      "Node   ID    Address         State     Voter  RaftProtocol  Commit Index  Trails Leader By",
      "alpha  id-1  127.0.0.1:8300  follower  true   3             9             -",
      "b      id-2  127.0.0.2:8300  follower  true   3             7             -",
      "c      id-3  127.0.0.3:8300  follower  false  <=1           0             -",
    ].join("\n");
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${want}\n`, ""]);
  });

  it("list-peers: a follower ahead of the leader's last index trails it by 0 commits", async (t) => {
    const { agent, env } = await cliAgent(t);
    agent.api.raftServers = raftServers.map((s, i) => ({ ...s, lastIndex: [108, 110, 108][i] ?? 0 }));
    const r = await run(["operator", "raft", "list-peers"], env);
    const want = [
      "Node   ID    Address         State     Voter  RaftProtocol  Commit Index  Trails Leader By",
      "alpha  id-1  127.0.0.1:8300  leader    true   3             108           -",
      "b      id-2  127.0.0.2:8300  follower  true   3             110           0 commits",
      "c      id-3  127.0.0.3:8300  follower  false  <=1           108           0 commits",
    ].join("\n");
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `${want}\n`, ""]);
  });

  it("list-peers reports a failed call", async (t) => {
    const { agent, env } = await cliAgent(t);
    // What a server without a leader answers a read that is not -stale.
    agent.api.hasLeader = false;
    const r = await run(["operator", "raft", "list-peers"], env);
    assert.deepEqual(
      [r.code, r.stderr],
      [
        1,
        "Error getting peers: Failed to retrieve raft configuration: Unexpected response code: 500 (No cluster leader)\n",
      ],
    );
  });

  it("remove-peer and transfer-leader", async (t) => {
    const { agent, env } = await cliAgent(t);
    assert.equal(
      (await run(["operator", "raft", "remove-peer", "-address=127.0.0.9:8300"], env)).stdout,
      'Removed peer with address "127.0.0.9:8300"\n',
    );
    assert.equal(agent.requests.at(-1)?.rawUrl, "/v1/operator/raft/peer?address=127.0.0.9%3A8300");
    assert.equal(
      (await run(["operator", "raft", "remove-peer", "-id=x"], env)).stdout,
      'Removed peer with id "x"\n',
    );
    assert.deepEqual(agent.api.removedPeers, [{ address: "127.0.0.9:8300" }, { id: "x" }]);
    assert.equal(
      (await run(["operator", "raft", "remove-peer"], env)).stderr,
      "Error removing peer: an address or id is required for the peer to remove\n",
    );
    assert.equal(
      (await run(["operator", "raft", "remove-peer", "-id=x", "-address=y"], env)).stderr,
      "Error removing peer: cannot give both an address and id\n",
    );
    assert.deepEqual(
      await run(["operator", "raft", "transfer-leader", "-id=id-2"], env).then((r) => [r.code, r.stdout]),
      [0, "Success\n"],
    );
    assert.equal(agent.requests.at(-1)?.rawUrl, "/v1/operator/raft/transfer-leader?id=id-2");
    agent.api.transferResult = false;
    assert.deepEqual(
      await run(["operator", "raft", "transfer-leader"], env).then((r) => [r.code, r.stderr]),
      [1, "Error transfering leadership: Failed to transfer leadership\n"],
    );
    assert.deepEqual(agent.api.transfers, ["id-2", null]);
  });
});

const member = (name: string, addr: string, role: string, status: MemberInfo["status"]): MemberInfo => ({
  name,
  addr,
  port: 8301,
  tags: { role, dc: "dc1", build: "1.0.0:abc", vsn: "2" },
  status,
});

describe("members", () => {
  it("prints servers first, sorted, columnized", async (t) => {
    const { agent, env } = await cliAgent(t);
    agent.api.memberList = [
      member("zclient", "10.0.0.9", "node", 1),
      member("s2", "10.0.0.2", "consul", 4),
      member("s1", "::1", "consul", 1),
    ];
    const r = await run(["members"], env);
    const want = [
      "Node     Address        Status  Type    Build  Protocol  DC   Partition  Segment",
      "s1       [::1]:8301     alive   server  1.0.0  2         dc1  default    <all>",
      "s2       10.0.0.2:8301  failed  server  1.0.0  2         dc1  default    <all>",
      "zclient  10.0.0.9:8301  alive   client  1.0.0  2         dc1  default    <default>",
    ].join("\n");
    assert.deepEqual([r.code, r.stdout], [0, `${want}\n`]);
    assert.equal((await run(["members", "-status=fail"], env)).stdout.split("\n").length, 3);
    assert.equal((await run(["members", "-status=left"], env)).code, 2);
    assert.match(
      (await run(["members", "-detailed"], env)).stdout,
      /^s1 {7}\[::1\]:8301 {5}alive {3}ap=default,build=1\.0\.0:abc,dc=dc1,role=consul,segment=<all>,vsn=2$/m,
    );
    assert.equal((await run(["members", "-status=("], env)).code, 1);
  });
});

describe("dispatch", () => {
  it("routes, prints usage for unknown or missing subcommands, and stubs later commands", async () => {
    const env = { CONSUL_HTTP_ADDR: "127.0.0.1:1" };
    const top = await run([], env);
    assert.equal(top.code, 1);
    assert.match(top.stderr, /^Usage: cairn \[--version\]/);
    const unknown = await run(["kv", "frob"], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^Unknown command: frob\n\nUsage: cairn kv <subcommand>/);
    const help = await run(["operator", "raft", "-h"], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /list-peers {9}Display the current Raft peer configuration/);
    for (const name of ["agent"]) {
      const r = await run([name, "save", "x"], env);
      assert.deepEqual([r.code, r.stderr], [1, `cairn ${name}: not yet implemented\n`]);
    }
  });

  it("prints the version of package.json", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    assert.equal(VERSION, pkg.version);
    const r = await run(["version"], {});
    assert.ok(r.stdout.startsWith(`cairn v${pkg.version}\n`));
    assert.equal((await run(["--version"], {})).code, 0);
  });
});
