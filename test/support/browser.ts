/**
 * Debian's Chromium driven by playwright-core, for the UI tests: headless, no sandbox, no GPU, no background
 * networking, a fresh profile in a temp dir. `chromiumMissing()` gives the reason to skip when it is absent.
 * Every request a page makes is recorded, so a test can assert that none left the machine.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CAIRN_CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where screenshots go: test-artifacts/ui at the repository's top (gitignored). */
export const ARTIFACTS = resolve(
  fileURLToPath(import.meta.url),
  "..",
  "..",
  "..",
  "..",
  "test-artifacts",
  "ui",
);

/** undefined when Chromium can run here, else why the UI tests are skipped. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`;
}

export class Browser {
  /** Every URL any page of this browser asked for. */
  readonly requests: string[] = [];
  private constructor(
    readonly context: BrowserContext,
    private readonly profile: string,
  ) {}

  static async launch(): Promise<Browser> {
    // playwright passes the profile as --user-data-dir itself; a fresh temp dir each time.
    const profile = mkdtempSync(join(tmpdir(), "cairn-chromium-"));
    try {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ARGS,
        viewport: { width: 1280, height: 900 },
        timeout: 60_000,
      });
      const b = new Browser(context, profile);
      context.on("request", (r) => b.requests.push(r.url()));
      return b;
    } catch (e) {
      rmSync(profile, { recursive: true, force: true });
      throw e;
    }
  }

  async page(): Promise<Page> {
    const page = await this.context.newPage();
    page.setDefaultTimeout(20_000);
    return page;
  }

  /** Requests to anything but loopback: a page must never cause one. */
  offMachine(): string[] {
    return this.requests.filter((u) => {
      const { protocol, hostname } = new URL(u);
      if (protocol === "data:" || protocol === "about:") return false;
      return hostname !== "127.0.0.1" && hostname !== "[::1]" && hostname !== "localhost";
    });
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    rmSync(this.profile, { recursive: true, force: true });
  }
}

/** A full-page screenshot under ARTIFACTS; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: readonly { readonly target: readonly string[] }[];
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * axe-core's WCAG A/AA rules on the page as it is; returns the serious and critical violations as text.
 * axe is injected by the driver (addScriptTag would be refused by the page's own CSP, rightly).
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    // This runs in the page: axe is the global the injected script defined.
    const inPage = globalThis as unknown as {
      axe: { run(context: unknown, options: unknown): Promise<{ violations: AxeViolation[] }> };
      document: unknown;
    };
    const r = await inPage.axe.run(inPage.document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"] },
    });
    return r.violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/**
 * The page at a phone's width (390 px): a screenshot named `name`, and a failure if anything makes the page
 * wider than the screen; the desktop size (1280 px) is restored after. Returns the screenshot's path.
 */
export async function phoneScreenshot(page: Page, name: string): Promise<string> {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const path = await screenshot(page, name);
    const width = Number(await page.evaluate("document.documentElement.scrollWidth"));
    if (width > 390)
      throw new Error(`${name}: the page is wider than a phone's 390 px (scrollWidth ${width})`);
    return path;
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
}
