import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

/** The TypeScript sources, found from dist/src/fsm/ (where this test runs) back in src/fsm/. */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "src", "fsm");
const sources = readdirSync(SRC).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));

describe("src/fsm stays deterministic and inside its layer", () => {
  it("has sources to check", () => {
    assert.ok(sources.includes("kv-store.ts"), `found ${sources.join(", ")}`);
  });

  for (const file of sources) {
    const text = readFileSync(join(SRC, file), "utf8");
    it(`${file}: reads no clock, no randomness, sets no timers`, () => {
      const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
      for (const banned of [
        /\bDate\b/,
        /Math\.random/,
        /\bsetTimeout\b/,
        /\bsetInterval\b/,
        /\bperformance\b/,
      ]) {
        assert.doesNotMatch(code, banned, `${file} uses ${banned.source}`);
      }
    });
    it(`${file}: imports only ./, ../util, ../acl and ../snapshot`, () => {
      const specs = [
        ...text.matchAll(/\bfrom\s+"([^"]+)"|\bimport\s*\(\s*"([^"]+)"|^import\s+"([^"]+)"/gm),
      ].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
      for (const spec of specs) {
        assert.match(
          spec,
          /^(\.\/[^/]+|\.\.\/util\/index|\.\.\/acl\/index|\.\.\/snapshot\/index)\.js$/,
          `${file} imports "${spec}"`,
        );
      }
    });
  }
});
