import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigFileError } from "./config-file.js";
import { type ConfigKey, durationMs, readConfigKeys } from "./config-keys.js";
import { closestWord } from "./text.js";

const TABLE: Readonly<Record<string, ConfigKey>> = {
  name: { kind: "string" },
  on: { kind: "bool" },
  count: { kind: "int", min: 0 },
  tries: { kind: "int", min: 1 },
  peers: { kind: "strings" },
  mode: { kind: "string", check: (v) => (v === "fast" || v === "safe" ? undefined : 'use "fast" or "safe"') },
  "timing.every": { kind: "duration", min: 0 },
  "timing.meta": { kind: "stringMap" },
};

function read(obj: Record<string, unknown>, prefix = "") {
  return readConfigKeys(obj, TABLE, { file: "/c.json", prefix });
}

function refuses(obj: Record<string, unknown>, message: string, prefix = "") {
  assert.throws(
    () => read(obj, prefix),
    (e: unknown) => e instanceof ConfigFileError && e.message === message,
  );
}

describe("readConfigKeys", () => {
  it("returns every entry in document order, durations in milliseconds", () => {
    const got = read({
      on: true,
      timing: { every: "1m30s", meta: { a: "b" } },
      name: "n",
      count: 0,
      tries: 1,
      peers: ["x"],
      mode: "safe",
    });
    assert.deepEqual(
      got.map((e) => [e.path, e.value]),
      [
        ["on", true],
        ["timing.every", 90_000],
        ["timing.meta", { a: "b" }],
        ["name", "n"],
        ["count", 0],
        ["tries", 1],
        ["peers", ["x"]],
        ["mode", "safe"],
      ],
    );
  });

  it("refuses an unknown key by its full path, naming a near key of the same object", () => {
    refuses({ bogus: 1 }, 'config file "/c.json": "bogus" is not a config key');
    refuses(
      { timing: { evry: "1s" } },
      'config file "/c.json": "top.timing.evry" is not a config key (did you mean "top.timing.every"?)',
      "top.",
    );
    refuses({ nmae: "x" }, 'config file "/c.json": "nmae" is not a config key (did you mean "name"?)');
  });

  it("refuses a value of the wrong type, naming the type", () => {
    refuses({ on: "true" }, 'config file "/c.json": "on" must be a boolean');
    refuses({ count: 1.5 }, 'config file "/c.json": "count" must be an integer');
    refuses({ count: "3" }, 'config file "/c.json": "count" must be an integer');
    refuses({ name: null }, 'config file "/c.json": "name" must be a string');
    refuses({ peers: "a" }, 'config file "/c.json": "peers" must be an array of strings');
    refuses({ timing: 5 }, 'config file "/c.json": "timing" must be an object');
    refuses(
      { timing: { meta: { a: 1 } } },
      'config file "/c.json": "timing.meta" must be an object of strings',
    );
    refuses(
      { timing: { every: 60 } },
      'config file "/c.json": "timing.every" must be a duration string such as "30s", "1h" or "0"',
    );
  });

  it("refuses values below the key's bound and durations that are not Go's", () => {
    refuses({ count: -1 }, 'config file "/c.json": "count" cannot be -1: must not be negative');
    refuses({ tries: 0 }, 'config file "/c.json": "tries" cannot be 0: must be at least 1');
    refuses({ mode: "quick" }, 'config file "/c.json": "mode" cannot be "quick": use "fast" or "safe"');
    refuses(
      { timing: { every: "5" } },
      'config file "/c.json": "timing.every" cannot be "5": a duration needs a unit, such as "5s", "5m" or "5h"',
    );
    refuses(
      { timing: { every: "soon" } },
      'config file "/c.json": "timing.every" cannot be "soon": not a duration (write e.g. "30s", "1h30m" or "0")',
    );
    refuses(
      { timing: { every: "-1h" } },
      'config file "/c.json": "timing.every" cannot be "-1h": must not be negative',
    );
  });
});

describe("durationMs", () => {
  it("reads Go durations", () => {
    assert.equal(durationMs("0"), 0);
    assert.equal(durationMs("72h"), 72 * 3600_000);
    assert.equal(durationMs("1.5s"), 1500);
    assert.equal(durationMs("250us"), 0.25);
  });
});

describe("closestWord", () => {
  it("finds a candidate within two edits, fewer than half the word", () => {
    assert.equal(closestWord("intervall", ["interval", "retain"]), "interval");
    assert.equal(closestWord("retian", ["interval", "retain"]), "retain");
    assert.equal(closestWord("nmae", ["name", "on"]), "name");
    assert.equal(closestWord("ab", ["ba"]), undefined);
    assert.equal(closestWord("x", ["y", "ab"]), undefined);
    assert.equal(closestWord("bogus", ["server", "ui"]), undefined);
  });
});
