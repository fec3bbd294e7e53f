import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WAIT_MS_DEFAULT } from "../api/blocking.js";
import {
  CatalogError,
  CommandLimitError,
  InvalidBehaviorError,
  InvalidKeyError,
  InvalidSessionError,
  RestoreError,
  SessionTtlError,
  WatchLimitError,
} from "../fsm/index.js";
import { ArchiveIntegrityError } from "../snapshot/index.js";
import { AssertionError, NotLeaderError, ProposalDroppedError, UnavailableError } from "../util/index.js";
import { errorResponse, HttpError } from "./errors.js";
import { goJson } from "./json.js";
import { encodeGoQuery, formatGoDuration, parseGoDurationMs, parseQueryOptions } from "./params.js";

describe("goJson", () => {
  it("writes bigints as digits, drops undefined fields, escapes as Go", () => {
    assert.equal(
      goJson({ a: 18446744073709551615n, b: undefined, c: "<&>\u2028", d: [], e: {} }),
      '{"a":18446744073709551615,"c":"\\u003c\\u0026\\u003e\\u2028","d":[],"e":{}}',
    );
    assert.equal(
      goJson([1, [true, null]], true),
      "[\n    1,\n    [\n        true,\n        null\n    ]\n]\n",
    );
    assert.equal(goJson({}, true), "{}\n");
  });
});

describe("Go durations", () => {
  it("formats as time.Duration.String", () => {
    const cases: [bigint, string][] = [
      [0n, "0s"],
      [999n, "999ns"],
      [1_500n, "1.5µs"],
      [12_000_000n, "12ms"],
      [1_234_567n, "1.234567ms"],
      [1_500_000_000n, "1.5s"],
      [90_000_000_000n, "1m30s"],
      [3_600_000_000_000n, "1h0m0s"],
      [-2_000_000n, "-2ms"],
    ];
    for (const [ns, s] of cases) assert.equal(formatGoDuration(ns), s);
  });

  it("parses as time.ParseDuration", () => {
    assert.equal(parseGoDurationMs("10s"), 10_000);
    assert.equal(parseGoDurationMs("100ms"), 100);
    assert.equal(parseGoDurationMs("5m"), 300_000);
    assert.equal(parseGoDurationMs("1h2m"), 3_720_000);
    assert.equal(parseGoDurationMs("0"), 0);
    assert.equal(parseGoDurationMs("10"), null);
    assert.equal(parseGoDurationMs(""), null);
  });

  it("wait defaults to 5 minutes when absent or not positive", () => {
    assert.equal(parseQueryOptions(new URLSearchParams("")).waitMs, WAIT_MS_DEFAULT);
    assert.equal(parseQueryOptions(new URLSearchParams("wait=0s")).waitMs, WAIT_MS_DEFAULT);
    assert.equal(parseQueryOptions(new URLSearchParams("wait=-1s")).waitMs, WAIT_MS_DEFAULT);
    assert.deepEqual(parseQueryOptions(new URLSearchParams("wait=1500ms&index=7")), {
      consistency: "default",
      minIndex: 7,
      waitMs: 1500,
    });
  });
});

describe("encodeGoQuery", () => {
  it("sorts keys and escapes as url.Values.Encode", () => {
    assert.equal(encodeGoQuery(new URLSearchParams("b=2&a=x y&a=%2F&c")), "a=x+y&a=%2F&b=2&c=");
  });
});

describe("errorResponse", () => {
  it("maps each error kind in one place", () => {
    const cases: [unknown, number, string][] = [
      [new HttpError(418, "teapot"), 418, "teapot"],
      [new NotLeaderError(0), 500, "No cluster leader"],
      [new NotLeaderError(3), 500, "No cluster leader"],
      [new UnavailableError("no quorum"), 500, "No cluster leader"],
      [new InvalidSessionError("x"), 500, 'invalid session "x"'],
      [new InvalidSessionError(""), 500, "missing session"],
      [new SessionTtlError("Invalid Session TTL '1'"), 500, "Invalid Session TTL '1'"],
      [new InvalidBehaviorError("Invalid Behavior setting 'x'"), 500, "Invalid Behavior setting 'x'"],
      [new CatalogError("Missing node registration"), 500, "Missing node registration"],
      [new RestoreError("bad record"), 500, "bad record"],
      [new CommandLimitError("too big"), 413, "too big"],
      [new ArchiveIntegrityError("snapshot_integrity", "hash check failed"), 500, "hash check failed"],
      [new InvalidKeyError("bad key"), 400, "bad key"],
      [new WatchLimitError("too many"), 429, "too many"],
      [new ProposalDroppedError(""), 500, "proposal dropped"],
      [new Error("boom"), 500, "boom"],
      ["weird", 500, "weird"],
    ];
    for (const [err, status, body] of cases) {
      const res = errorResponse(err);
      assert.equal(res.status, status, String(err));
      assert.equal(res.body, body);
      assert.equal(res.headers["Content-Type"], "text/plain; charset=utf-8");
    }
  });

  it("rethrows an AssertionError: a bug is not an HTTP answer", () => {
    assert.throws(() => errorResponse(new AssertionError("invariant")), AssertionError);
  });
});
