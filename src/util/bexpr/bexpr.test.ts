import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFilter, evaluate, parseBexpr } from "./index.js";

const REDIS = {
  ID: "redis3",
  Service: "redis",
  Tags: ["primary", "qa"],
  Meta: { env: "qa", "dotted.key": "x" },
  Port: 1234,
  Address: "",
  Weights: { Passing: 1, Warning: 1 },
  EnableTagOverride: false,
  Nested: { Inner: { Name: "deep" } },
};

function check(expr: string, datum: unknown = REDIS): boolean {
  return evaluate(parseBexpr(expr), datum);
}

function syntaxError(expr: string): string {
  try {
    createFilter(expr);
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail(`${expr} parsed`);
}

describe("go-bexpr: matching operators", () => {
  it("== and != on strings, numbers and booleans, with quoted, backquoted and bare values", () => {
    assert.equal(check('Service == "redis"'), true);
    assert.equal(check("Service == `redis`"), true);
    assert.equal(check("Service==redis"), true, "== needs no whitespace; a bare value is a selector's text");
    assert.equal(check('Service != "redis"'), false);
    assert.equal(check("Port == 1234"), true);
    assert.equal(check('Port == "1234"'), true, "the raw value is coerced to the field's type");
    assert.equal(check("Port != 1235"), true);
    assert.equal(check("EnableTagOverride == false"), true);
    assert.equal(check("EnableTagOverride == true"), false);
    assert.equal(check("Weights.Passing == 1"), true);
    assert.equal(check('Nested.Inner.Name == "deep"'), true);
  });

  it("in, not in, contains, not contains on lists, maps (keys) and strings (substrings)", () => {
    assert.equal(check('"primary" in Tags'), true);
    assert.equal(check('"secondary" in Tags'), false);
    assert.equal(check('"secondary" not in Tags'), true);
    assert.equal(check('Tags contains "qa"'), true);
    assert.equal(check('Tags not contains "qa"'), false);
    assert.equal(check('"env" in Meta'), true);
    assert.equal(check('"edi" in Service'), true);
    assert.equal(check('Service contains "dis"'), true);
    assert.equal(check('Service not contains "x"'), true);
  });

  it("is empty and is not empty on strings, lists and maps", () => {
    assert.equal(check("Address is empty"), true);
    assert.equal(check("Tags is empty"), false);
    assert.equal(check("Tags is not empty"), true);
    assert.equal(check("Meta is not empty"), true);
  });

  it("matches and not matches (regular expressions, unanchored)", () => {
    assert.equal(check('Service matches "^re"'), true);
    assert.equal(check('Service matches "dis$"'), true);
    assert.equal(check('Service not matches "^x"'), true);
    assert.equal(check('Service matches "[0-9]"'), false);
  });

  it("map access by dots or by index, and keys that are not selectors", () => {
    assert.equal(check('Meta.env == "qa"'), true);
    assert.equal(check('Meta["env"] == "qa"'), true);
    assert.equal(check('Meta[ "dotted.key" ] == "x"'), true);
  });

  it("a key missing from a map matches nothing (go-bexpr's NotPresentDisposition)", () => {
    assert.equal(check('Meta.absent == "x"'), false);
    assert.equal(check('Meta.absent != "x"'), true);
    assert.equal(check("Meta.absent is empty"), true);
    assert.equal(check("Meta.absent is not empty"), false);
    assert.equal(check('"a" in Meta.absent'), false);
    assert.equal(check('"a" not in Meta.absent'), true);
    assert.equal(check('Meta.absent matches "x"'), false);
    assert.equal(check('Meta.absent not matches "x"'), true);
  });

  it("field names are case-sensitive (pointerstructure matches struct fields exactly)", () => {
    assert.throws(() => check('service == "redis"'), /couldn't find key: struct field with name "service"/);
  });

  it("a value of the wrong type for the field is an error, as strconv's", () => {
    assert.throws(() => check('Port == "abc"'), /error getting match value in expression: strconv.ParseInt/);
    assert.throws(() => check("EnableTagOverride == maybe"), /strconv.ParseBool: parsing "maybe"/);
    assert.throws(() => check("Port is empty"), /cannot perform is-empty operations on type int/);
    assert.throws(() => check('Port matches "1"'), /not convertible to \[\]byte/);
  });
});

describe("go-bexpr: logic and precedence", () => {
  it("and, or, not, and parentheses", () => {
    assert.equal(check('Service == "redis" and Port == 1234'), true);
    assert.equal(check('Service == "redis" and Port == 1'), false);
    assert.equal(check('Service == "x" or Port == 1234'), true);
    assert.equal(check('not Service == "x"'), true);
    assert.equal(check('not not Service == "redis"'), true);
    assert.equal(check('( Service == "x" )'), false);
  });

  it("not binds tighter than and, and tighter than or", () => {
    // `A and not B or C` is `(A and (not B)) or C`: with A false and C true it holds.
    assert.equal(check('Port == 1 and not Service == "x" or Service == "redis"'), true);
    // With A true, B true and C false: false; reading it as `A and not (B or C)` would give the same, so also
    // check `A or B and C` with A true, B false: `A or (B and C)` holds, `(A or B) and C` would not.
    assert.equal(check('Service == "redis" or Port == 1 and Port == 2'), true);
    assert.equal(check('(Service == "redis" or Port == 1) and Port == 2'), false);
  });

  it("keywords need whitespace around them; == does not", () => {
    assert.match(syntaxError('Service=="redis"and Port==1234'), /no match found/);
    assert.equal(check('Service=="redis" and Port==1234'), true);
  });
});

describe("go-bexpr: errors with Consul's texts", () => {
  it("prefixes go-bexpr's parse error as Consul does", () => {
    assert.equal(
      syntaxError('(Service == "redis"'),
      "Failed to create boolean expression evaluator: 1:20 (19): rule grouping: Unmatched parentheses",
    );
    assert.equal(
      syntaxError('Service == "redis'),
      "Failed to create boolean expression evaluator: 1:18 (17): rule string: Unterminated string literal",
    );
    assert.equal(
      syntaxError('"a" in "b"'),
      "Failed to create boolean expression evaluator: 1:8 (7): rule match: Invalid selector",
    );
    assert.equal(
      syntaxError("Port == 12ab"),
      "Failed to create boolean expression evaluator: 1:11 (10): rule number: Invalid number literal",
    );
    assert.match(syntaxError("Meta[env] == 1"), /rule index: Invalid index/);
    assert.match(syntaxError('Meta["env" == 1'), /rule index: Unclosed index expression/);
  });

  it("an expression that does not parse reports the farthest position reached", () => {
    assert.match(
      syntaxError("Service =="),
      /^Failed to create boolean expression evaluator: 1:11 \(10\): no match found, expected: /,
    );
    assert.match(syntaxError(""), /1:1 \(0\): no match found/);
    assert.match(syntaxError('Service == "a" and'), /no match found/);
    assert.match(
      syntaxError('Service == "a" oregon'),
      /1:18 \(17\): no match found, expected: \[ \\t\\r\\n\]$/,
    );
    assert.match(syntaxError('not(Service == "a")'), /no match found/, "`not` needs whitespace after it");
  });

  it("lists what was expected as pigeon does (sorted, EOF last), as in Consul issue #6467", () => {
    assert.equal(
      syntaxError("Node==host-name"),
      'Failed to create boolean expression evaluator: 1:11 (10): no match found, expected: ".", "[", [ \\t\\r\\n], [a-zA-Z0-9_/] or EOF',
    );
  });

  it("deep nesting is refused, not a stack overflow", () => {
    assert.match(syntaxError(`${"(".repeat(5000)}a == 1${")".repeat(5000)}`), /nested deeper than/);
  });
});
