import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { COMPRESSIBLE_RATIO_MAX, chooseGzipLevel, sampleRatio } from "./gzip-level.js";
import { withTempDir } from "./testutil.js";

describe("gzip level from samples of state.bin", () => {
  it("stores random values and deflates config-like text", async () => {
    await withTempDir(async (dir) => {
      const random = join(dir, "random");
      const text = join(dir, "text");
      const random5m = randomBytes(5 * 1024 * 1024);
      const json = Buffer.from(
        Array.from(
          { length: 40_000 },
          (_, i) => `{"Key":"service/web/${i}","Value":"port=${8000 + (i % 50)}"}`,
        ).join(""),
      );
      await writeFile(random, random5m);
      await writeFile(text, json);
      assert.ok((await sampleRatio(random, random5m.length)) > 0.99);
      assert.ok((await sampleRatio(text, json.length)) < 0.2);
      assert.equal(await chooseGzipLevel(random, random5m.length), 0);
      assert.equal(await chooseGzipLevel(text, json.length), 1);
    });
  });

  it("judges a mix by its share of incompressible bytes, and an empty file as stored", async () => {
    await withTempDir(async (dir) => {
      // The benchmark's shape: ~90 B of record structure around each 256 B random value.
      const parts: Buffer[] = [];
      for (let i = 0; i < 20_000; i++)
        parts.push(Buffer.from(`{"Key":"bench/k${i}","Flags":0,"Value":"`), randomBytes(256));
      const mix = Buffer.concat(parts);
      const path = join(dir, "mix");
      await writeFile(path, mix);
      assert.ok((await sampleRatio(path, mix.length)) > COMPRESSIBLE_RATIO_MAX);
      await writeFile(join(dir, "empty"), "");
      assert.equal(await chooseGzipLevel(join(dir, "empty"), 0), 0);
    });
  });
});
