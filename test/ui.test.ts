/**
 * The web UI in a real Chromium against a real 3-server datacenter (docs/ui.md): the overview follows a kill -9
 * of the leader, loses and regains its own agent, warns without a leader; the KV browser creates, edits (a cas
 * conflict made by another client is shown, not overwritten) and deletes; axe finds no serious violation; no
 * request leaves the machine. Screenshots go to test-artifacts/ui/.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { before, describe, it } from "node:test";
import type { Page, Response } from "playwright-core";
import { type Agent, type Cluster, waitFor } from "./cluster.js";
import {
  axeViolations,
  type Browser,
  chromiumMissing,
  phoneScreenshot,
  screenshot,
} from "./support/browser.js";
import { uiWorld } from "./support/ui-world.js";

const SEEN_MS = 20_000;

async function kvValue(a: Agent, key: string): Promise<string | null> {
  const r = await fetch(`${a.http}/v1/kv/${key}?raw`, { signal: AbortSignal.timeout(10_000) });
  if (r.status === 404) return null;
  assert.equal(r.status, 200, await r.clone().text());
  return r.text();
}

/** The name in the overview's leader row, or undefined while there is none. */
async function leaderShown(page: Page): Promise<string | undefined> {
  const row = page.locator("tr[data-server]", { has: page.locator(".badge.leader") });
  return (await row.count()) === 1 ? ((await row.getAttribute("data-server")) ?? undefined) : undefined;
}

describe("the web UI in Chromium", { skip: chromiumMissing() ?? false }, () => {
  const world = uiWorld(3);
  let cluster: Cluster;
  let browser: Browser;
  let page: Page;
  /** The server the page talks to: a follower at first, so that killing the leader leaves it up. */
  let home: Agent;
  let shots: string[];

  before(async () => {
    ({ cluster, browser, page, shots } = world);
    const leader = await cluster.leader();
    home = cluster.agents.find((a) => a !== leader)!;
  });

  it("/ leads to the overview, which lists the three servers and the leader", async () => {
    // The first view's weight: every /ui/ file a fresh profile fetched for it (docs/ui.md keeps the figure).
    const shipped = new Map<string, number>();
    const onResponse = async (r: Response): Promise<void> => {
      if (new URL(r.url()).pathname.startsWith("/ui/")) shipped.set(r.url(), (await r.body()).length);
    };
    page.on("response", onResponse);
    await page.goto(`${home.http}/`);
    assert.equal(page.url(), `${home.http}/ui/`);
    const leader = await cluster.leader();
    await page.locator("tr[data-server]").nth(2).waitFor();
    assert.equal(await page.locator("tr[data-server]").count(), 3);
    assert.equal(await waitFor("the leader in the table", SEEN_MS, () => leaderShown(page)), leader.name);
    assert.equal((await page.getByTestId("leader").textContent())?.trim(), `127.0.0.1:${leader.rpcPort}`);
    for (const a of cluster.agents) {
      const row = page.locator(`tr[data-server="${a.name}"]`);
      assert.match(
        (await row.textContent()) ?? "",
        new RegExp(`127\\.0\\.0\\.1:${a.rpcPort}\\s*(leader|follower)`),
      );
    }
    assert.equal(await page.locator(".alert.warn").count(), 0, "no warning on a healthy datacenter");
    page.off("response", onResponse);
    const bytes = [...shipped.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`# first view: ${shipped.size} files, ${bytes} bytes\n`);
    assert.ok(shipped.has(`${home.http}/ui/views/overview.js`));
    assert.ok(
      !shipped.has(`${home.http}/ui/views/kv.js`),
      "a view's module is loaded when it is first shown",
    );
    assert.ok(bytes < 64 * 1024, `the first view ships ${bytes} bytes; the budget is 64 KiB`);
    shots.push(await screenshot(page, "overview-1280"));
    shots.push(await phoneScreenshot(page, "overview-390"));
    assert.deepEqual(await axeViolations(page), []);
  });

  it("over a real socket: types, CSP, and traversal refused as the raw request line sent it", async () => {
    const js = await fetch(`${home.http}/ui/app.js`);
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.match(js.headers.get("content-security-policy") ?? "", /^default-src 'none'; script-src 'self'/);
    // fetch() would normalize these paths; node:http sends them as written.
    for (const path of [
      "/ui/../package.json",
      "/ui/%2e%2e/package.json",
      "/ui/vendor/..%2f..%2fpackage.json",
    ]) {
      const status = await new Promise<number>((resolve, reject) => {
        const port = Number(new URL(home.http).port);
        const req = httpRequest({ host: "127.0.0.1", port, path, timeout: 10_000 }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
      assert.equal(status, 400, path);
    }
  });

  it("kill -9 of the leader: the overview shows the new leader within seconds", async () => {
    const old = await cluster.leader();
    cluster.kill9(old);
    const shown = await waitFor("another leader in the overview", SEEN_MS, async () => {
      const name = await leaderShown(page);
      return name !== undefined && name !== old.name ? name : undefined;
    });
    assert.equal(shown, (await cluster.leader()).name);
    shots.push(await screenshot(page, "overview-after-kill"));
  });

  it("KV: create a key, edit it, see another client's change as a cas conflict, then delete it", async () => {
    await page.goto(`${home.http}/ui/#/kv/`);
    await page.getByRole("heading", { name: "Key/Value" }).waitFor();
    await page.getByLabel("Name").fill("ui/greeting");
    await page.getByLabel("Value").fill("hello");
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { name: "Key: ui/greeting" }).waitFor();
    assert.equal(await kvValue(home, "ui/greeting"), "hello");
    assert.equal(await page.getByLabel("Value").inputValue(), "hello");

    // Creating the same name again is refused (cas=0), and says so.
    await page.goto(`${home.http}/ui/#/kv/ui/`);
    await page.getByRole("link", { name: "greeting" }).waitFor();
    await page.getByLabel("Name (after ui/)").fill("greeting");
    await page.getByLabel("Value").fill("clobber");
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("alert").filter({ hasText: "already exists" }).waitFor();
    assert.equal(await kvValue(home, "ui/greeting"), "hello");

    await page.getByRole("link", { name: "greeting" }).click();
    await page.getByRole("heading", { name: "Key: ui/greeting" }).waitFor();
    await page.getByLabel("Value").fill("hello, edited");
    await page.getByLabel("Flags").fill("42");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    assert.equal(await kvValue(home, "ui/greeting"), "hello, edited");
    const flags = (await (await fetch(`${home.http}/v1/kv/ui/greeting`)).json()) as [{ Flags: number }];
    assert.equal(flags[0].Flags, 42);

    // Another client writes while the page holds the old ModifyIndex: the page's save must not overwrite it.
    const other = await fetch(`${home.http}/v1/kv/ui/greeting`, {
      method: "PUT",
      body: "from another client",
    });
    assert.equal(await other.text(), "true");
    await page.getByLabel("Value").fill("mine");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("alert").filter({ hasText: "Conflict" }).waitFor();
    assert.equal(await kvValue(home, "ui/greeting"), "from another client");
    shots.push(await screenshot(page, "kv-conflict"));
    assert.deepEqual(await axeViolations(page), []);

    // A delete with the stale index is refused too; after a reload it goes through.
    await page.getByRole("button", { name: "Delete…" }).click();
    await page.getByRole("button", { name: "Delete key" }).click();
    await page.getByRole("alert").filter({ hasText: "Conflict" }).waitFor();
    assert.equal(await kvValue(home, "ui/greeting"), "from another client");
    await page.getByRole("button", { name: "Reload" }).click();
    await waitFor("the reloaded value", SEEN_MS, async () =>
      (await page.getByLabel("Value").inputValue()) === "from another client" ? true : undefined,
    );
    await page.getByRole("button", { name: "Delete…" }).click();
    await page.getByRole("button", { name: "Delete key" }).click();
    await page.getByRole("heading", { name: "Key/Value: ui/" }).waitFor();
    assert.equal(await kvValue(home, "ui/greeting"), null);
    shots.push(await phoneScreenshot(page, "kv-folder-390"));
  });

  it("KV: a binary value is shown as base64; the lock holder is named", async () => {
    await fetch(`${home.http}/v1/kv/ui/bin`, { method: "PUT", body: new Uint8Array([0xff, 0x00, 0xfe]) });
    const session = (await (
      await fetch(`${home.http}/v1/session/create`, {
        method: "PUT",
        body: JSON.stringify({ Name: "ui-lock" }),
      })
    ).json()) as { ID: string };
    const acquired = await fetch(`${home.http}/v1/kv/ui/locked?acquire=${session.ID}`, {
      method: "PUT",
      body: "x",
    });
    assert.equal(await acquired.text(), "true");
    await page.goto(`${home.http}/ui/#/kv/ui/bin`);
    await page.getByText("Binary value, shown as base64").waitFor();
    assert.equal((await page.locator("pre.value").textContent())?.trim(), "/wD+");
    await page.goto(`${home.http}/ui/#/kv/ui/locked`);
    await page.getByTestId("lock-holder").filter({ hasText: session.ID }).waitFor();
    assert.match((await page.getByTestId("lock-holder").textContent()) ?? "", /ui-lock/);
  });

  it("keyboard: Tab reaches the skip link, then a key; Enter opens it; focus is visible", async () => {
    await page.goto(`${home.http}/ui/#/kv/ui/`);
    await page.getByRole("link", { name: "bin" }).waitFor();
    // A fresh load starts at the top: the first Tab is the skip link.
    await page.reload();
    await page.getByRole("link", { name: "bin" }).waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate("document.activeElement.textContent"), "Skip to content");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate("document.activeElement.id"), "view");
    assert.ok(page.url().endsWith("#/kv/ui/"), `the skip link keeps the view (${page.url()})`);
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = (await page.evaluate("document.activeElement.getAttribute('href')")) === "#/kv/ui/bin";
    }
    assert.ok(reached, "the key's link is reachable with Tab");
    const outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle");
    assert.notEqual(outline, "none", "the focused link shows an outline");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Key: ui/bin" }).waitFor();
    shots.push(await phoneScreenshot(page, "kv-key-390"));
  });

  it("the page's own agent dies: 'Reconnecting', a no-leader warning, then recovery", async () => {
    await page.goto(`${home.http}/ui/#/`);
    await page.locator("tr[data-server]").first().waitFor();
    // The last other server goes: home alone has no leader.
    const others = cluster.agents.filter((a) => a !== home && a.proc !== null);
    for (const a of others) cluster.kill9(a);
    await page.getByRole("alert").filter({ hasText: "No leader" }).waitFor({ timeout: SEEN_MS });
    shots.push(await screenshot(page, "overview-no-leader"));
    cluster.kill9(home);
    await page.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor({ timeout: SEEN_MS });
    shots.push(await screenshot(page, "overview-reconnecting"));
    for (const a of cluster.agents) cluster.launch(a, 0);
    const leader = await cluster.leader(30_000);
    await waitFor("the restarted datacenter's leader in the overview", 30_000, async () =>
      (await leaderShown(page)) === leader.name ? true : undefined,
    );
    assert.equal(await page.locator("#connection").textContent(), "");
  });

  it("the overview's rules: trails-leader-by, non-voters, and the no-quorum and no-tolerance warnings", async () => {
    // The view's own functions, run in the page (they import lit-html, which needs a DOM).
    const out = await page.evaluate(async () => {
      const url = "/ui/views/overview.js";
      const m = await import(url);
      const server = (id: string, leader: boolean, voter: boolean) => ({
        ID: id,
        Node: id,
        Address: id,
        Leader: leader,
        Voter: voter,
      });
      const health = (id: string, leader: boolean, lastIndex: number, healthy: boolean) => ({
        ID: id,
        Leader: leader,
        LastIndex: lastIndex,
        Healthy: healthy,
        LastContact: "0s",
      });
      const config = {
        Servers: [
          server("a", true, true),
          server("b", false, true),
          server("c", false, true),
          server("d", false, false),
        ],
      };
      const state = (h: unknown[], tolerance: number) => ({
        leader: "a:8300",
        config,
        health: { FailureTolerance: tolerance, Servers: h },
      });
      const lagging = state(
        [
          health("a", true, 100, true),
          health("b", false, 40, false),
          health("c", false, 30, false),
          health("d", false, 99, true),
        ],
        0,
      );
      const fine = state(
        [health("a", true, 100, true), health("b", false, 100, true), health("c", false, 98, true)],
        1,
      );
      const oneDown = state(
        [health("a", true, 100, true), health("b", false, 100, true), health("c", false, 0, false)],
        0,
      );
      const rows = m.serverRows(lagging);
      return {
        rows: rows.map((r: { name: string; role: string; trails: number | undefined }) => [
          r.name,
          r.role,
          r.trails,
        ]),
        lagging: m.warnings(lagging, rows),
        fine: m.warnings(fine, m.serverRows(fine)),
        oneDown: m.warnings(oneDown, m.serverRows(oneDown)),
      };
    });
    assert.deepEqual(out.rows, [
      ["a", "leader", 0],
      ["b", "follower", 60],
      ["c", "follower", 70],
      ["d", "non-voter", 1],
    ]);
    assert.deepEqual(out.lagging, ["No quorum: 1 of 3 voting servers are healthy; 2 are needed."]);
    assert.deepEqual(out.fine, []);
    assert.deepEqual(out.oneDown, ["No failure tolerance: losing one more server loses the quorum."]);
  });

  it("no request left the machine", () => {
    assert.ok(browser.requests.length > 0);
    assert.deepEqual(browser.offMachine(), []);
  });
});
