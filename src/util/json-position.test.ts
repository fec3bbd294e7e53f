import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jsonErrorOffset, jsonErrorPlace } from "./json-position.js";

describe("jsonErrorOffset", () => {
  const cases: [string, number][] = [
    ["", 0],
    ["x", 0],
    ['{"a": x}', 6],
    ['{"a":1,}', 7],
    ['{"a" 1}', 5],
    ['{"server": tr', 13],
    ["[1] 2", 4],
    ['{"a":"\\q"}', 7],
    ['{"a":"\\u12G4"}', 10],
    ['["a\tb"]', 3],
    ["[01]", 2],
    ["[1.]", 2],
    ["[-]", 1],
    ["{'a':1}", 1],
    ["[1,2", 4],
    ["[nul]", 4],
  ];
  for (const [text, want] of cases) {
    it(JSON.stringify(text), () => {
      assert.throws(() => JSON.parse(text));
      assert.equal(jsonErrorOffset(text), want);
    });
  }
  it("finds nothing in valid JSON", () => {
    for (const text of ['{"a":[1,-2.5e3,true,false,null,"\\u00e9\\n"],"b":{}}', " [ ] ", '"s"']) {
      JSON.parse(text);
      assert.equal(jsonErrorOffset(text), text.length);
    }
  });
});

describe("jsonErrorPlace", () => {
  it("gives the line and column of the error and V8's reason without its position", () => {
    const text = '{\n  "a": 1,\n  "b" 2\n}';
    let err: unknown;
    try {
      JSON.parse(text);
    } catch (e) {
      err = e;
    }
    assert.match(jsonErrorPlace(text, err), /^line 3, column 7: /);
    assert.doesNotMatch(jsonErrorPlace(text, err), /position/);
  });
});
