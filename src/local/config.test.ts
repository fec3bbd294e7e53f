import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AgentConfigError, type AgentHost, parseAgentArgs } from "../agent/config.js";

function host(files: Record<string, string>): AgentHost {
  return {
    readFile: (p) => {
      const t = files[p];
      if (t === undefined) throw new Error(`ENOENT: ${p}`);
      return t;
    },
    readDir: () => Object.keys(files).map((p) => p.slice(p.lastIndexOf("/") + 1)),
    hostname: () => "h",
    networkInterfaces: () => ({}),
    tmpdir: () => "/tmp",
  };
}

const BASE = ["-server", "-bootstrap", "-data-dir=/d", "-bind=127.0.0.1"];

describe("service and check definitions in config files", () => {
  it("reads `service` and `services` (object or array) and `check`, accumulating over files", () => {
    const cfg = parseAgentArgs(
      [...BASE, "-config-file=/a.json", "-config-file=/b.json"],
      {},
      host({
        "/a.json": JSON.stringify({ service: { name: "web", port: 80, check: { ttl: "10s" } } }),
        "/b.json": JSON.stringify({
          services: [{ name: "db", id: "db1" }, { name: "cache" }],
          check: { name: "disk", tcp: "127.0.0.1:22", interval: "30s" },
        }),
      }),
    );
    assert.deepEqual(
      cfg.services.map((s) => s.service.ID),
      ["web", "db1", "cache"],
    );
    assert.deepEqual(
      cfg.services[0]?.checks.map((c) => c.CheckID),
      ["service:web"],
    );
    assert.deepEqual(
      cfg.checks.map((c) => [c.CheckID, c.probe.tcp]),
      [["disk", "127.0.0.1:22"]],
    );
  });

  it("refuses a bad definition with the file and Consul's text", () => {
    assert.throws(
      () =>
        parseAgentArgs([...BASE, "-config-file=/a.json"], {}, host({ "/a.json": '{"service":{"port":1}}' })),
      (e) => e instanceof AgentConfigError && e.message === 'config file "/a.json": Missing service name',
    );
    assert.throws(
      () => parseAgentArgs([...BASE, "-config-file=/a.json"], {}, host({ "/a.json": '{"services":[1]}' })),
      AgentConfigError,
    );
  });
});
