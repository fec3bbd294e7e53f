import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { run } from "../../../test/support/cli-harness.js";
import { MemoryServer } from "../../api/memory-server.js";
import { createHttpServer } from "../../http/index.js";
import { LocalState } from "../../local/state.js";
import { ManualTimers } from "../../local/timers.js";

/** The real HTTP API with an agent's local state, on a free port; closed when the test ends. */
async function agent(t: TestContext) {
  const local = new LocalState({
    nodeName: "n1",
    datacenter: "dc1",
    timers: new ManualTimers(),
    persist: null,
  });
  const server = createHttpServer(new MemoryServer(), { bodyBytesMax: 1 << 20, local });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const dir = mkdtempSync(join(tmpdir(), "cairn-services-"));
  t.after(() => {
    local.stop();
    server.close();
    server.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  });
  const env = { CONSUL_HTTP_ADDR: `127.0.0.1:${(server.address() as AddressInfo).port}` };
  return { local, env, dir };
}

describe("cairn services register / deregister", () => {
  it("registers from flags and deregisters by -id, with Consul's outputs", async (t) => {
    const { local, env } = await agent(t);
    const r = await run(
      [
        "services",
        "register",
        "-name=web",
        "-id=web1",
        "-port=80",
        "-tag=a",
        "-tag=b",
        "-meta=k=v=w",
        "-tagged-address=lan=10.0.0.1:81",
      ],
      env,
    );
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "Registered service: web\n", ""]);
    const s = local.service("web1");
    assert.deepEqual(
      [s?.Port, s?.Tags, s?.Meta, s?.TaggedAddresses],
      [80, ["a", "b"], { k: "v=w" }, { lan: { Address: "10.0.0.1", Port: 81 } }],
    );
    const d = await run(["services", "deregister", "-id=web1"], env);
    assert.deepEqual([d.code, d.stdout], [0, "Deregistered service: web1\n"]);
    assert.equal(local.service("web1"), undefined);
  });

  it("registers every service of JSON files and deregisters them by the same files", async (t) => {
    const { local, env, dir } = await agent(t);
    const a = join(dir, "a.json");
    const b = join(dir, "b.json");
    writeFileSync(a, JSON.stringify({ service: { name: "web", check: { ttl: "10s" } } }));
    writeFileSync(b, JSON.stringify({ services: [{ Name: "db", ID: "db1" }, { Name: "cache" }] }));
    const r = await run(["services", "register", a, b], env);
    assert.equal(r.stdout, "Registered service: web\nRegistered service: db\nRegistered service: cache\n");
    assert.deepEqual(
      local.services().map((s) => s.ID),
      ["web", "db1", "cache"],
    );
    assert.equal(local.checks()[0]?.CheckID, "service:web");
    const d = await run(["services", "deregister", a, b], env);
    assert.equal(
      d.stdout,
      "Deregistered service: web\nDeregistered service: db1\nDeregistered service: cache\n",
    );
    assert.deepEqual(local.services(), []);
  });

  it("reports usage and agent errors with Consul's texts and exit 1", async (t) => {
    const { env, dir } = await agent(t);
    const cases: [string[], string][] = [
      [["services", "register"], "Service registration requires at least one argument or flags.\n"],
      [["services", "deregister"], "Service deregistration requires at least one argument or -id.\n"],
      [
        ["services", "deregister", "-id=x", "f.json"],
        "Service deregistration requires arguments or -id, not both.\n",
      ],
      [
        ["services", "deregister", "-id=nope"],
        'Error deregistering service "nope": Unexpected response code: 404 (Unknown service ID "nope")\n',
      ],
      [
        ["services", "register", "-name=x", "-address=0.0.0.0"],
        'Error registering service "x": Unexpected response code: 400 (Invalid service address)\n',
      ],
    ];
    for (const [argv, stderr] of cases) {
      const r = await run(argv, env);
      assert.deepEqual([r.code, r.stderr], [1, stderr], argv.join(" "));
    }
    const empty = join(dir, "empty.json");
    writeFileSync(empty, "{}");
    const r = await run(["services", "register", empty], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: Error loading ".*empty\.json": no "service" or "services" block\n$/);
  });
});
