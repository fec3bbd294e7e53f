import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decode } from "@msgpack/msgpack";
import fc from "fast-check";
import { type Decoded, decodeGo, encodeGo, Float32, Float64, type GoValue, scanValue } from "./gomsgpack.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const utf8 = new TextEncoder();

describe("encodeGo shapes (Go's go-msgpack)", () => {
  it("picks the smallest unsigned width for non-negative integers", () => {
    const cases: [number | bigint, string][] = [
      [0, "00"],
      [127, "7f"],
      [128, "cc80"],
      [255, "ccff"],
      [256, "cd0100"],
      [65535, "cdffff"],
      [65536, "ce00010000"],
      [2 ** 32 - 1, "ceffffffff"],
      [2 ** 32, "cf0000000100000000"],
      [3304740253564472344n, "cf2ddccbc058a50c18"],
      [2n ** 64n - 1n, "cfffffffffffffffff"],
    ];
    for (const [v, want] of cases) assert.equal(hex(encodeGo(v)), want, `value ${v}`);
  });

  it("picks the smallest signed width for negative integers", () => {
    const cases: [number | bigint, string][] = [
      [-1, "ff"],
      [-32, "e0"],
      [-33, "d0df"],
      [-128, "d080"],
      [-129, "d1ff7f"],
      [-32768, "d18000"],
      [-32769, "d2ffff7fff"],
      [-(2 ** 31), "d280000000"],
      [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
      [-(2n ** 63n), "d38000000000000000"],
    ];
    for (const [v, want] of cases) assert.equal(hex(encodeGo(v)), want, `value ${v}`);
  });

  it("writes strings and byte slices as fixstr, str16 or str32, never str8 or bin", () => {
    const header = (n: number): string =>
      hex(encodeGo(new Uint8Array(n))).slice(0, n < 32 ? 2 : n <= 0xffff ? 6 : 10);
    assert.equal(header(0), "a0");
    assert.equal(header(31), "bf");
    assert.equal(header(32), "da0020");
    assert.equal(header(255), "da00ff");
    assert.equal(header(65535), "daffff");
    assert.equal(header(65536), "db00010000");
    assert.equal(hex(encodeGo("héllo")), `a6${Buffer.from("héllo").toString("hex")}`);
  });

  it("writes nil, bools, floats and containers as Go does", () => {
    assert.equal(hex(encodeGo(null)), "c0");
    assert.equal(hex(encodeGo([true, false])), "92c3c2");
    assert.equal(hex(encodeGo(new Float64(0))), "cb0000000000000000");
    assert.equal(hex(encodeGo(1.5)), "cb3ff8000000000000");
    assert.equal(hex(encodeGo(new Float32(1.5))), "ca3fc00000");
    assert.equal(hex(encodeGo(new Array(16).fill(0))).slice(0, 6), "dc0010");
    const big = Object.fromEntries(
      Array.from({ length: 16 }, (_, i) => [`k${String(i).padStart(2, "0")}`, i]),
    );
    assert.equal(hex(encodeGo(big)).slice(0, 6), "de0010");
  });

  it("sorts struct fields by byte value and keeps a Map's order", () => {
    assert.equal(hex(encodeGo({ b: 1, a: 2, B: 3, skipped: undefined })), "83a142" + "03a16102a16201");
    const m = new Map<string, GoValue>([
      ["z", 1],
      ["a", 2],
    ]);
    assert.equal(hex(encodeGo(m)), "82a17a01a16102");
  });

  it("reproduces the legacy raft Peers value of a real meta.json", () => {
    const peers = encodeGo([utf8.encode("127.0.0.1:8300")]);
    assert.equal(Buffer.from(peers).toString("base64"), "ka4xMjcuMC4wLjE6ODMwMA==");
  });
});

/** What @msgpack/msgpack (rawStrings, useBigInt64, narrowed) must return for a value encodeGo wrote. */
function model(v: GoValue): Decoded {
  if (v === null || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isSafeInteger(v) ? v + 0 : v; // +0 folds -0 like Go's int path
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (typeof v === "string") return utf8.encode(v);
  if (v instanceof Uint8Array) return v;
  if (v instanceof Float64) return v.value;
  if (v instanceof Float32) return Math.fround(v.value);
  if (Array.isArray(v)) return (v as readonly GoValue[]).map(model);
  const entries = v instanceof Map ? [...(v as ReadonlyMap<string, GoValue>)] : Object.entries(v);
  const out: { [k: string]: Decoded } = {};
  for (const [k, item] of entries) if (item !== undefined) out[k] = model(item as GoValue);
  return out;
}

const key = fc.string({ unit: "grapheme-ascii", maxLength: 12 }).filter((k) => k !== "__proto__");
const scalar: fc.Arbitrary<GoValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -(2 ** 31) - 5, max: 2 ** 32 + 5 }),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ minLength: 30, maxLength: 300 }),
  fc.uint8Array({ maxLength: 80 }),
  fc.double({ noNaN: true }).map((d) => new Float64(d)),
  fc.double({ noNaN: true, noInteger: true }),
);
const { value: goValue } = fc.letrec<{ value: GoValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 20 }),
    fc.dictionary(key, tie("value"), { maxKeys: 20 }),
    fc
      .uniqueArray(fc.tuple(key, tie("value")), { selector: (e) => e[0], maxLength: 18 })
      .map((e) => new Map(e)),
  ),
}));

describe("encodeGo against @msgpack/msgpack decode (property)", () => {
  it("round-trips every value", () => {
    fc.assert(
      fc.property(goValue, (v) => {
        const bytes = encodeGo(v);
        assert.deepStrictEqual(decodeGo(bytes), model(v));
        const plain = decode(bytes, { rawStrings: true, useBigInt64: true });
        assert.ok(plain !== undefined);
      }),
      { numRuns: 400 },
    );
  });

  it("finds each value's end exactly, and asks for more on every strict prefix", () => {
    fc.assert(
      fc.property(goValue, (v) => {
        const bytes = encodeGo(v);
        assert.equal(scanValue(bytes, 0), bytes.length);
        for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 17))) {
          const need = -scanValue(bytes.subarray(0, cut), 0);
          assert.ok(need > cut && need <= bytes.length, `prefix ${cut}/${bytes.length} asked for ${need}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses the never-used byte 0xc1 and ext values", () => {
    assert.throws(() => scanValue(Uint8Array.of(0x91, 0xc1), 0), /invalid byte 0xc1/);
    assert.throws(() => decodeGo(Uint8Array.of(0xd4, 0x01, 0x00)), { code: "snapshot_msgpack" });
  });
});
