/**
 * What Consul compares case-insensitively and what it does not, one row per state-store index, with the
 * Consul source each row follows (hashicorp/consul agent/consul/state/; names.ts in src/fsm says the rule).
 * Every row runs against the real handlers over a MemoryServer; the DNS rows through the DNS answerer.
 */
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { DnsAnswerer } from "../dns/answer.js";
import { DNS_DEFAULTS } from "../dns/config.js";
import { decodeArchiveLines } from "../snapshot/index.js";
import { call, text } from "./test-util.js";

async function ok(api: MemoryServer, method: string, path: string, body?: object): Promise<unknown> {
  const res = await call(api, method, path, body === undefined ? undefined : JSON.stringify(body));
  assert.equal(res.status, 200, `${method} ${path}: ${text(res)}`);
  return JSON.parse(text(res)) as unknown;
}

/** Node `Web-Node` (with serfHealth) running service `web` as instance `Web1`, with a check on it. */
async function seeded(): Promise<MemoryServer> {
  const api = new MemoryServer();
  await ok(api, "PUT", "/v1/catalog/register", {
    Node: "Web-Node",
    Address: "10.0.0.7",
    NodeMeta: { rack: "a" },
    Service: { ID: "Web1", Service: "web", Port: 80 },
    Checks: [
      { CheckID: "serfHealth", Name: "Serf Health Status", Status: "passing" },
      { CheckID: "Web1-Alive", Name: "alive", Status: "passing", ServiceID: "Web1" },
    ],
  });
  return api;
}

/** Registers a service or check on node Web-Node, as its agent would. */
const onWebNode = (api: MemoryServer, what: object): Promise<unknown> =>
  ok(api, "PUT", "/v1/catalog/register", { Node: "Web-Node", Address: "10.0.0.7", ...what });

const names = (v: unknown, field: string): string[] =>
  (v as Record<string, unknown>[]).map((x) => String(x[field]));

interface Row {
  /** What Consul does. */
  readonly rule: string;
  /** The Consul source that decides it (hashicorp/consul, agent/consul/state/ unless said). */
  readonly source: string;
  readonly check: (api: MemoryServer) => Promise<void>;
}

const ROWS: readonly Row[] = [
  {
    rule: "a node is found by its name in any case: /v1/catalog/node/<NAME>",
    source: "catalog_schema.go nodesTableSchema id: indexFromNode (strings.ToLower(n.Node))",
    check: async (api) => {
      const got = (await ok(api, "GET", "/v1/catalog/node/WEB-NODE")) as { Node: { Node: string } };
      assert.equal(got.Node.Node, "Web-Node", "the row keeps its spelling");
    },
  },
  {
    rule: "registering `web-node` updates node `Web-Node`: one node, now spelled as last written",
    source: "catalog.go ensureNodeTxn: lookup by nodes id (indexFromNode), then Insert replaces the row",
    check: async (api) => {
      await ok(api, "PUT", "/v1/catalog/register", { Node: "web-node", Address: "10.0.0.8" });
      const nodes = await ok(api, "GET", "/v1/catalog/nodes");
      assert.deepEqual(names(nodes, "Node"), ["web-node"]);
      assert.deepEqual(names(nodes, "Address"), ["10.0.0.8"]);
      const svc = (await ok(api, "GET", "/v1/catalog/node/Web-Node")) as {
        Services: Record<string, unknown>;
      };
      assert.deepEqual(Object.keys(svc.Services), ["Web1"], "its services stay with it");
    },
  },
  {
    rule: "a service is found by its name in any case: /v1/catalog/service/<NAME>, /v1/health/service/<NAME>",
    source: "catalog_schema.go servicesTableSchema service: indexServiceNameFromServiceNode",
    check: async (api) => {
      assert.deepEqual(names(await ok(api, "GET", "/v1/catalog/service/WEB"), "ServiceID"), ["Web1"]);
      const health = (await ok(api, "GET", "/v1/health/service/wEb?passing")) as {
        Service: { ID: string };
      }[];
      assert.deepEqual(
        health.map((e) => e.Service.ID),
        ["Web1"],
      );
    },
  },
  {
    rule: "a service ID is unique per node in any case: registering `web1` replaces `Web1`",
    source: "catalog_schema.go servicesTableSchema id: indexFromServiceNode (node and ServiceID lowercased)",
    check: async (api) => {
      await onWebNode(api, { Service: { ID: "web1", Service: "web", Port: 81 } });
      const got = (await ok(api, "GET", "/v1/catalog/service/web")) as {
        ServiceID: string;
        ServicePort: number;
      }[];
      assert.deepEqual(
        got.map((s) => [s.ServiceID, s.ServicePort]),
        [["web1", 81]],
      );
      // The instance's check (ServiceID "Web1") still belongs to it.
      assert.deepEqual(names(await ok(api, "GET", "/v1/health/checks/web"), "CheckID"), ["Web1-Alive"]);
    },
  },
  {
    rule: "checks are found by their node in any case: /v1/health/node/<NAME>",
    source: "catalog_schema.go checksTableSchema node: indexFromNodeIdentity",
    check: async (api) => {
      assert.deepEqual(names(await ok(api, "GET", "/v1/health/node/WEB-node"), "CheckID"), [
        "serfHealth",
        "Web1-Alive",
      ]);
    },
  },
  {
    rule: "a check ID is unique per node in any case: registering `SERFHEALTH` replaces `serfHealth`",
    source: "catalog_schema.go checksTableSchema id: indexFromHealthCheck (node and CheckID lowercased)",
    check: async (api) => {
      await onWebNode(api, {
        Check: { CheckID: "SERFHEALTH", Name: "Serf Health Status", Status: "warning" },
      });
      const checks = (await ok(api, "GET", "/v1/health/node/Web-Node")) as {
        CheckID: string;
        Status: string;
      }[];
      assert.deepEqual(
        checks.map((c) => [c.CheckID, c.Status]),
        [
          ["SERFHEALTH", "warning"],
          ["Web1-Alive", "passing"],
        ],
      );
    },
  },
  {
    rule: "a check names its service ID in any case; deregistering the service in another case takes it along",
    source: "catalog_schema.go checksTableSchema node_service: indexNodeServiceFromHealthCheck",
    check: async (api) => {
      await onWebNode(api, {
        Check: { CheckID: "second", Name: "second", Status: "passing", ServiceID: "WEB1" },
      });
      assert.deepEqual(names(await ok(api, "GET", "/v1/health/checks/web"), "CheckID"), [
        "second",
        "Web1-Alive",
      ]);
      await ok(api, "PUT", "/v1/catalog/deregister", { Node: "WEB-NODE", ServiceID: "wEB1" });
      assert.deepEqual(await ok(api, "GET", "/v1/catalog/service/web"), []);
      assert.deepEqual(names(await ok(api, "GET", "/v1/health/node/Web-Node"), "CheckID"), ["serfHealth"]);
    },
  },
  {
    rule: "a session names its node in any case, and is listed by its node in any case",
    source: "session.go sessionCreateTxn (nodes id) and sessionsTableSchema node: indexNodeFromSession",
    check: async (api) => {
      const { ID } = (await ok(api, "PUT", "/v1/session/create", { Node: "WEB-NODE" })) as { ID: string };
      assert.deepEqual(names(await ok(api, "GET", "/v1/session/node/web-node"), "ID"), [ID]);
      // Deregistering the node in yet another case ends the session.
      await ok(api, "PUT", "/v1/catalog/deregister", { Node: "web-NODE" });
      assert.deepEqual(await ok(api, "GET", "/v1/session/list"), []);
      assert.deepEqual(await ok(api, "GET", "/v1/catalog/nodes"), []);
    },
  },
  {
    rule: "KV keys are case-sensitive: `Key` and `key` are two keys",
    source: "kvs_ce.go kvsIndexer: indexFromIDValue (no lowercasing)",
    check: async (api) => {
      await ok(api, "PUT", "/v1/kv/Config/Key", undefined);
      assert.equal((await call(api, "GET", "/v1/kv/config/key")).status, 404);
      assert.equal((await call(api, "GET", "/v1/kv/Config/Key")).status, 200);
    },
  },
  {
    rule: "node meta is case-sensitive: ?node-meta=Rack:a does not match rack=a",
    source: 'catalog_schema.go indexMetaFromNode ("NOTE: this is case-sensitive!")',
    check: async (api) => {
      assert.deepEqual(await ok(api, "GET", "/v1/catalog/nodes?node-meta=Rack:a"), []);
      assert.deepEqual(await ok(api, "GET", "/v1/catalog/nodes?node-meta=rack:A"), []);
      assert.deepEqual(names(await ok(api, "GET", "/v1/catalog/nodes?node-meta=rack:a"), "Node"), [
        "Web-Node",
      ]);
    },
  },
  {
    rule: "/v1/catalog/services keys services by the names as written: `Web` and `web` are two keys",
    source: "catalog.go Services: a map keyed by each row's ServiceName",
    check: async (api) => {
      await onWebNode(api, { Service: { ID: "Web2", Service: "Web", Port: 82 } });
      const services = (await ok(api, "GET", "/v1/catalog/services")) as Record<string, unknown>;
      assert.deepEqual(Object.keys(services).sort(), ["Web", "web"]);
      // ...while a lookup by name finds both spellings.
      assert.deepEqual(names(await ok(api, "GET", "/v1/catalog/service/WEB"), "ServiceID").sort(), [
        "Web1",
        "Web2",
      ]);
    },
  },
  {
    rule: "DNS: `<node>.node` and `<service>.service` find mixed-case names (DNS names are case-insensitive)",
    source: "agent/dns.go (lowercases the query) over the folded indexes above; RFC 4343",
    check: async (api) => {
      const dns = new DnsAnswerer(
        api,
        DNS_DEFAULTS,
        () => 0,
        () => {},
      );
      const node = await dns.answer({ name: "WEB-NODE.node.consul", type: "A" });
      assert.deepEqual(
        [node.rcode, node.answers.map((a) => (a as { data?: unknown }).data)],
        ["NOERROR", ["10.0.0.7"]],
      );
      const svc = await dns.answer({ name: "Web.service.consul", type: "A" });
      assert.deepEqual(
        [svc.rcode, svc.answers.map((a) => (a as { data?: unknown }).data)],
        ["NOERROR", ["10.0.0.7"]],
      );
    },
  },
];

describe("names as Consul's state store compares them", () => {
  for (const row of ROWS) it(`${row.rule} [${row.source}]`, async () => row.check(await seeded()));

  it("an archive keeps every row's spelling; restored, the same lookups answer, and it saves again record for record", async () => {
    const api = await seeded();
    await onWebNode(api, { Service: { ID: "Web2", Service: "WEB", Port: 82 } });
    const records = async (from: MemoryServer): Promise<string[]> => {
      const { archive } = await from.snapshotSave(false);
      const dir = await mkdtemp(join(tmpdir(), "cairn-names-case-"));
      try {
        const file = join(dir, "a.snap");
        const chunks: Buffer[] = [];
        for await (const c of archive) chunks.push(Buffer.from(c));
        await writeFile(file, Buffer.concat(chunks));
        const lines: string[] = [];
        for await (const line of decodeArchiveLines(createReadStream(file), {
          tmpDir: dir,
          showSecrets: true,
        }))
          lines.push(line);
        return lines.slice(1); // the header holds the archive's own ID and time
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
    const before = await records(api);
    const registers = before.filter((l) => l.endsWith('"Type":"Register"}')).join("\n");
    for (const spelling of [
      '"Node":"Web-Node"',
      '"ID":"Web1"',
      '"ID":"Web2"',
      '"Service":"WEB"',
      '"CheckID":"Web1-Alive"',
    ])
      assert.ok(registers.includes(spelling), spelling);
    const restored = new MemoryServer();
    const { archive } = await api.snapshotSave(false);
    await restored.snapshotRestore(archive);
    assert.deepEqual(names(await ok(restored, "GET", "/v1/catalog/service/web"), "ServiceID"), [
      "Web1",
      "Web2",
    ]);
    assert.equal(
      ((await ok(restored, "GET", "/v1/catalog/node/web-node")) as { Node: { Node: string } }).Node.Node,
      "Web-Node",
    );
    assert.deepEqual(await records(restored), before);
  });

  it("the service index is one value across spellings, as Consul's one folded index row", async () => {
    const api = await seeded();
    await onWebNode(api, { Service: { ID: "Web2", Service: "WEB", Port: 82 } });
    const index = async (path: string) => (await call(api, "GET", path)).headers["X-Consul-Index"];
    const latest = await index("/v1/catalog/service/web");
    assert.equal(await index("/v1/catalog/service/WEB"), latest);
    assert.equal(await index("/v1/catalog/service/Web"), latest, "a spelling no instance has");
  });
});
