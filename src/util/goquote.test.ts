import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { goQuote, goUnquote } from "./goquote.js";

describe("goUnquote", () => {
  it("undoes goQuote for every well-formed string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        assert.equal(goUnquote(goQuote(s).slice(1, -1)), s);
      }),
      { numRuns: 500 },
    );
  });

  it("resolves Go's escapes", () => {
    assert.equal(goUnquote(String.raw`a\"b\\c\n\t\x41\101\u00e9\U0001F600\'`), "a\"b\\c\n\tAAé😀'");
  });

  it("rejects what strconv.Unquote calls invalid syntax", () => {
    for (const bad of [
      String.raw`\q`,
      "\\",
      String.raw`\x4`,
      String.raw`\400`,
      String.raw`\ud800`,
      String.raw`\U00110000`,
      "a\nb",
    ]) {
      assert.equal(goUnquote(bad), undefined, bad);
    }
  });
});
