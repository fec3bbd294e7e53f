/**
 * Loads the UI's files once, at agent start: everything under the repository's `ui/` folder, and the few library
 * files the pages import, named by an explicit allow-list (never a path a request chose). The result is the
 * in-memory set ui.ts serves; a file missing here is an error at start, not a broken page later.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { CONTENT_TYPES, type UiAsset, type UiAssets } from "./ui.js";

/**
 * Served name below /ui/ → [npm package, file inside it]. Files a browser runs as they are: lit-html's ESM build,
 * and uPlot's minified classic script (51 KB; its only ESM build is unminified, 145 KB), which the Backups view
 * adds as a script element when it first draws a chart.
 */
export const VENDOR_FILES: Readonly<Record<string, readonly [string, string]>> = {
  "vendor/lit-html.js": ["lit-html", "lit-html.js"],
  "vendor/uPlot.iife.min.js": ["uplot", "dist/uPlot.iife.min.js"],
  "vendor/uPlot.min.css": ["uplot", "dist/uPlot.min.css"],
};

/** This file is dist/src/http/ui-assets.js (or src/http/ui-assets.ts under a loader): the repository is 3 up. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 3; i++) dir = dirname(dir);
  return dir;
}

/** The folder of an installed package, found as Node finds it: node_modules in this folder or any above. */
function packageDir(pkg: string, from: string): string {
  let dir = from;
  for (;;) {
    const candidate = join(dir, "node_modules", pkg);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`UI: package ${pkg} is not installed (looked in node_modules above ${from})`);
    dir = up;
  }
}

function asset(name: string, bytes: Uint8Array): UiAsset {
  const contentType = CONTENT_TYPES[extname(name).slice(1)];
  if (contentType === undefined) throw new Error(`UI: no content type for ${name}`);
  const etag = `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 27)}"`;
  return { bytes, contentType, etag };
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Reads every UI file into memory. `root` is the repository (default: the one this code runs from). */
export function loadUiAssets(root = repositoryRoot()): UiAssets {
  const assets = new Map<string, UiAsset>();
  const uiDir = join(root, "ui");
  for (const file of filesUnder(uiDir)) {
    const name = relative(uiDir, file).split(sep).join("/");
    // Only the types a page uses are shipped; a stray editor backup or note stays on disk.
    if (CONTENT_TYPES[extname(name).slice(1)] === undefined) continue;
    assets.set(name, asset(name, readFileSync(file)));
  }
  for (const [name, [pkg, file]] of Object.entries(VENDOR_FILES)) {
    assets.set(name, asset(name, readFileSync(join(packageDir(pkg, root), file))));
  }
  if (!assets.has("index.html")) throw new Error(`UI: ${join(uiDir, "index.html")} is missing`);
  return assets;
}
