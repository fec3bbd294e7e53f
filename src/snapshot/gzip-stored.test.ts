import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { gzipStored } from "./gzip-stored.js";

async function framed(chunks: readonly Uint8Array[]): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of gzipStored(
    (async function* () {
      yield* chunks;
    })(),
  ))
    parts.push(c);
  return Buffer.concat(parts);
}

describe("gzipStored", () => {
  it("gunzips to the bytes given, across block and chunk boundaries of every kind", async () => {
    const sizes = [0, 1, 0xfffe, 0xffff, 0x10000, 3 * 0xffff + 7, 1 << 20];
    for (const split of [1, 3]) {
      const chunks = sizes.map((n) => randomBytes(n));
      const parts = chunks.flatMap((c) =>
        split === 1 ? [c] : [c.subarray(0, c.length / 3), c.subarray(c.length / 3)],
      );
      const whole = Buffer.concat(chunks);
      assert.ok(gunzipSync(await framed(parts)).equals(whole));
    }
  });

  it("an empty stream is a valid gzip of nothing, with Go's header", async () => {
    const z = await framed([]);
    assert.equal(gunzipSync(z).length, 0);
    assert.deepEqual([...z.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  });

  it("a flipped byte anywhere past the header fails the CRC or the framing", async () => {
    const z = await framed([randomBytes(200_000)]);
    for (const at of [12, 70_000, z.length - 6, z.length - 2]) {
      const bad = Buffer.from(z);
      bad[at] = (bad[at] ?? 0) ^ 1;
      assert.throws(() => gunzipSync(bad), `a flip at ${at} of ${z.length}`);
    }
  });
});
