import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DNS_DEFAULTS } from "../dns/config.js";
import { AgentConfigError, agentUsage, HelpRequested, parseAgentArgs } from "./config.js";
import { parseJoin } from "./config-resolve.js";
import { type Case, check, DD, E, F, fakeHost, file } from "./config-testutil.js";

const ok: Case[] = [
  {
    name: "defaults",
    argv: DD,
    want: {
      server: false,
      dev: false,
      bootstrap: false,
      bootstrapExpect: 0,
      retryJoin: [],
      nodeName: "testhost",
      bindAddr: "0.0.0.0",
      advertiseAddr: "10.1.2.3",
      clientAddr: "127.0.0.1",
      ports: { http: 8500, server: 8300, dns: 8600 },
      dataDir: "/d",
      dataDirTemp: false,
      datacenter: "dc1",
      logLevel: "info",
      logJson: false,
      ui: false,
      raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotThreshold: 16384 },
      configFiles: [],
      warnings: [],
    },
  },
  {
    name: "npm start's server line",
    argv: [
      "-server",
      "-bootstrap-expect",
      "3",
      "-node",
      "cairn-2",
      "-bind",
      "127.0.0.2",
      "-client",
      "127.0.0.2",
      "-data-dir",
      "./.cairn/server2",
      "-retry-join",
      "127.0.0.1",
      "-retry-join",
      "127.0.0.2",
      "-retry-join",
      "127.0.0.3",
    ],
    want: {
      server: true,
      bootstrapExpect: 3,
      nodeName: "cairn-2",
      bindAddr: "127.0.0.2",
      advertiseAddr: "127.0.0.2",
      clientAddr: "127.0.0.2",
      dataDir: "./.cairn/server2",
      retryJoin: [
        { host: "127.0.0.1", port: 8300 },
        { host: "127.0.0.2", port: 8300 },
        { host: "127.0.0.3", port: 8300 },
      ],
      warnings: ["bootstrap_expect > 0: expecting 3 servers"],
    },
  },
  {
    name: "no public IPv4: loopback advertise",
    argv: DD,
    world: { loopbackOnly: true },
    want: { advertiseAddr: "127.0.0.1" },
  },
  {
    name: "advertise given",
    argv: [...DD, "-advertise", "10.9.9.9"],
    want: { bindAddr: "0.0.0.0", advertiseAddr: "10.9.9.9" },
  },
  {
    name: "IPv6 bind, bracketed",
    argv: [...DD, "-bind=[::1]"],
    want: { bindAddr: "::1", advertiseAddr: "::1" },
  },
  {
    name: "bind :: picks IPv4",
    argv: [...DD, "-bind=::"],
    want: { bindAddr: "::", advertiseAddr: "10.1.2.3" },
  },
  {
    name: "dev mode",
    argv: ["-dev"],
    env: { TMPDIR: "/scratch" },
    want: {
      dev: true,
      server: true,
      bootstrap: true,
      bindAddr: "127.0.0.1",
      advertiseAddr: "127.0.0.1",
      clientAddr: "127.0.0.1",
      ports: { http: 8500, server: 8300, dns: 8600 },
      dataDir: "/scratch/cairn-dev-",
      dataDirTemp: true,
      logLevel: "debug",
      ui: true,
      warnings: ["bootstrap = true: do not enable unless necessary"],
    },
  },
  { name: "dev without TMPDIR", argv: ["-dev"], want: { dataDir: "/tmp/cairn-dev-" } },
  {
    name: "dev with a data dir keeps it",
    argv: ["-dev", "-data-dir=/keep"],
    want: { dataDir: "/keep", dataDirTemp: false },
  },
  { name: "dev log level overridable", argv: ["-dev", "-log-level=WARN"], want: { logLevel: "warn" } },
  {
    name: "ports, datacenter, log flags",
    argv: [...DD, "-http-port=18500", "--server-port", "18300", "-datacenter=East_1", "-log-json", "-ui"],
    want: { ports: { http: 18500, server: 18300, dns: 8600 }, datacenter: "east_1", logJson: true, ui: true },
  },
  {
    name: "dns port and domain",
    argv: [...DD, "-dns-port=18600", "-domain", "Cairn.Example."],
    want: {
      ports: { http: 8500, server: 8300, dns: 18600 },
      dns: { ...DNS_DEFAULTS, domain: "cairn.example" },
    },
  },
  {
    name: "dns disabled",
    argv: [...DD, "-dns-port", "-1"],
    want: { ports: { http: 8500, server: 8300, dns: -1 } },
  },
  {
    name: "retry-join forms and dedup",
    argv: [
      ...DD,
      "-retry-join=h1",
      "-retry-join=h1:8300",
      "-retry-join=h2:9",
      "-retry-join=[::1]:7",
      "-retry-join=fe80::2",
    ],
    want: {
      retryJoin: [
        { host: "h1", port: 8300 },
        { host: "h2", port: 9 },
        { host: "::1", port: 7 },
        { host: "fe80::2", port: 8300 },
      ],
    },
  },
  {
    name: "-join is retried with -retry-join's; no WAN port unless the WAN is asked for",
    argv: [...DD, "-retry-join=h1", "-join=h2:9"],
    want: {
      retryJoin: [
        { host: "h1", port: 8300 },
        { host: "h2", port: 9 },
      ],
      retryJoinWan: [],
      serfWanPort: -1,
    },
  },
  {
    name: "a server joining the WAN listens on 8302, and -retry-join-wan defaults to port 8302",
    argv: [...DD, "-server", "-retry-join-wan=w1", "-retry-join-wan=w2:9"],
    want: {
      retryJoinWan: [
        { host: "w1", port: 8302 },
        { host: "w2", port: 9 },
      ],
      serfWanPort: 8302,
    },
  },
  {
    name: "ports.serf_wan and retry_join_wan from a file; -serf-wan-port -1 turns it off",
    argv: [...DD, "-server", ...F, "-serf-wan-port", "-1"],
    world: file('{"ports": {"serf_wan": 9302}, "retry_join_wan": ["w:1"]}'),
    want: { retryJoinWan: [{ host: "w", port: 1 }], serfWanPort: -1 },
  },
  {
    name: "the WAN port alone, set in a file",
    argv: [...DD, "-server", ...F],
    world: file('{"ports": {"serf_wan": 9302}}'),
    want: { serfWanPort: 9302 },
  },
  {
    name: "even bootstrap_expect warns",
    argv: [...DD, "-server", "-bootstrap-expect=4"],
    want: {
      warnings: [
        "bootstrap_expect is even number: A cluster with an even number of servers does not achieve optimum fault " +
          "tolerance. See https://www.consul.io/docs/internals/consensus.html#deployment-table",
        "bootstrap_expect > 0: expecting 4 servers",
      ],
    },
  },
  {
    name: "later files override earlier, flags override files, retry_join accumulates",
    argv: [
      "-config-file=/a.json",
      "-node",
      "flag-node",
      "-config-dir",
      "/d",
      "-config-file=/z.json",
      "-retry-join=f",
    ],
    world: {
      files: {
        "/a.json": '{"data_dir": "/a", "node_name": "a", "datacenter": "a", "retry_join": ["a"]}',
        "/d/1.json": '{"datacenter": "d1", "log_level": "debug", "retry_join": ["d1"]}',
        "/d/2.json": '{"datacenter": "d2", "retry_join": ["d2"]}',
        "/z.json": '{"log_level": "error"}',
      },
      dirs: { "/d": ["2.json", "README.txt", "1.json"] },
    },
    want: {
      dataDir: "/a",
      nodeName: "flag-node",
      datacenter: "d2",
      logLevel: "error",
      retryJoin: ["a", "d1", "d2", "f"].map((host) => ({ host, port: 8300 })),
      configFiles: ["/a.json", "/d/1.json", "/d/2.json", "/z.json"],
    },
  },
  {
    name: "a flag value that looks like -config-file is a value",
    argv: ["-node", "-config-file", ...DD],
    want: { nodeName: "-config-file", configFiles: [] },
  },
  {
    name: "flag false beats file true",
    argv: ["-config-file=/a.json", "-server=false"],
    world: { files: { "/a.json": '{"server": true, "data_dir": "/a"}' } },
    want: { server: false },
  },
];

const bad: Case[] = [
  E("unknown flag", ["-foo"], "flag provided but not defined: -foo"),
  E(
    "retry-join-wan on a client",
    [...DD, "-retry-join-wan=w"],
    "'retry_join_wan' requires 'server = true': client agents join no other datacenter",
  ),
  E(
    "bad retry-join-wan",
    [...DD, "-server", "-retry-join-wan=w:x"],
    'retry_join_wan cannot be "w:x": port must be between 1 and 65535',
  ),
  E("flag without value", ["-node"], "flag needs an argument: -node"),
  E("bad int", ["-bootstrap-expect=x"], 'invalid value "x" for flag -bootstrap-expect: parse error'),
  E("extra args", [...DD, "-server", "x", "y"], "config: Unknown extra arguments: [x y]"),
  E("bool with separate value", [...DD, "-server", "false"], "config: Unknown extra arguments: [false]"),
  E("missing data dir", ["-server"], "data_dir cannot be empty"),
  E("empty data dir", ["-data-dir="], "data_dir cannot be empty"),
  E("empty datacenter", [...DD, "-datacenter="], "datacenter cannot be empty"),
  E(
    "bad datacenter",
    [...DD, "-datacenter=dc.1"],
    'datacenter cannot be "dc.1". Please use only [a-z0-9-_].',
  ),
  E("empty node", [...DD, "-node="], "node_name cannot be empty"),
  E("dns port too big", [...DD, "-dns-port=70000"], "ports.dns cannot be 70000. Must be between 1 and 65535"),
  E(
    "bad domain",
    [...DD, "-domain=a..b"],
    'domain cannot be "a..b": it must be a DNS name such as "consul."',
  ),
  E("bind not an IP", [...DD, "-bind=host"], 'bind_addr cannot be "host". Must be an IP address'),
  E(
    "bind template",
    [...DD, "-bind={{ GetPrivateIP }}"],
    'bind_addr cannot be "{{ GetPrivateIP }}". Must be an IP address (go-sockaddr templates are not supported)',
  ),
  E("bind bad IPv4", [...DD, "-bind=1.2.3.256"], 'bind_addr cannot be "1.2.3.256". Must be an IP address'),
  E("bind bad IPv6", [...DD, "-bind=1:::2"], 'bind_addr cannot be "1:::2". Must be an IP address'),
  E("client not an IP", [...DD, "-client=a b"], 'client_addr cannot be "a b". Must be an IP address'),
  E("advertise any v4", [...DD, "-advertise=0.0.0.0"], "Advertise address cannot be 0.0.0.0, :: or [::]"),
  E("advertise any v6", [...DD, "-advertise=::"], "Advertise address cannot be 0.0.0.0, :: or [::]"),
  E("advertise any [::]", [...DD, "-advertise=[::]"], "Advertise address cannot be 0.0.0.0, :: or [::]"),
  E("advertise not IP", [...DD, "-advertise=x"], 'advertise_addr cannot be "x". Must be an IP address'),
  E("http port 0", [...DD, "-http-port=0"], "ports.http cannot be 0. Must be between 1 and 65535"),
  E(
    "server port too big",
    [...DD, "-server-port=65536"],
    "ports.server cannot be 65536. Must be between 1 and 65535",
  ),
  E(
    "negative expect",
    [...DD, "-server", "-bootstrap-expect=-1"],
    "bootstrap_expect cannot be -1. Must be greater than or equal to zero",
  ),
  E(
    "expect without server",
    [...DD, "-bootstrap-expect=3"],
    "'bootstrap_expect > 0' requires 'server = true'",
  ),
  E("bootstrap without server", [...DD, "-bootstrap"], "'bootstrap = true' requires 'server = true'"),
  E("expect in dev", ["-dev", "-bootstrap-expect=3"], "'bootstrap_expect > 0' not allowed in dev mode"),
  E(
    "expect with bootstrap",
    [...DD, "-server", "-bootstrap", "-bootstrap-expect=3"],
    "'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive",
  ),
  E(
    "bad log level",
    [...DD, "-log-level=verbose"],
    'log_level cannot be "verbose". Use one of: trace, debug, info, warn, error',
  ),
  E("join empty", [...DD, "-retry-join="], 'retry_join cannot be "": expected host[:port]'),
  E(
    "join bad port",
    [...DD, "-retry-join=h:x"],
    'retry_join cannot be "h:x": port must be between 1 and 65535',
  ),
  E(
    "join port 0",
    [...DD, "-retry-join=h:0"],
    'retry_join cannot be "h:0": port must be between 1 and 65535',
  ),
  E(
    "join empty port",
    [...DD, "-retry-join=[::1]:"],
    'retry_join cannot be "[::1]:": port must be between 1 and 65535',
  ),
  E("join no host", [...DD, "-retry-join=:8300"], 'retry_join cannot be ":8300": expected host[:port]'),
  E(
    "join cloud",
    [...DD, "-retry-join=provider=aws tag_key=x"],
    'retry_join cannot be "provider=aws tag_key=x": cloud auto-join is not supported; give host[:port]',
  ),
  E(
    "raft election",
    F,
    "raft.election_timeout_ms cannot be 0. Must be between 1 and 60000",
    file('{"data_dir":"/d","raft":{"election_timeout_ms":0}}'),
  ),
  E(
    "raft heartbeat",
    F,
    "raft.heartbeat_interval_ms cannot be 1000. Must be at least 1 and less than raft.election_timeout_ms (1000)",
    file('{"data_dir":"/d","raft":{"heartbeat_interval_ms":1000}}'),
  ),
  E(
    "raft threshold",
    F,
    "raft.snapshot_threshold cannot be 0. Must be at least 1",
    file('{"data_dir":"/d","raft":{"snapshot_threshold":0}}'),
  ),
];

describe("parseAgentArgs", () => {
  for (const c of ok) it(c.name, () => check(c));
  describe("rejects", () => {
    for (const c of bad) it(c.name, () => check(c));
  });

  it("flag syntax errors ask for the usage; validation errors do not", () => {
    const usageOf = (argv: string[]) => {
      try {
        parseAgentArgs(argv, {}, fakeHost({}));
      } catch (e) {
        if (e instanceof AgentConfigError) return e.showUsage;
      }
      return undefined;
    };
    assert.equal(usageOf(["-nope"]), true);
    assert.equal(usageOf(["-server"]), false);
  });

  it("-h and -help ask for help", () => {
    for (const h of ["-h", "-help", "--help"]) {
      assert.throws(() => parseAgentArgs([h], {}, fakeHost({})), HelpRequested);
    }
  });

  it("help lists every flag", () => {
    const text = agentUsage();
    assert.match(text, /^Usage: cairn agent \[options\]/);
    for (const name of [
      "server",
      "dev",
      "bootstrap-expect=<int>",
      "retry-join=<host\\[:port\\]>",
      "data-dir=<string>",
    ]) {
      assert.match(text, new RegExp(`\\n  -${name}\\n`));
    }
  });

  it("parseJoin keeps DNS names", () => {
    assert.deepEqual(parseJoin("consul.service.internal:8300"), {
      host: "consul.service.internal",
      port: 8300,
    });
  });
});
