/**
 * The Backups view in a real Chromium against a real server and a real snapshot agent (a child process writing
 * to a temp dir every 2 s): before any backup the page says there is no history; the agent's backups then appear
 * without a reload (a blocking query on the history key), in a table and two uPlot charts with one point per
 * backup; a deliberately small archive (the keys deleted) is marked as a size drop; the chart library loads
 * only on this view; an archive's records per type, inspected on this view and in the snapshots view's restore
 * confirmation, equal `cairn snapshot inspect`'s; axe finds no serious violation; screenshots at 1280 and 390 px
 * go to test-artifacts/ui/.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { freePort, getJson, put, runCairn, sleep, waitFor } from "./cluster.js";
import { axeViolations, chromiumMissing, phoneScreenshot, screenshot } from "./support/browser.js";
import { type AgentProc, startAgent, stopAgent } from "./support/snapshot-agent-proc.js";
import { uiWorld } from "./support/ui-world.js";

const NAME = /^consul-\d{19}\.snap$/;
/** Enough incompressible data that an archive without it is far below half the size. */
const BIG_KEYS = 120;

function stored(dir: string): string[] {
  return readdirSync(dir).filter((n) => NAME.test(n));
}

describe("the backups view in Chromium", { skip: chromiumMissing() ?? false, timeout: 240_000 }, () => {
  const world = uiWorld(1);
  const dir = mkdtempSync(join(tmpdir(), "cairn-ui-backups-"));
  let agent: AgentProc | null = null;
  after(async () => {
    if (agent !== null) await stopAgent(agent);
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows the agent's backups live, in a table and two charts with a point per backup", async () => {
    const { cluster, browser, page, shots } = world;
    const home = await cluster.leader();
    for (let i = 0; i < BIG_KEYS; i++) {
      assert.equal((await put(home, `big/${i}`, randomBytes(1500).toString("base64"))).status, 200);
    }
    assert.equal((await put(home, "dummy", "canary")).status, 200);
    const loaded: string[] = [];
    page.on("request", (r) => loaded.push(new URL(r.url()).pathname));
    await page.goto(`${home.http}/ui/#/backups`);
    await page.getByTestId("no-history").waitFor();
    assert.ok(!loaded.includes("/ui/vendor/uPlot.iife.min.js"), "no chart library without a chart");

    const listen = `127.0.0.1:${await freePort()}`;
    const args = ["-interval", "2s", "-http-addr", home.http.replace("http://", ""), "-local-path", dir];
    agent = startAgent([...args, "-retain", "0"], listen);
    // No reload: the page follows the history key.
    await page.locator("tr[data-backup]").nth(2).waitFor({ timeout: 60_000 });
    assert.ok(
      loaded.includes("/ui/vendor/uPlot.iife.min.js"),
      "the chart library loads with the first chart",
    );
    await page.locator("#chart-size canvas").waitFor();
    await page.locator("#chart-duration canvas").waitFor();
    const rows = await page.locator("tr[data-backup]").count();
    const points = Number(await page.locator('figure[data-chart="size"]').getAttribute("data-points"));
    assert.ok(points >= rows, `a point per backup: ${points} points, ${rows} rows`);
    for (const name of stored(dir).slice(0, 3)) {
      const row = page.locator(`tr[data-backup="${name}"]`);
      const text = (await row.textContent()) ?? "";
      assert.match(text, /\d+\.\d KiB/, text);
      assert.match(text, /yes/, text);
      assert.ok(text.includes(`local:${dir}`), text);
    }
    assert.equal(await page.getByTestId("anomaly-summary").count(), 0, "no anomaly while sizes are steady");
    assert.match((await page.getByTestId("backup-status").textContent()) ?? "", /consul-snapshot-/);
    shots.push(await screenshot(page, "backups-1280"));
    assert.deepEqual(await axeViolations(page), []);
    assert.deepEqual(browser.offMachine(), []);
  });

  it("marks a backup far smaller than the recent ones as a size drop, without a reload", async () => {
    const { cluster, page, shots } = world;
    const home = await cluster.leader();
    // Enough steady backups for a median first.
    await waitFor("four backups", 30_000, () => (stored(dir).length >= 4 ? true : undefined));
    const r = await fetch(`${home.http}/v1/kv/big/?recurse`, { method: "DELETE" });
    assert.equal(r.status, 200);
    const drop = page.locator("tr.anomaly", { hasText: "size drop" }).first();
    await drop.waitFor({ timeout: 30_000 });
    const name = await drop.getAttribute("data-backup");
    assert.ok(name !== null && stored(dir).includes(name), `${name} is a backup in the store`);
    await page.getByTestId("anomaly-summary").waitFor();
    shots.push(await screenshot(page, "backups-anomaly-1280"));
    // At 1280 px the whole table fits, the Anomalies column included: long destinations wrap rather than scroll.
    const region = page.getByRole("region", { name: "Backup history" });
    const widths = await region.evaluate((el) => [el.scrollWidth, el.clientWidth]);
    assert.ok(
      (widths[0] ?? 0) <= (widths[1] ?? 0),
      `the history table scrolls at 1280 px: ${widths.join(" > ")}`,
    );
    shots.push(await phoneScreenshot(page, "backups-390"));
    assert.deepEqual(await axeViolations(page), []);
  });

  it("an archive's records per type, in inspect and in the restore confirmation, equal cairn snapshot inspect's", async () => {
    const { page, shots } = world;
    if (agent !== null) await stopAgent(agent);
    agent = null;
    // The first backup: the large one, read by the page in many chunks.
    const file = join(dir, stored(dir).sort()[0]!);
    const inspected = await runCairn(["snapshot", "inspect", "-format=json", file]);
    assert.equal(inspected.code, 0, inspected.out);
    const info = JSON.parse(inspected.out) as {
      Meta: { Index: number };
      Stats: { Name: string; Count: number }[];
    };
    const want = info.Stats.map((s) => [s.Name, String(s.Count)]);
    assert.ok(
      want.some(([name, count]) => name === "KVS" && Number(count) > BIG_KEYS),
      inspected.out,
    );
    const rowsOf = async (): Promise<string[][]> =>
      page
        .getByTestId("record-counts")
        .locator("tbody tr")
        .evaluateAll((trs) =>
          trs.map((tr) => [tr.getAttribute("data-type") ?? "", tr.querySelector("td")?.textContent ?? ""]),
        );

    await page.getByLabel("Backup file", { exact: true }).setInputFiles(file);
    await page.getByTestId("record-counts").waitFor();
    assert.deepEqual(await rowsOf(), want);
    assert.match(
      (await page.getByTestId("inspect-meta").textContent()) ?? "",
      new RegExp(`${info.Meta.Index}`),
    );

    await page.goto(`${page.url().replace(/#.*$/, "")}#/snapshots`);
    await page.getByLabel("Snapshot file").setInputFiles(file);
    await page.getByTestId("record-counts").waitFor();
    assert.deepEqual(await rowsOf(), want);
    assert.equal(await page.getByTestId("archive-index").textContent(), String(info.Meta.Index));
    await page.getByTestId("current-index").filter({ hasText: /^\d+$/ }).waitFor();
    await page.getByRole("button", { name: "Restore…" }).click();
    const dialog = page.getByRole("dialog", { name: "Replace the datacenter's state?" });
    await dialog.waitFor();
    const kvs = want.find(([name]) => name === "KVS")?.[1];
    assert.match((await page.getByTestId("dialog-counts").textContent()) ?? "", new RegExp(`${kvs} KVS`));
    shots.push(await screenshot(page, "snapshots-confirm-counts-1280"));
    assert.deepEqual(await axeViolations(page), []);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    // The agent stopped at the start of this test: once twice its 2 s interval has passed since its last attempt
    // (as the history records it), the view warns.
    const history = (await getJson(await world.cluster.leader(), "/v1/kv/consul-snapshot/history?raw")) as {
      entries: { timeMs: number }[];
    };
    const last = history.entries.at(-1)?.timeMs ?? 0;
    await sleep(Math.max(0, last + 2 * 2000 + 500 - Date.now()));
    await page.goto(`${page.url().replace(/#.*$/, "")}#/backups`);
    await page.getByTestId("stale").filter({ hasText: "No backup attempt for" }).waitFor();
    shots.push(await screenshot(page, "backups-stale-1280"));
  });
});
