import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JSON_DEPTH_MAX, JsonSyntaxError, parseJson, toU64 } from "./json.js";

describe("parseJson keeps uint64 exact", () => {
  it("returns bigint only for integers past 2^53", () => {
    const v = parseJson(
      '{"a":18446744073709551615,"b":9007199254740991,"c":9007199254740993,"d":1.5,"e":1e300}',
    );
    assert.deepEqual(v, {
      a: 18446744073709551615n,
      b: 9007199254740991,
      c: 9007199254740993n,
      d: 1.5,
      e: 1e300,
    });
  });
  it("matches JSON.parse on ordinary documents", () => {
    const docs = [
      '[1,-2,0.5,"x\\u00e9\\n",true,false,null,{}]',
      ' { "k" : [ [ ] , { "z" : "" } ] } ',
      '"\\/"',
      "-0",
    ];
    for (const d of docs) assert.deepEqual(parseJson(d), JSON.parse(d));
  });
  it("rejects what JSON.parse rejects", () => {
    for (const bad of ["", "01", "[1,]", '{"a"}', "tru", '"\t"', "1 2", "{'a':1}", "+1", ".5", "[", "NaN"]) {
      assert.throws(() => parseJson(bad), JsonSyntaxError, bad);
    }
  });
  it("bounds nesting", () => {
    assert.throws(() => parseJson("[".repeat(JSON_DEPTH_MAX + 2)), JsonSyntaxError);
  });
  it("stores __proto__ as data", () => {
    const v = parseJson('{"__proto__":{"x":1}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ["__proto__"]);
  });
  it("reads uint64 fields through toU64", () => {
    assert.equal(toU64(5, "f"), 5n);
    assert.equal(toU64(18446744073709551615n, "f"), 18446744073709551615n);
    assert.equal(toU64(undefined, "f"), 0n);
    assert.throws(() => toU64(-1, "f"));
    assert.throws(() => toU64(1.5, "f"));
    assert.throws(() => toU64(18446744073709551616n, "f"));
  });
});
