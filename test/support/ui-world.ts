/**
 * What every Chromium UI test file starts with: a real datacenter, a browser with one page, and the screenshots
 * it wrote (listed at the end). `uiWorld(n)` registers the before/after hooks of the surrounding describe.
 */
import { after, before } from "node:test";
import type { Page } from "playwright-core";
import { Cluster } from "../cluster.js";
import { Browser } from "./browser.js";

export interface UiWorld {
  cluster: Cluster;
  browser: Browser;
  page: Page;
  /** Paths of the screenshots taken, printed when the file ends. */
  readonly shots: string[];
}

/** `servers` servers, a leader elected, Chromium launched; all stopped and removed after the suite. */
export function uiWorld(servers: number): UiWorld {
  // Filled in by `before`: the tests only run once it has.
  const world = { shots: [] } as unknown as UiWorld;
  before(async () => {
    world.cluster = await Cluster.start(servers);
    await world.cluster.leader();
    world.browser = await Browser.launch();
    world.page = await world.browser.page();
  });
  after(async () => {
    await world.browser?.close();
    await world.cluster?.stop();
    if (world.shots.length > 0)
      process.stdout.write(`# screenshots:\n${world.shots.map((s) => `#   ${s}`).join("\n")}\n`);
  });
  return world;
}
