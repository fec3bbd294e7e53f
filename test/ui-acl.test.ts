/**
 * The web UI's ACL token field in Chromium, against a real server with ACLs on (default deny): without a token
 * a key's page, the overview and "take a snapshot" show the agent's 403 text as it came, and the services list
 * is filtered to none; with the management token they work,
 * and the token is kept in sessionStorage only.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { type Agent, Cluster, waitFor } from "./cluster.js";
import { axeViolations, Browser, chromiumMissing, screenshot } from "./support/browser.js";

const MANAGEMENT = "5d3c8a1e-0b7f-4c2d-9e61-2f4a7b9c0d13";

describe("the web UI's ACL token", { skip: chromiumMissing() ?? false }, () => {
  let cluster: Cluster;
  let configDir = "";
  let agent: Agent;
  let browser: Browser;
  let page: Page;

  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), "cairn-ui-acl-"));
    const config = join(configDir, "acl.json");
    const acl = { enabled: true, default_policy: "deny", tokens: { initial_management: MANAGEMENT } };
    writeFileSync(config, JSON.stringify({ acl }), { mode: 0o600 });
    cluster = await Cluster.start(1, 1, ["-config-file", config]);
    // Cluster.leader() reads /v1/agent/self without a token, which ACLs refuse: a working write is the sign.
    agent = cluster.agents[0]!;
    await waitFor("the management token to work", 20_000, async () => {
      const r = await fetch(`${agent.http}/v1/kv/app/config`, {
        method: "PUT",
        body: "v1",
        headers: { "X-Consul-Token": MANAGEMENT },
      }).catch(() => null); // not listening yet
      return r?.status === 200 ? true : undefined;
    });
    browser = await Browser.launch();
    page = await browser.page();
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  it("without a token: the listing is filtered, and a key's page shows the agent's 403 text as it came", async () => {
    // As in Consul, a key listing is filtered to what the token may read rather than refused.
    await page.goto(`${agent.http}/ui/#/kv/`);
    await page.getByText("No keys here.").waitFor();
    assert.equal(await page.getByRole("link", { name: "app/ (folder)" }).count(), 0);

    const denied = await fetch(`${agent.http}/v1/kv/app/config`);
    assert.equal(denied.status, 403);
    const reason = (await denied.text()).trim();
    assert.match(reason, /Permission denied/);
    await page.goto(`${agent.http}/ui/#/kv/app/config`);
    await page.getByRole("alert").filter({ hasText: reason }).waitFor();

    await page.goto(`${agent.http}/ui/#/`);
    await page.getByRole("alert").filter({ hasText: "Permission denied" }).waitFor();
    await screenshot(page, "acl-denied");
  });

  it("without a token: the services are filtered to none, and taking a snapshot shows the 403 text", async () => {
    await page.goto(`${agent.http}/ui/#/services/`);
    await page.getByText("No services are registered (or the token may read none).").waitFor();
    const denied = await fetch(`${agent.http}/v1/snapshot`);
    assert.equal(denied.status, 403);
    const reason = (await denied.text()).trim();
    await page.goto(`${agent.http}/ui/#/snapshots`);
    await page.getByRole("button", { name: "Take a snapshot" }).click();
    await page.getByRole("alert").filter({ hasText: reason }).waitFor();
    assert.equal(await page.getByRole("link", { name: /^Save / }).count(), 0);
  });

  it("with the management token: the keys and the servers; kept in sessionStorage only; Clear forgets it", async () => {
    await page.goto(`${agent.http}/ui/#/kv/`);
    await page.getByLabel("ACL token").fill(MANAGEMENT);
    await page.getByRole("button", { name: "Use token" }).click();
    await page.getByRole("link", { name: "app/ (folder)" }).waitFor();
    assert.equal(await page.getByRole("alert").count(), 0);
    const stored = await page.evaluate(
      "JSON.stringify({ s: sessionStorage.getItem('cairn.acl-token'), l: localStorage.length, c: document.cookie })",
    );
    assert.deepEqual(JSON.parse(String(stored)), { s: MANAGEMENT, l: 0, c: "" });
    assert.deepEqual(await axeViolations(page), []);

    // A write with the token goes through.
    await page.getByLabel("Name").fill("app/from-ui");
    await page.getByLabel("Value").fill("written with a token");
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { name: "Key: app/from-ui" }).waitFor();
    const r = await fetch(`${agent.http}/v1/kv/app/from-ui?raw`, {
      headers: { "X-Consul-Token": MANAGEMENT },
    });
    assert.equal(await r.text(), "written with a token");

    await page.goto(`${agent.http}/ui/#/services/`);
    await page.locator('tr[data-service="consul"]').waitFor();
    await page.goto(`${agent.http}/ui/#/`);
    await page.locator("tr[data-server]").first().waitFor();
    await screenshot(page, "acl-overview-with-token");

    await page.getByRole("button", { name: "Clear" }).click();
    await page.getByRole("alert").filter({ hasText: "Permission denied" }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('cairn.acl-token')"), null);
  });
});
