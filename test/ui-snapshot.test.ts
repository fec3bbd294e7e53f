/**
 * The snapshots view in a real Chromium against a real 3-server datacenter (docs/ui.md): "take a snapshot now"
 * gives a file that `cairn snapshot inspect` accepts, named consul-<index>.snap; "restore from file" shows the
 * archive's index and term beside the datacenter's, asks in a modal dialog (Esc cancels and sends nothing), and
 * brings a deleted key back; a corrupt file shows the agent's message and changes nothing. axe finds no serious
 * violation; screenshots at 1280 and 390 px go to test-artifacts/ui/.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Agent, put, runCairn } from "./cluster.js";
import { axeViolations, chromiumMissing, phoneScreenshot, screenshot } from "./support/browser.js";
import { uiWorld } from "./support/ui-world.js";

async function kvStatus(a: Agent, key: string): Promise<number> {
  return (await fetch(`${a.http}/v1/kv/${key}?consistent`, { signal: AbortSignal.timeout(10_000) })).status;
}

async function kvKeys(a: Agent): Promise<string> {
  const r = await fetch(`${a.http}/v1/kv/?recurse&consistent`, { signal: AbortSignal.timeout(10_000) });
  return r.text();
}

describe("the snapshots view in Chromium", { skip: chromiumMissing() ?? false }, () => {
  const world = uiWorld(3);
  /** The archive the page downloaded. */
  let saved = "";

  it("takes a snapshot: a verified download named consul-<index>.snap that cairn snapshot inspect accepts", async () => {
    const { cluster, page, shots } = world;
    const home = await cluster.leader();
    for (let i = 0; i < 5; i++) assert.equal((await put(home, `app/${i}`, `v${i}`)).status, 200);
    assert.equal((await put(home, "dummy", "canary")).status, 200);
    await page.goto(`${home.http}/ui/#/snapshots`);
    await page.getByRole("heading", { name: "Snapshots" }).waitFor();
    await page.getByRole("button", { name: "Take a snapshot" }).click();
    await page.getByRole("status").filter({ hasText: "verified: both SHA-256 sums match" }).waitFor();
    const link = page.getByRole("link", { name: /^Save consul-\d+\.snap$/ });
    const [dl] = await Promise.all([page.waitForEvent("download"), link.click()]);
    assert.match(dl.suggestedFilename(), /^consul-\d+\.snap$/);
    saved = join(cluster.dir, dl.suggestedFilename());
    await dl.saveAs(saved);
    const inspected = await runCairn(["snapshot", "inspect", saved]);
    assert.equal(inspected.code, 0, inspected.out);
    assert.match(inspected.out, /KVS\s+6/);
    shots.push(await screenshot(page, "snapshots-1280"));
    assert.deepEqual(await axeViolations(page), []);
  });

  it("restores from a file: index and term shown, Esc cancels, Restore brings a deleted key back", async () => {
    const { cluster, page, shots } = world;
    const home = await cluster.leader();
    assert.notEqual(saved, "");
    const before = await kvKeys(home);
    assert.equal((await fetch(`${home.http}/v1/kv/dummy`, { method: "DELETE" })).status, 200);
    assert.equal(await kvStatus(home, "dummy"), 404);
    await page.reload();
    await page.getByLabel("Snapshot file").setInputFiles(saved);
    const inspected = await runCairn(["snapshot", "inspect", "-format=json", saved]);
    assert.equal(inspected.code, 0, inspected.out);
    const meta = (JSON.parse(inspected.out) as { Meta: { Index: number; Term: number } }).Meta;
    await page.getByTestId("current-index").filter({ hasText: /^\d+$/ }).waitFor();
    assert.equal(await page.getByTestId("archive-index").textContent(), String(meta.Index));
    assert.equal(await page.getByTestId("archive-term").textContent(), String(meta.Term));
    assert.ok(Number(await page.getByTestId("current-index").textContent()) >= meta.Index);
    // The dialog: focus inside it, Esc cancels, nothing was sent.
    await page.getByRole("button", { name: "Restore…" }).click();
    const dialog = page.getByRole("dialog", { name: "Replace the datacenter's state?" });
    await dialog.waitFor();
    assert.equal(await page.evaluate("document.activeElement?.textContent"), "Cancel");
    assert.deepEqual(await axeViolations(page), []);
    shots.push(await phoneScreenshot(page, "snapshots-confirm-390"));
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    assert.equal(
      await page.evaluate("document.activeElement?.closest('dialog') !== null"),
      true,
      "focus stays in the dialog",
    );
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    assert.equal(await kvStatus(home, "dummy"), 404, "a cancelled restore sends nothing");

    await page.getByRole("button", { name: "Restore…" }).click();
    await dialog.getByRole("button", { name: "Restore", exact: true }).click();
    await page
      .getByRole("status")
      .filter({ hasText: /^Restored consul-\d+\.snap/ })
      .waitFor();
    assert.equal(await kvStatus(home, "dummy"), 200);
    assert.equal(await kvKeys(home), before);
    shots.push(await screenshot(page, "snapshots-restored"));
  });

  it("a corrupt file: the agent's message is shown and the datacenter is unchanged", async () => {
    const { cluster, browser, page, shots } = world;
    const home = await cluster.leader();
    assert.equal((await put(home, "after", "x")).status, 200);
    const before = await kvKeys(home);
    // Cut short: meta.json (at the start) still reads, so the page shows its index; the agent refuses the rest.
    const whole = readFileSync(saved);
    const corrupt = join(cluster.dir, "corrupt.snap");
    writeFileSync(corrupt, whole.subarray(0, Math.floor(whole.length / 2)));
    await page.reload();
    await page.getByLabel("Snapshot file").setInputFiles(corrupt);
    await page.getByTestId("current-index").filter({ hasText: /^\d+$/ }).waitFor();
    await page.getByRole("button", { name: "Restore…" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Restore", exact: true }).click();
    const alert = page.getByRole("alert").filter({ hasText: "The agent refused the restore" });
    await alert.waitFor();
    const direct = await fetch(`${home.http}/v1/snapshot`, { method: "PUT", body: readFileSync(corrupt) });
    const message = (await direct.text()).trim();
    assert.equal(direct.status, 500);
    assert.ok(
      ((await alert.textContent()) ?? "").includes(message),
      `${await alert.textContent()} ∌ ${message}`,
    );
    assert.equal(await kvKeys(home), before);
    shots.push(await screenshot(page, "snapshots-corrupt"));

    // Not an archive at all: the page says it cannot read it, and the agent refuses it too.
    const junk = join(cluster.dir, "junk.snap");
    writeFileSync(junk, "not a snapshot\n");
    await page.getByLabel("Snapshot file").setInputFiles(junk);
    await page.getByRole("alert").filter({ hasText: "could not read the file" }).waitFor();
    assert.deepEqual(browser.offMachine(), []);
  });
});
