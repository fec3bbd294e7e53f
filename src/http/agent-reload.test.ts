import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { readDefinitions } from "../local/config.js";
import { manualLocalState } from "../local/test-util.js";
import { call, text } from "./test-util.js";

describe("PUT /v1/agent/reload", () => {
  it("applies the config files again: gone definitions removed, new ones added, API registrations kept", async () => {
    let doc: Record<string, unknown> = {
      services: [
        { name: "web", port: 80 },
        { name: "cache", port: 6379, check: { ttl: "30s" } },
      ],
    };
    let fail = false;
    const local = manualLocalState({
      reloadConfig: async () => {
        if (fail) throw new Error("Failed to reload configs: bad.json: invalid JSON");
        return readDefinitions(doc);
      },
    });
    const server = new MemoryServer();
    for (const s of readDefinitions(doc).services) await local.addService(s, { persist: false });
    const reg = await call(server, "PUT", "/v1/agent/service/register", '{"Name":"api1"}', local);
    assert.equal(reg.status, 200, text(reg));

    doc = {
      services: [
        { name: "cache", port: 6380 },
        { name: "db", port: 5432 },
      ],
      checks: [{ id: "disk", name: "disk", ttl: "1m" }],
    };
    const res = await call(server, "PUT", "/v1/agent/reload", undefined, local);
    assert.deepEqual([res.status, text(res)], [200, ""]);
    assert.deepEqual(
      local
        .services()
        .map((s) => [s.ID, s.Port])
        .sort(),
      [
        ["api1", 0],
        ["cache", 6380],
        ["db", 5432],
      ],
    );
    // The cache's embedded check went with its old definition; the node check is new.
    assert.deepEqual(
      local.checks().map((c) => c.CheckID),
      ["disk"],
    );

    fail = true;
    const bad = await call(server, "PUT", "/v1/agent/reload", undefined, local);
    assert.deepEqual([bad.status, text(bad)], [500, "Failed to reload configs: bad.json: invalid JSON"]);
    assert.equal(local.services().length, 3, "a failed reload changes nothing");
  });

  it("says so when the agent has no configuration to reload", async () => {
    const local = manualLocalState();
    const res = await call(new MemoryServer(), "PUT", "/v1/agent/reload", undefined, local);
    assert.deepEqual([res.status, text(res)], [500, "This agent has no configuration files to reload"]);
  });
});
