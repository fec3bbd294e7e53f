import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as snapshot from "./index.js";

const SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "src", "snapshot");
const ALLOWED =
  /^(\.\/|\.\.\/util\/|node:(stream|stream\/promises|zlib|crypto|fs|fs\/promises|os|path)$|@msgpack\/msgpack$)/;

describe("src/snapshot layering", () => {
  it("imports only util, its own files, node stream/zlib/crypto/fs/os/path and @msgpack/msgpack", () => {
    const files = readdirSync(SOURCE_DIR).filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && f !== "testutil.ts",
    );
    assert.ok(files.length > 5);
    for (const file of files) {
      const text = readFileSync(join(SOURCE_DIR, file), "utf8");
      for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms)) {
        assert.match(m[1] as string, ALLOWED, `${file} imports "${m[1]}"`);
      }
    }
  });

  it("exposes the public API from index.ts", () => {
    for (const name of [
      "readArchive",
      "writeArchive",
      "inspectFile",
      "decodeArchiveLines",
      "encodeGo",
      "decodeRecord",
    ]) {
      assert.equal(typeof (snapshot as Record<string, unknown>)[name], "function", name);
    }
  });
});
