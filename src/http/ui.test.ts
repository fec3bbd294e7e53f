import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MemoryServer } from "../api/memory-server.js";
import { memoryRequest } from "./model.js";
import { handle } from "./router.js";
import { bytes, text } from "./test-util.js";
import { UI_CSP } from "./ui.js";
import { loadUiAssets, VENDOR_FILES } from "./ui-assets.js";

const REPO = resolve(fileURLToPath(import.meta.url), "..", "..", "..", "..");
const assets = loadUiAssets(REPO);

function get(target: string, headers: Record<string, string> = {}) {
  return handle(memoryRequest("GET", target, { headers }), new MemoryServer(), undefined, assets);
}

describe("the web UI's files at /ui/", () => {
  it("/ui/ is the index page, with a strict CSP, nosniff and revalidation", async () => {
    const res = await get("/ui/");
    assert.equal(res.status, 200);
    assert.equal(res.headers["Content-Type"], "text/html; charset=utf-8");
    assert.equal(res.headers["Content-Security-Policy"], UI_CSP);
    assert.match(UI_CSP, /script-src 'self'(;|$)/);
    assert.match(UI_CSP, /connect-src 'self'/);
    assert.doesNotMatch(UI_CSP, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(res.headers["X-Content-Type-Options"], "nosniff");
    assert.equal(res.headers["Cache-Control"], "no-cache");
    assert.equal(
      (await bytes(res)).toString(),
      readFileSync(join(REPO, "ui", "index.html"), "utf8"),
      "the file as it is on disk",
    );
  });

  it("/ui redirects to /ui/", async () => {
    const res = await get("/ui");
    assert.equal(res.status, 301);
    assert.equal(res.headers.Location, "/ui/");
  });

  it("serves scripts, styles and the allow-listed library files with their types", async () => {
    assert.equal((await get("/ui/app.js")).headers["Content-Type"], "text/javascript; charset=utf-8");
    assert.equal((await get("/ui/app.css")).headers["Content-Type"], "text/css; charset=utf-8");
    assert.ok(Object.keys(VENDOR_FILES).length > 0);
    for (const [name, [pkg, file]] of Object.entries(VENDOR_FILES)) {
      const res = await get(`/ui/${name}`);
      assert.equal(res.status, 200, name);
      assert.deepEqual(await bytes(res), readFileSync(join(REPO, "node_modules", pkg, file)), name);
    }
  });

  it("every page script imports only files the UI serves (no bare names, nothing off the machine)", async () => {
    let imports = 0;
    for (const name of assets.keys()) {
      if (!name.endsWith(".js") || name.startsWith("vendor/")) continue;
      const source = Buffer.from(assets.get(name)!.bytes).toString("utf8");
      // Static imports and the shell's lazy `import("…")` of each view.
      const specifiers = [
        ...source.matchAll(/^\s*import\s[^;]*?from\s+"([^"]+)"/gms),
        ...source.matchAll(/\bimport\("([^"]+)"\)/g),
      ];
      for (const m of specifiers) {
        imports++;
        const target = new URL(m[1]!, `http://agent/ui/${name}`);
        assert.equal(target.host, "agent", `${name} imports ${m[1]}`);
        assert.ok(assets.has(target.pathname.slice("/ui/".length)), `${name} imports ${m[1]}, not served`);
      }
      assert.doesNotMatch(source, /https?:\/\//, `${name} names another origin`);
    }
    assert.ok(imports >= 8, `the check saw the pages' imports (${imports})`);
  });

  it("answers 304 while the ETag holds, and 200 with a stale one", async () => {
    const first = await get("/ui/app.js");
    const etag = first.headers.ETag!;
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    const again = await get("/ui/app.js", { "If-None-Match": etag });
    assert.equal(again.status, 304);
    assert.equal(text(again), "");
    assert.equal((await get("/ui/app.js", { "If-None-Match": `W/${etag}` })).status, 304);
    assert.equal((await get("/ui/app.js", { "If-None-Match": '"other"' })).status, 200);
  });

  it("refuses traversal, plain or encoded, and never reads outside the set", async () => {
    for (const target of [
      "/ui/../package.json",
      "/ui/%2e%2e/package.json",
      "/ui/%2E%2E%2Fpackage.json",
      "/ui/vendor/../../package.json",
      "/ui/.hidden",
      "/ui/%252e%252e/package.json",
      "/ui/vendor%2F..%2F..%2Fpackage.json",
      "/ui/a//b.js",
      "/ui/C:%5Cwindows",
    ]) {
      const res = await get(target);
      assert.equal(res.status, 400, target);
      assert.match(text(res), /^invalid UI path/, target);
    }
    for (const target of ["/ui/package.json", "/ui/node_modules/lit-html/lit-html.js", "/ui/vendor/lit.js"]) {
      assert.equal((await get(target)).status, 404, target);
    }
  });

  it("GET and HEAD only", async () => {
    const res = await handle(
      memoryRequest("PUT", "/ui/app.js", { body: "x" }),
      new MemoryServer(),
      undefined,
      assets,
    );
    assert.equal(res.status, 405);
    assert.equal(res.headers.Allow, "GET,HEAD");
    const head = await handle(memoryRequest("HEAD", "/ui/"), new MemoryServer(), undefined, assets);
    assert.equal(head.status, 200);
  });

  it("an agent without the files answers 404 at /ui/", async () => {
    const res = await handle(memoryRequest("GET", "/ui/"), new MemoryServer());
    assert.equal(res.status, 404);
    assert.equal(text(res), "UI not served by this agent");
  });
});

describe("loadUiAssets", () => {
  it("loads the folder's files of known types and the vendor files; refuses a tree without index.html or a library", () => {
    const root = mkdtempSync(join(tmpdir(), "cairn-ui-"));
    try {
      mkdirSync(join(root, "ui", "views"), { recursive: true });
      writeFileSync(join(root, "ui", "views", "a.js"), "export {};\n");
      writeFileSync(join(root, "ui", "notes.txt"), "not shipped");
      // No node_modules above a temp dir: the allow-listed library is missing.
      assert.throws(() => loadUiAssets(root), /UI: package lit-html is not installed/);
      symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"));
      assert.throws(() => loadUiAssets(root), /UI: .*index\.html is missing/);
      writeFileSync(join(root, "ui", "index.html"), "<!doctype html>");
      const loaded = loadUiAssets(root);
      assert.deepEqual(
        [...loaded.keys()].sort(),
        ["index.html", "views/a.js", ...Object.keys(VENDOR_FILES)].sort(),
      );
      assert.equal(loaded.get("views/a.js")!.contentType, "text/javascript; charset=utf-8");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
