/**
 * The overview's client agents in Chromium (docs/ui.md), as real processes with ACLs on (default deny): one
 * server and two client agents. With a token that reads nodes, services and the operator, the page lists both
 * clients alive with address and services count, and not the server; the page served by a client lists the same;
 * a client killed with -9 turns failed with a warning, without a reload; a token that reads nodes only still
 * lists the clients (and not the server, whose `consul` service it cannot see). axe, 1280 and 390 px shots.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { type Agent, Cluster, waitFor } from "./cluster.js";
import { axeViolations, Browser, chromiumMissing, phoneScreenshot, screenshot } from "./support/browser.js";

const MANAGEMENT = "3b8f2d61-4c7a-4e19-8d05-a6c2e9f17b44";
/** The leader fails a client after 5 s without a heartbeat; the page must show it well within this. */
const FAILED_MS = 30_000;

async function call(a: Agent, method: string, path: string, body?: string): Promise<string> {
  const init: RequestInit = {
    method,
    headers: { "X-Consul-Token": MANAGEMENT },
    signal: AbortSignal.timeout(20_000),
  };
  if (body !== undefined) init.body = body;
  const r = await fetch(a.http + path, init);
  const text = await r.text();
  assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${text}`);
  return text;
}

/** A token with one policy of `rules`; returns its secret. */
async function tokenWith(a: Agent, name: string, rules: string): Promise<string> {
  await call(a, "PUT", "/v1/acl/policy", JSON.stringify({ Name: name, Rules: rules }));
  const t = JSON.parse(await call(a, "PUT", "/v1/acl/token", JSON.stringify({ Policies: [{ Name: name }] })));
  return (t as { SecretID: string }).SecretID;
}

async function useToken(page: Page, token: string): Promise<void> {
  await page.getByLabel("ACL token").fill(token);
  await page.getByRole("button", { name: "Use token" }).click();
}

function clientRow(page: Page, name: string, state: "alive" | "failed") {
  return page.locator(`tr[data-client="${name}"][data-state="${state}"]`);
}

describe("the overview's client agents in Chromium", {
  skip: chromiumMissing() ?? false,
  timeout: 300_000,
}, () => {
  let cluster: Cluster;
  let configDir = "";
  let server: Agent;
  let c1: Agent;
  let c2: Agent;
  let browser: Browser;
  let page: Page;
  let readAll = "";
  let readNodes = "";
  /** Where the browser's request log stood when the page took the node-only token (its last view). */
  let nodeTokenFrom = 0;
  const shots: string[] = [];

  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), "cairn-ui-clients-"));
    const config = join(configDir, "acl.json");
    const acl = {
      enabled: true,
      default_policy: "deny",
      tokens: { initial_management: MANAGEMENT, agent: MANAGEMENT },
    };
    writeFileSync(config, JSON.stringify({ acl }), { mode: 0o600 });
    cluster = await Cluster.start(1, 1, ["-config-file", config]);
    server = cluster.agents[0] as Agent;
    // /v1/agent/self needs a token here: a working write with the management token is the sign of a leader.
    await waitFor("the management token to work", 30_000, async () => {
      const r = await fetch(`${server.http}/v1/kv/ready`, {
        method: "PUT",
        body: "x",
        headers: { "X-Consul-Token": MANAGEMENT },
      }).catch(() => null); // not listening yet
      return r?.status === 200 ? true : undefined;
    });
    c1 = await cluster.addClient("c1");
    c2 = await cluster.addClient("c2");
    for (const c of [c1, c2]) {
      await waitFor(`${c.name} alive in the catalog`, 30_000, async () => {
        const text = await call(server, "GET", `/v1/health/node/${c.name}`).catch(() => "");
        return text.includes('"serfHealth"') && text.includes('"passing"') ? true : undefined;
      });
    }
    // c1 runs one service, registered through its own API and brought to the catalog by its anti-entropy.
    await waitFor("c1's agent API", 20_000, async () =>
      (await call(c1, "PUT", "/v1/agent/service/register", JSON.stringify({ Name: "web", Port: 8080 })).catch(
        () => undefined,
      )) === undefined
        ? undefined
        : true,
    );
    await waitFor("web in the catalog", 20_000, async () =>
      (await call(server, "GET", "/v1/catalog/service/web")).includes('"c1"') ? true : undefined,
    );
    readAll = await tokenWith(
      server,
      "overview",
      'node_prefix "" { policy = "read" }\nservice_prefix "" { policy = "read" }\noperator = "read"',
    );
    readNodes = await tokenWith(server, "nodes", 'node_prefix "" { policy = "read" }');
    browser = await Browser.launch();
    page = await browser.page();
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
    if (configDir !== "") rmSync(configDir, { recursive: true, force: true });
    if (shots.length > 0)
      process.stdout.write(`# screenshots:\n${shots.map((s) => `#   ${s}`).join("\n")}\n`);
  });

  it("served by a server: both clients alive, with address and services count; the server is not one", async () => {
    await page.goto(`${server.http}/ui/#/`);
    await useToken(page, readAll);
    await clientRow(page, "c1", "alive").waitFor();
    await clientRow(page, "c2", "alive").waitFor();
    assert.equal(await page.locator("tr[data-client]").count(), 2);
    assert.equal(await page.locator(`tr[data-client="${server.name}"]`).count(), 0);
    await page.locator(`tr[data-server="${server.name}"]`).waitFor();
    const cells = async (name: string) =>
      (await clientRow(page, name, "alive").locator("th, td").allTextContents()).map((t) => t.trim());
    // c1's anti-entropy may still be on its way with web: the count follows without a reload.
    await waitFor("c1's service counted", 20_000, async () =>
      (await cells("c1"))[4] === "1" ? true : undefined,
    );
    assert.deepEqual(await cells("c1"), ["c1", "127.0.0.1", "alive", "Agent alive and reachable", "1"]);
    assert.deepEqual(await cells("c2"), ["c2", "127.0.0.1", "alive", "Agent alive and reachable", "0"]);
    assert.equal(await page.locator(".alert").count(), 0, "no warning or error on a healthy datacenter");
    assert.deepEqual(await axeViolations(page), []);
    shots.push(await screenshot(page, "overview-clients-1280"));
    shots.push(await phoneScreenshot(page, "overview-clients-390"));
  });

  it("a service registered later is counted without a reload", async () => {
    await call(c2, "PUT", "/v1/agent/service/register", JSON.stringify({ Name: "db", Port: 5432 }));
    await waitFor("c2's service counted", 20_000, async () => {
      const text = await clientRow(page, "c2", "alive").locator("td.num").textContent();
      return text?.trim() === "1" ? true : undefined;
    });
  });

  it("served by a client: the same clients; killed with -9, one turns failed with a warning", async () => {
    await page.goto(`${c1.http}/ui/#/`);
    await useToken(page, readAll);
    await clientRow(page, "c1", "alive").waitFor();
    await clientRow(page, "c2", "alive").waitFor();
    await page.locator(`tr[data-server="${server.name}"]`).waitFor();
    assert.equal(await page.locator("tr[data-client]").count(), 2);
    cluster.kill9(c2);
    await clientRow(page, "c2", "failed").waitFor({ timeout: FAILED_MS });
    const warning = page.getByRole("alert").filter({ hasText: "Client agent c2 has failed" });
    await warning.waitFor();
    assert.match(
      (await clientRow(page, "c2", "failed").textContent()) ?? "",
      /failed\s*Agent not live or unreachable/,
    );
    await clientRow(page, "c1", "alive").waitFor();
    assert.deepEqual(await axeViolations(page), []);
    shots.push(await screenshot(page, "overview-client-failed-1280"));
    shots.push(await phoneScreenshot(page, "overview-client-failed-390"));
  });

  it("a token that reads nodes only: the clients are listed, the server is not", async () => {
    await page.goto(`${c1.http}/ui/#/`);
    nodeTokenFrom = browser.requests.length;
    await useToken(page, readNodes);
    await clientRow(page, "c1", "alive").waitFor();
    await clientRow(page, "c2", "failed").waitFor();
    // Services the token may not read are not counted; the server's `consul` service among them.
    assert.equal((await clientRow(page, "c1", "alive").locator("td.num").textContent())?.trim(), "0");
    assert.equal(await page.locator("tr[data-client]").count(), 2);
    // The servers' table needs operator:read: the agent's refusal is shown as it came.
    await page.getByRole("alert").filter({ hasText: "Permission denied" }).waitFor();
    shots.push(await screenshot(page, "overview-clients-node-token"));
  });

  it("follows with blocking queries: the checks and the services are read with index and wait", () => {
    const blocking = (path: string) =>
      browser.requests.filter((u) => {
        const url = new URL(u);
        return (
          url.pathname === path && Number(url.searchParams.get("index")) > 0 && url.searchParams.has("wait")
        );
      });
    assert.ok(blocking("/v1/health/state/any").length > 0, "serfHealth checks followed with index and wait");
    assert.ok(
      blocking("/v1/health/state/any").every(
        (u) => new URL(u).searchParams.get("filter") === 'CheckID == "serfHealth"',
      ),
    );
    assert.ok(blocking("/v1/catalog/services").length > 0, "services followed with index and wait");
  });

  it("nothing moving, a blocking round that ends at its wait reads no node and no members", async () => {
    const path = (u: string) => new URL(u).pathname;
    // Two checks rounds in a row with the same index: the first ended at its wait (30 s) with nothing changed.
    // The page has followed since the last test set its token; a round in flight then may take a whole wait
    // before the next begins, so the bound is two waits and Consul's jitter.
    const [from, to] = await waitFor("a checks round to end unchanged", 75_000, () => {
      const rounds = browser.requests
        .map((u, i) => ({ index: new URL(u).searchParams.get("index"), i, u }))
        .filter((r) => r.i >= nodeTokenFrom && path(r.u) === "/v1/health/state/any");
      for (let k = 1; k < rounds.length; k++) {
        const [a, b] = [rounds[k - 1], rounds[k]];
        if (a !== undefined && b !== undefined && a.index !== null && a.index === b.index)
          return [a.i, b.i] as const;
      }
      return undefined;
    });
    const reads = browser.requests
      .slice(from, to)
      .filter((u) => path(u).startsWith("/v1/catalog/node/") || path(u) === "/v1/agent/members");
    assert.deepEqual(reads, []);
  });

  it("the section's rules: servers left out either way, anything but passing is failed, the warning", async () => {
    // The view's own functions, run in the page (they import lit-html, which needs a DOM).
    const out = await page.evaluate(async () => {
      const url = "/ui/views/overview-clients.js";
      const m = await import(url);
      const check = (node: string, status: string) => ({
        Node: node,
        CheckID: "serfHealth",
        Status: status,
        Output: `${node} ${status}`,
      });
      const entry = (node: string, services: string[]) => ({
        Node: { Node: node, Address: `10.0.0.${node.length}` },
        Services: Object.fromEntries(services.map((s) => [s, { ID: s, Service: s }])),
      });
      const checks = [
        check("s1", "passing"),
        check("s2", "passing"),
        check("b", "warning"),
        check("a", "passing"),
        check("gone", "passing"),
        check("unread", "passing"),
        { Node: "a", CheckID: "web-check", Status: "critical", Output: "" },
      ];
      const nodes = new Map<string, unknown>([
        ["s1", entry("s1", ["consul"])],
        ["s2", entry("s2", [])],
        ["a", entry("a", ["web", "db"])],
        ["b", entry("b", [])],
        ["gone", null],
      ]);
      const rows = m.clientRows(checks, nodes, new Set(["s2"]));
      const many = Array.from({ length: 7 }, (_, i) => ({ name: `c${i}`, alive: false }));
      return {
        rows,
        none: m.clientWarning([{ name: "a", alive: true }]),
        one: m.clientWarning(rows),
        many: m.clientWarning(many),
      };
    });
    assert.deepEqual(out.rows, [
      { name: "a", address: "10.0.0.1", alive: true, output: "a passing", services: 2 },
      { name: "b", address: "10.0.0.1", alive: false, output: "b warning", services: 0 },
    ]);
    assert.equal(out.none, null);
    assert.match(out.one, /^Client agent b has failed/);
    assert.equal(
      out.many,
      "7 client agents have failed: c0, c1, c2, c3, c4 and 2 more (their serfHealth is critical).",
    );
  });

  it("no request left the machine", () => {
    assert.deepEqual(browser.offMachine(), []);
  });
});
