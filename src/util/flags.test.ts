import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FlagError,
  flag,
  HelpRequested,
  parseFlags,
  parseGoDurationNs,
  parseGoInt,
  parseGoUint,
} from "./flags.js";

const defs = {
  s: flag.string("dflt", "a string"),
  b: flag.bool(false, "a bool"),
  n: flag.int(7, "an int"),
  u: flag.uint64(0n, "a uint64"),
  d: flag.duration(0, "a duration"),
  l: flag.list("a list"),
};

interface Case {
  readonly argv: string[];
  readonly want?: Partial<Record<keyof typeof defs, unknown>>;
  readonly rest?: string[];
  readonly err?: string;
}

// Expectations follow Go's flag package (go doc flag; src/flag/flag.go parseOne).
const cases: Case[] = [
  { argv: [], want: { s: "dflt", b: false, n: 7, u: 0n, d: 0, l: [] }, rest: [] },
  { argv: ["-s=x"], want: { s: "x" }, rest: [] },
  { argv: ["-s", "x"], want: { s: "x" }, rest: [] },
  { argv: ["--s=x"], want: { s: "x" }, rest: [] },
  { argv: ["--s", "x"], want: { s: "x" }, rest: [] },
  { argv: ["-s="], want: { s: "" }, rest: [] },
  { argv: ["-s", "-b"], want: { s: "-b", b: false }, rest: [] }, // a value may start with '-'
  { argv: ["-s=a=b"], want: { s: "a=b" }, rest: [] },
  { argv: ["-b"], want: { b: true }, rest: [] },
  { argv: ["--b"], want: { b: true }, rest: [] },
  { argv: ["-b=false"], want: { b: false }, rest: [] },
  { argv: ["-b=T"], want: { b: true }, rest: [] },
  { argv: ["-b=0"], want: { b: false }, rest: [] },
  { argv: ["-b", "false"], want: { b: true }, rest: ["false"] }, // `-b false` ends the flags at "false"
  { argv: ["-b=yes"], err: 'invalid boolean value "yes" for -b: parse error' },
  { argv: ["-b="], err: 'invalid boolean value "" for -b: parse error' },
  { argv: ["a", "-b"], want: { b: false }, rest: ["a", "-b"] }, // stops at the first non-flag
  { argv: ["-b", "--", "-s", "x"], want: { b: true, s: "dflt" }, rest: ["-s", "x"] },
  { argv: ["--", "--"], rest: ["--"] },
  { argv: ["-", "-b"], want: { b: false }, rest: ["-", "-b"] }, // a lone "-" is an argument
  { argv: ["-x"], err: "flag provided but not defined: -x" },
  { argv: ["--x=1"], err: "flag provided but not defined: -x" },
  { argv: ["---x"], err: "bad flag syntax: ---x" },
  { argv: ["-=x"], err: "bad flag syntax: -=x" },
  { argv: ["-s"], err: "flag needs an argument: -s" },
  { argv: ["-n", "12"], want: { n: 12 } },
  { argv: ["-n=-12"], want: { n: -12 } },
  { argv: ["-n=0x1F"], want: { n: 31 } },
  { argv: ["-n=010"], want: { n: 8 } },
  { argv: ["-n=0o17"], want: { n: 15 } },
  { argv: ["-n=0b101"], want: { n: 5 } },
  { argv: ["-n=1_000"], want: { n: 1000 } },
  { argv: ["-n=+5"], want: { n: 5 } },
  { argv: ["-n=x"], err: 'invalid value "x" for flag -n: parse error' },
  { argv: ["-n=08"], err: 'invalid value "08" for flag -n: parse error' },
  { argv: ["-n=_1"], err: 'invalid value "_1" for flag -n: parse error' },
  { argv: ["-n=1_"], err: 'invalid value "1_" for flag -n: parse error' },
  { argv: ["-n=1.5"], err: 'invalid value "1.5" for flag -n: parse error' },
  { argv: ["-n="], err: 'invalid value "" for flag -n: parse error' },
  {
    argv: ["-n=9223372036854775808"],
    err: 'invalid value "9223372036854775808" for flag -n: value out of range',
  },
  { argv: ["-u=18446744073709551615"], want: { u: 18446744073709551615n } },
  { argv: ["-u=9007199254740993"], want: { u: 9007199254740993n } },
  {
    argv: ["-u=18446744073709551616"],
    err: 'invalid value "18446744073709551616" for flag -u: value out of range',
  },
  { argv: ["-u=-1"], err: 'invalid value "-1" for flag -u: parse error' },
  { argv: ["-d=1h2m3s"], want: { d: 3_723_000 } },
  { argv: ["-d", "500ms"], want: { d: 500 } },
  { argv: ["-d=1.5h"], want: { d: 5_400_000 } },
  { argv: ["-d=0"], want: { d: 0 } },
  { argv: ["-d=-2s"], want: { d: -2000 } },
  { argv: ["-d=10"], err: 'invalid value "10" for flag -d: parse error' },
  { argv: ["-d=1x"], err: 'invalid value "1x" for flag -d: parse error' },
  { argv: ["-l=a", "-l", "b"], want: { l: ["a", "b"] } },
  { argv: ["-s=a", "-s=b"], want: { s: "b" } }, // the last one wins
  { argv: ["-s=\t"], want: { s: "\t" } },
  { argv: ["-n=\n"], err: 'invalid value "\\n" for flag -n: parse error' },
];

describe("parseFlags follows Go's flag package", () => {
  for (const c of cases) {
    it(JSON.stringify(c.argv), () => {
      if (c.err !== undefined) {
        assert.throws(
          () => parseFlags(defs, c.argv),
          (e: unknown) => e instanceof FlagError && e.message === c.err,
        );
        return;
      }
      const got = parseFlags(defs, c.argv);
      for (const [k, v] of Object.entries(c.want ?? {})) {
        assert.deepEqual(got.values[k as keyof typeof defs], v, `flag ${k}`);
      }
      if (c.rest !== undefined) assert.deepEqual(got.args, c.rest);
    });
  }

  it("signals help for -h, -help, --help unless defined", () => {
    for (const argv of [["-h"], ["-help"], ["--help"], ["-b", "-h"], ["-h=1"]]) {
      assert.throws(() => parseFlags(defs, argv), HelpRequested);
    }
    const own = { h: flag.bool(false, "own h") };
    assert.equal(parseFlags(own, ["-h"]).values.h, true);
  });

  it("records which flags were set", () => {
    const got = parseFlags(defs, ["-s=x", "-b", "rest"]);
    assert.deepEqual([...got.set].sort(), ["b", "s"]);
  });
});

describe("Go number and duration syntax", () => {
  it("parses uint64 at the edges exactly", () => {
    assert.equal(parseGoUint("0xffffffffffffffff"), 2n ** 64n - 1n);
    assert.equal(parseGoUint("0"), 0n);
    assert.throws(() => parseGoUint("0x"));
    assert.throws(() => parseGoUint("0x_"));
    assert.equal(parseGoUint("0x_1F"), 31n);
  });
  it("parses ints within the exact range of a JS number", () => {
    assert.equal(parseGoInt("-9007199254740991"), -9007199254740991);
    assert.throws(() => parseGoInt("9007199254740992"));
  });
  it("parses durations as Go does", () => {
    assert.equal(parseGoDurationNs("1h2m3s4ms5us6ns"), 3_723_004_005_006n);
    assert.equal(parseGoDurationNs("1µs"), 1000n);
    assert.equal(parseGoDurationNs("1μs"), 1000n);
    assert.equal(parseGoDurationNs(".5s"), 500_000_000n);
    assert.equal(parseGoDurationNs("1.s"), 1_000_000_000n);
    assert.equal(parseGoDurationNs("+0"), 0n);
    assert.equal(parseGoDurationNs("2562047h47m16.854775807s"), 2n ** 63n - 1n);
    for (const bad of ["", ".s", "1", "s", "1d", "1.5.s", "2562047h47m16.854775808s", "-"]) {
      assert.throws(() => parseGoDurationNs(bad), bad);
    }
  });
});
