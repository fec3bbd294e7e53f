import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { collectGarbage } from "./gc.js";

describe("collectGarbage", () => {
  it("runs a full collection on Node, again and again, and frees what nothing references", async () => {
    assert.equal(collectGarbage(), true);
    let big: Uint8Array[] | null = Array.from({ length: 64 }, () => new Uint8Array(1024 * 1024).fill(1));
    const gone = new WeakRef(big);
    big = null;
    // A WeakRef target survives at least until the current job ends: let it end first.
    await new Promise((r) => setImmediate(r));
    assert.equal(collectGarbage(), true);
    assert.equal(gone.deref(), undefined);
  });
});
