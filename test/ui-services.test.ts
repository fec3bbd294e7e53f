/**
 * The services view in a real Chromium against a real 3-server datacenter (docs/ui.md): a service with a passing
 * and a critical instance shows critical at a glance, each instance its node, address:port, tags and checks with
 * their output, and a change made by another client appears without a reload (blocking queries). axe finds no
 * serious violation; screenshots at 1280 and 390 px go to test-artifacts/ui/.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Agent } from "./cluster.js";
import { axeViolations, chromiumMissing, phoneScreenshot, screenshot } from "./support/browser.js";
import { uiWorld } from "./support/ui-world.js";

async function register(a: Agent, body: unknown): Promise<void> {
  const r = await fetch(`${a.http}/v1/catalog/register`, {
    method: "PUT",
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(r.status, 200, await r.text());
}

function instance(node: string, address: string, status: string, output: string): unknown {
  return {
    Node: node,
    Address: address,
    Service: { ID: `web-${node}`, Service: "web", Tags: ["v1", node], Port: 8080 },
    Check: { Name: "http ok", ServiceID: `web-${node}`, Status: status, Output: output },
  };
}

describe("the services view in Chromium", { skip: chromiumMissing() ?? false }, () => {
  const world = uiWorld(3);

  it("lists a service whose worst instance is critical, then its instances and checks", async () => {
    const { cluster, browser, page, shots } = world;
    const home = cluster.agents[0]!;
    await register(home, instance("web-a", "10.0.0.1", "passing", "HTTP 200 OK"));
    await register(home, instance("web-b", "10.0.0.2", "critical", "connection refused"));
    await page.goto(`${home.http}/ui/#/services/`);
    await page.getByRole("heading", { name: "Services" }).waitFor();
    const row = page.locator('tr[data-service="web"]');
    await row.locator(".badge.state", { hasText: "critical" }).waitFor();
    assert.match((await row.textContent()) ?? "", /v1/);
    await page.locator('tr[data-service="consul"]').waitFor();
    shots.push(await screenshot(page, "services-1280"));
    assert.deepEqual(await axeViolations(page), []);

    await row.getByRole("link", { name: "web" }).click();
    await page.getByRole("heading", { name: "Service: web" }).waitFor();
    const a = page.locator('tr[data-instance="web-web-a"]');
    const b = page.locator('tr[data-instance="web-web-b"]');
    await b.waitFor();
    assert.equal(await a.getAttribute("data-state"), "passing");
    assert.equal(await b.getAttribute("data-state"), "critical");
    assert.match((await a.textContent()) ?? "", /web-a\s*10\.0\.0\.1:8080\s*v1, web-a/);
    assert.match((await a.textContent()) ?? "", /http ok\s*HTTP 200 OK/);
    assert.match((await b.textContent()) ?? "", /critical\s*http ok\s*connection refused/);

    // Another client heals b: the page follows (a blocking query), with no reload.
    await register(home, instance("web-b", "10.0.0.2", "passing", "HTTP 200 OK now"));
    await page.locator('tr[data-instance="web-web-b"][data-state="passing"]').waitFor();
    assert.match((await b.textContent()) ?? "", /HTTP 200 OK now/);
    assert.deepEqual(await axeViolations(page), []);
    shots.push(await phoneScreenshot(page, "services-instances-390"));
    assert.deepEqual(browser.offMachine(), []);
  });
});
