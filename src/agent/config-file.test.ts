import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AgentConfigError, parseAgentArgs } from "./config.js";
import { type Case, check, DD, E, F, fakeHost, file } from "./config-testutil.js";

const ok: Case[] = [
  {
    name: "config file, every key",
    argv: ["-config-file", "/c/a.json"],
    world: {
      files: {
        "/c/a.json": JSON.stringify({
          server: true,
          bootstrap_expect: 5,
          retry_join: ["s1", "s2:8301"],
          node_name: "n1",
          bind_addr: "10.0.0.1",
          advertise_addr: "10.0.0.2",
          client_addr: "0.0.0.0",
          ports: { http: 1, server: 2, dns: 8653 },
          domain: "Example.",
          dns_config: {
            node_ttl: "10s",
            service_ttl: { "*": "5s", "web*": "30s", web: "1m30s" },
            only_passing: true,
            allow_stale: false,
            enable_truncate: true,
            udp_answer_limit: 5,
            enable_additional_node_meta_txt: false,
          },
          data_dir: "/var/cairn",
          datacenter: "dc-2",
          log_level: "trace",
          log_json: true,
          ui: true,
          raft: { election_timeout_ms: 500, heartbeat_interval_ms: 50, snapshot_threshold: 10 },
        }),
      },
    },
    want: {
      server: true,
      bootstrapExpect: 5,
      retryJoin: [
        { host: "s1", port: 8300 },
        { host: "s2", port: 8301 },
      ],
      nodeName: "n1",
      bindAddr: "10.0.0.1",
      advertiseAddr: "10.0.0.2",
      clientAddr: "0.0.0.0",
      ports: { http: 1, server: 2, dns: 8653 },
      dns: {
        domain: "example",
        nodeTtl: 10,
        serviceTtl: { "*": 5, "web*": 30, web: 90 },
        onlyPassing: true,
        allowStale: false,
        enableTruncate: true,
        udpAnswerLimit: 5,
        nodeMetaTxt: false,
      },
      dataDir: "/var/cairn",
      datacenter: "dc-2",
      logLevel: "trace",
      logJson: true,
      ui: true,
      raft: { electionTimeoutMs: 500, heartbeatIntervalMs: 50, snapshotThreshold: 10 },
      configFiles: ["/c/a.json"],
    },
  },
  {
    name: "empty config dir",
    argv: [...DD, "-config-dir=/e"],
    world: { dirs: { "/e": [] } },
    want: { configFiles: [] },
  },
];

const bad: Case[] = [
  E(
    "hcl file",
    ["-config-file=/c.hcl"],
    'cannot read config file "/c.hcl": HCL is not supported yet; write the configuration as JSON',
  ),
  E(
    "hcl in dir",
    ["-config-dir=/d"],
    'cannot read config file "/d/b.hcl": HCL is not supported yet; write the configuration as JSON',
    { dirs: { "/d": ["a.json", "b.hcl"] } },
  ),
  E(
    "other extension",
    ["-config-file=/c.yaml"],
    'cannot read config file "/c.yaml": its name must end in .json',
  ),
  E(
    "missing file",
    F,
    "cannot read config file \"/f.json\": ENOENT: no such file or directory, open '/f.json'",
  ),
  E(
    "missing dir",
    ["-config-dir=/nope"],
    "cannot read config dir \"/nope\": ENOENT: no such file or directory, scandir '/nope'",
  ),
  E("unknown key", F, 'config file "/f.json": "bogus" is not a config key', file('{"bogus": 1}')),
  E(
    "unknown nested key",
    F,
    'config file "/f.json": "raft.x" is not a config key',
    file('{"raft": {"x": 1}}'),
  ),
  E(
    "Consul key not supported",
    F,
    'config file "/f.json": "ports.grpc" is a Consul setting cairn does not support yet',
    file('{"ports": {"grpc": -1}}'),
  ),
  E(
    "dns_config key not supported",
    F,
    'config file "/f.json": "dns_config.recursor_timeout" is a Consul setting cairn does not support yet',
    file('{"dns_config": {"recursor_timeout": "2s"}}'),
  ),
  E(
    "bad service_ttl",
    F,
    'dns_config.service_ttl["web"] cannot be "5": a duration needs a unit, such as "5s", "5m" or "5h"',
    file('{"data_dir": "/d", "dns_config": {"service_ttl": {"web": "5"}}}'),
  ),
  E(
    "udp_answer_limit 0",
    F,
    "dns_config.udp_answer_limit must be > 0",
    file('{"data_dir": "/d", "dns_config": {"udp_answer_limit": 0}}'),
  ),
  E(
    "bad node_ttl",
    F,
    'config file "/f.json": "dns_config.node_ttl" cannot be "-1s": must not be negative',
    file('{"dns_config": {"node_ttl": "-1s"}}'),
  ),
  E("wrong type bool", F, 'config file "/f.json": "server" must be a boolean', file('{"server": "true"}')),
  E(
    "wrong type int",
    F,
    'config file "/f.json": "bootstrap_expect" must be an integer',
    file('{"bootstrap_expect": 1.5}'),
  ),
  E("wrong type string", F, 'config file "/f.json": "data_dir" must be a string', file('{"data_dir": 1}')),
  E(
    "wrong type list",
    F,
    'config file "/f.json": "retry_join" must be an array of strings',
    file('{"retry_join": "a"}'),
  ),
  E("object expected", F, 'config file "/f.json": "ports" must be an object', file('{"ports": 8500}')),
  E("not an object", F, 'config file "/f.json" must hold a JSON object', file("[1]")),
];

describe("config files", () => {
  for (const c of ok) it(c.name, () => check(c));
  describe("rejects", () => {
    for (const c of bad) it(c.name, () => check(c));
  });

  it("malformed JSON names the file, line and column", () => {
    const host = fakeHost(file('{\n  "server": true,\n  "x" 1\n}'));
    assert.throws(
      () => parseAgentArgs(F, {}, host),
      /^AgentConfigError: invalid JSON in config file "\/f\.json": line 3, column 7: /,
    );
  });

  it("truncated JSON points at its end", () => {
    const host = fakeHost(file('{"server": tr'));
    assert.throws(() => parseAgentArgs(F, {}, host), /"\/f\.json": line 1, column 1[34]: /);
  });

  it("a bad token V8 gives no position for is still placed", () => {
    const host = fakeHost(file('{\n  "a": x\n}'));
    assert.throws(
      () => parseAgentArgs(F, {}, host),
      (e: unknown) =>
        e instanceof AgentConfigError &&
        e.message === `invalid JSON in config file "/f.json": line 2, column 8: Unexpected token 'x'`,
    );
  });
});
