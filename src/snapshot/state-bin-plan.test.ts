import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import fc from "fast-check";
import { KvStore } from "../fsm/kv-store.js";
import { writeArchive } from "./archive.js";
import { readArchive } from "./archive-read.js";
import { sampleWindows } from "./gzip-level.js";
import type { DirEntry, RawRecord, SnapshotHeader } from "./records.js";
import { encodeRecord } from "./records.js";
import { stateBinBytes } from "./state-bin.js";
import {
  type StateBinPlan,
  sizedStateBin,
  smallStateBin,
  stateBinChunks,
  stateBinRanges,
  stateBinSize,
} from "./state-bin-plan.js";
import { MemorySink, withTempDir } from "./testutil.js";

type Part = RawRecord | readonly DirEntry[];

/** A plan over fixed parts: runs of DirEntries as they are, the other records raw. */
function planOf(header: SnapshotHeader, parts: readonly Part[]): StateBinPlan<DirEntry> {
  return { header, parts: () => parts, dirEntry: (e) => e };
}

/** The same records as writeStateBin takes them. */
function flat(parts: readonly Part[]): RawRecord[] {
  return parts.flatMap((p) =>
    Array.isArray(p) ? p.map((e) => encodeRecord({ kind: "KVS", type: 2, body: e })) : [p as RawRecord],
  );
}

async function all(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

const entry = (i: number, value: Uint8Array | null, extra?: DirEntry["extra"]): DirEntry => ({
  CreateIndex: i,
  Flags: BigInt(i % 3) << 40n,
  Key: i % 7 === 0 ? `ключ/${i}` : `k/${i}`,
  LockIndex: 0,
  ModifyIndex: i * 1000,
  Session: i % 5 === 0 ? "5e0d3f6b-0000-4000-8000-000000000000" : "",
  Value: value,
  ...(extra === undefined ? {} : { extra }),
});

const partArb: fc.Arbitrary<Part> = fc.oneof(
  fc
    .array(
      fc.tuple(
        fc.nat(100_000),
        fc.option(fc.uint8Array({ maxLength: 70_000, size: "small" }), { nil: null }),
        fc.boolean(),
      ),
      { maxLength: 40 },
    )
    .map((xs) => xs.map(([i, v, odd]) => entry(i, v, odd && i % 11 === 0 ? { Odd: 1 } : undefined))),
  fc.record({ type: fc.constantFrom(3, 16, 29), body: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
);

describe("state.bin from a plan: sized first, then streamed", () => {
  it("sizes, streams and samples exactly the bytes writeStateBin writes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(partArb, { maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(300_000)), { maxLength: 4 }),
        async (parts, wanted) => {
          const header = { LastIndex: 77 };
          const plan = planOf(header, parts);
          const whole = Buffer.from(await stateBinBytes(header, flat(parts)));
          assert.deepEqual(await all(stateBinChunks(plan)), whole);
          assert.equal(await stateBinSize(plan), whole.length);
          // Twice: the second time from the sizes remembered of each run.
          assert.equal(await stateBinSize(plan), whole.length);
          const ranges = wanted.map(([a, n]): [number, number] => {
            const start = a % (whole.length + 1);
            return [start, Math.min(whole.length, start + n)];
          });
          const want = ranges.map(([a, b]) => whole.subarray(a, b));
          const got = await stateBinRanges(plan, ranges);
          assert.deepEqual(
            got.map((b) => Buffer.from(b)),
            want,
          );
          // The same ranges and the gzip level's sample windows from what the sizing walk kept, each
          // encoded from there or walked for.
          const sized = await sizedStateBin(plan);
          assert.equal(sized.size, whole.length);
          const windows = [...ranges, ...sampleWindows(whole.length)];
          assert.deepEqual(
            (await sized.ranges(windows)).map((b) => Buffer.from(b)),
            windows.map(([a, b]) => whole.subarray(a, b)),
          );
          // Asked again (the kept index let go): walked for, the same bytes.
          assert.deepEqual(
            (await sized.ranges(ranges)).map((b) => Buffer.from(b)),
            want,
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it("takes the middle and end samples from the sizing walk, walking again only for the start", async () => {
    const runs: Part[] = Array.from({ length: 400 }, (_, r) =>
      Array.from({ length: 32 }, (_, i) => entry(r * 32 + i, randomBytes(200))),
    );
    const index: Part = { type: 16, body: Uint8Array.of(0x80) };
    // Without and with a record between the runs where the middle sample falls (then walked for).
    for (const between of [false, true]) {
      const middle: Part[] = between ? [{ type: 29, body: randomBytes(5000) }] : [];
      const parts: Part[] = [index, ...runs.slice(0, 200), ...middle, ...runs.slice(200), index];
      let yielded = 0;
      const plan: StateBinPlan<DirEntry> = {
        header: { LastIndex: 5 },
        *parts() {
          for (const p of parts) {
            yielded++;
            yield p;
          }
        },
        dirEntry: (e) => e,
      };
      const whole = Buffer.from(await stateBinBytes(plan.header, flat(parts)));
      const sized = await sizedStateBin(plan);
      yielded = 0;
      const windows = sampleWindows(sized.size);
      const got = await sized.ranges(windows);
      assert.deepEqual(
        got.map((b) => Buffer.from(b)),
        windows.map(([a, b]) => whole.subarray(a, b)),
      );
      // Only the start window was walked for: a few dozen parts of the 402, not all of them.
      if (!between) assert.ok(yielded > 0 && yielded < parts.length / 4, `${yielded} parts walked`);
      else assert.ok(yielded >= 200, `${yielded} parts walked`);
    }
  });

  it("writes the archive byte for byte as the spooling writer does, at a fixed level and at auto", async () => {
    await withTempDir(async (dir) => {
      const shapes = {
        random: (i: number) => randomBytes(200 + (i % 100)),
        text: (i: number) => Buffer.from(`{"port":${8000 + (i % 50)},"name":"service-${i % 9}"}`),
      };
      for (const [name, value] of Object.entries(shapes)) {
        const parts: Part[] = [
          { type: 3, body: Uint8Array.of(0x80) },
          Array.from({ length: 3000 }, (_, i) => entry(i, value(i))),
          Array.from({ length: 10 }, (_, i) => entry(5000 + i, null, { Odd: 1 })),
          { type: 16, body: Uint8Array.of(0x80) },
        ];
        const header = { LastIndex: 9 };
        const input = { ID: "2-9-1700000000000", Index: 9, Term: 2 };
        for (const gzipLevel of [6, 0, "auto"] as const) {
          const options = { tmpDir: dir, mtimeSec: 1_700_000_000, gzipLevel };
          const spooled = new MemorySink();
          const stream = Readable.from([await stateBinBytes(header, flat(parts))]);
          const a = await writeArchive(spooled, input, stream, options);
          const sized = new MemorySink();
          const b = await writeArchive(sized, input, await sizedStateBin(planOf(header, parts)), options);
          assert.deepEqual(b, a);
          assert.ok(sized.bytes().equals(spooled.bytes()), `${name} at level ${gzipLevel}`);
        }
      }
    });
  });

  it("fails the archive, never ends it as if complete, when state.bin is not the size it was given", async () => {
    await withTempDir(async (dir) => {
      const header = { LastIndex: 9 };
      const run = Array.from({ length: 100 }, (_, i) => entry(i, randomBytes(50)));
      let walks = 0;
      // A plan that breaks its promise: the walk that streams finds one entry more than the one that sized.
      const lying: StateBinPlan<DirEntry> = {
        header,
        parts: () => (++walks === 1 ? [run] : [[...run, entry(999, null)]]),
        dirEntry: (e) => e,
      };
      const sink = new MemorySink();
      await assert.rejects(writeArchive(sink, { ID: "x", Index: 9, Term: 2 }, await sizedStateBin(lying)), {
        message: /grew past its \d+ bytes/,
      });
      await assert.rejects(readArchive(Readable.from([sink.bytes()]), { tmpDir: dir }));
    });
  });

  it("with reuse, fills one buffer again and again, and a consumer that copies gets the same bytes", async () => {
    const s = new KvStore();
    for (let i = 1; i <= 2000; i++) {
      s.apply(i, { op: "set", key: `k/${i}`, value: randomBytes(i % 700), flags: 0n });
    }
    const plan = s.snapshot().stateBinPlan();
    const copies: Buffer[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for await (const c of stateBinChunks(plan, { reuse: true })) {
      copies.push(Buffer.from(c));
      buffers.add(c.buffer);
    }
    const fresh = await all(stateBinChunks(plan));
    assert.ok(Buffer.concat(copies).equals(fresh));
    assert.ok(copies.length > 8, `${copies.length} chunks`);
    assert.ok(buffers.size <= 3, `${buffers.size} buffers for ${copies.length} chunks`);
  });

  it("sizes a store's view exactly, also after writes changed some of the runs it sized before", async () => {
    const s = new KvStore();
    let index = 0;
    const put = (key: string) =>
      s.apply(++index, { op: "set", key, value: randomBytes(index % 40), flags: BigInt(index) });
    for (let i = 1; i <= 3000; i++) put(`k/${i}`);
    for (let round = 0; round < 3; round++) {
      const view = s.snapshot();
      const whole = await all(view.stateBin());
      assert.equal(await stateBinSize(view.stateBinPlan()), whole.length);
      // Rewrite some keys (values of another length) and add some, in the leaves sized just now.
      for (let i = 0; i < 200; i++) put(`k/${(i * 37 + round) % 3000}`);
      for (let i = 0; i < 50; i++) put(`k/new-${round}-${i}`);
      s.apply(++index, { op: "delete", key: `k/${round + 1}` });
      assert.equal(await stateBinSize(view.stateBinPlan()), whole.length, "the old view is unchanged");
    }
    const last = await all(s.snapshot().stateBin());
    assert.equal(await stateBinSize(s.snapshot().stateBinPlan()), last.length);
  });
});

describe("smallStateBin", () => {
  const entry = (i: number, bytes: number): DirEntry => ({
    CreateIndex: i,
    Flags: 0n,
    Key: `k/${i}`,
    LockIndex: 0,
    ModifyIndex: i,
    Session: "",
    Value: new Uint8Array(bytes).fill(i & 0xff),
  });
  const parts = (n: number, bytes: number): Part[] => [
    { type: 16, body: Uint8Array.of(0xc0) },
    Array.from({ length: n }, (_, i) => entry(i, bytes)),
  ];

  it("is state.bin whole up to the bound, null past it, and each result its own (the scratch is reused)", async () => {
    const header = { LastIndex: 7 };
    const small = parts(10, 100);
    const first = smallStateBin(planOf(header, small), 64 * 1024);
    const want = await stateBinBytes(header, flat(small));
    assert.deepEqual(first, want);
    // Near the bound, where the writer completes its first chunk early (it makes room for an upper bound).
    const near = parts(60, 1018);
    const nearWant = await stateBinBytes(header, flat(near));
    assert.ok(nearWant.length > 63 * 1024 && nearWant.length <= 64 * 1024, `${nearWant.length}`);
    let nearChunks = 0;
    for await (const _ of stateBinChunks(planOf(header, near))) nearChunks++;
    assert.equal(nearChunks, 2, "the case this checks: two chunks");
    assert.deepEqual(smallStateBin(planOf(header, near), 64 * 1024), nearWant);
    assert.equal(smallStateBin(planOf(header, near), nearWant.length - 1), null);
    assert.equal(smallStateBin(planOf(header, parts(200, 1000)), 64 * 1024), null);
    assert.deepEqual(first, want, "the first result outlived the calls after it");
  });
});
