import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { KvStore } from "../fsm/kv-store.js";
import { writeArchive } from "./archive.js";
import { sizedStateBin } from "./state-bin-plan.js";
import { chunks, MemorySink } from "./testutil.js";
import { VerifyingPass } from "./verify-pass.js";

/** A stored (level 0) archive of `keys` keys of 256 random bytes: ~300 B of archive per key. */
async function archiveOf(keys: number): Promise<Buffer> {
  const s = new KvStore();
  for (let i = 1; i <= keys; i++)
    s.apply(i, { op: "set", key: `k/${i}`, value: randomBytes(256), flags: 0n });
  const sink = new MemorySink();
  const meta = { ID: "1-1-1", Index: keys, Term: 1, Version: 1 };
  await writeArchive(sink, meta, await sizedStateBin(s.snapshot().stateBinPlan()), { gzipLevel: 0 });
  return sink.bytes();
}

/** Everything the pass hands on until it ends or throws. */
async function drain(pass: VerifyingPass): Promise<{ got: Buffer; error: unknown }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const c of pass.chunks()) parts.push(c);
    return { got: Buffer.concat(parts), error: null };
  } catch (error) {
    return { got: Buffer.concat(parts), error };
  }
}

describe("VerifyingPass", () => {
  it("hands on a good archive byte for byte, and its meta once verified", async () => {
    const archive = await archiveOf(4000);
    const pass = new VerifyingPass(chunks(archive, 64 * 1024));
    const { got, error } = await drain(pass);
    assert.equal(error, null);
    assert.ok(got.equals(archive));
    assert.equal((await pass.verified()).Index, 4000);
    assert.equal(pass.failure, null);
  });

  it("hands on nothing of a file that is no archive", async () => {
    const pass = new VerifyingPass(chunks(randomBytes(300_000), 64 * 1024));
    const { got, error } = await drain(pass);
    assert.equal(got.length, 0);
    assert.match(String(error), /failed to decompress snapshot: gzip: invalid header/);
    assert.equal(pass.failure, error);
  });

  it("never hands on all of an archive damaged anywhere, and says why", async () => {
    const archive = await archiveOf(4000);
    for (const at of [0.3, 0.75, 0.999]) {
      const bad = Buffer.from(archive);
      const i = Math.floor(bad.length * at);
      bad[i] = (bad[i] ?? 0) ^ 0x40;
      const pass = new VerifyingPass(chunks(bad, 64 * 1024));
      const { got, error } = await drain(pass);
      assert.ok(error !== null, `damage at ${at} was found`);
      assert.ok(got.length < bad.length, `damage at ${at}: ${got.length} of ${bad.length} bytes handed on`);
      assert.equal(pass.failure, error);
      await assert.rejects(pass.verified());
    }
    const cut = archive.subarray(0, archive.length - 100);
    const { got, error } = await drain(new VerifyingPass(chunks(cut, 64 * 1024)));
    assert.ok(error !== null && got.length < cut.length, "a truncated archive is not handed on whole");
  });

  it("a consumer that stops early is no verification failure", async () => {
    const pass = new VerifyingPass(chunks(await archiveOf(4000), 64 * 1024));
    for await (const _ of pass.chunks()) break;
    assert.equal(pass.failure, null);
  });
});
