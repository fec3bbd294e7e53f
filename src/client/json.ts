/**
 * JSON parsing that keeps uint64 fields exact. Consul writes `Flags`, `CreateIndex`, `ModifyIndex`, `LockIndex`
 * and raft indexes as full-digit JSON numbers (Go's uint64), and JSON.parse rounds any integer past 2^53.
 * Node 20's JSON.parse has no access to a number's source text (the reviver `context` arrives with V8 11.4,
 * Node 21+), so this is a small recursive-descent parser: an integer literal (no fraction, no exponent) that is
 * not a safe integer becomes a bigint; everything else is what JSON.parse gives. Callers then read uint64 fields
 * through `toU64`, which accepts both. Depth and size are bounded, since the input comes from the network.
 */

export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
}

export const JSON_DEPTH_MAX = 256;

const NUMBER_RE = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw U+0000-U+001F in strings; this range states that rule
const STRING_RE = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  parseDocument(): Json {
    const value = this.value(0);
    this.ws();
    if (this.pos !== this.text.length) this.fail("unexpected trailing data");
    return value;
  }

  private fail(what: string): never {
    throw new JsonSyntaxError(`invalid JSON at offset ${this.pos}: ${what}`);
  }

  private ws(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  private value(depth: number): Json {
    if (depth > JSON_DEPTH_MAX) this.fail(`nesting deeper than ${JSON_DEPTH_MAX}`);
    this.ws();
    const c = this.text[this.pos];
    if (c === "{") return this.object(depth);
    if (c === "[") return this.array(depth);
    if (c === '"') return this.string();
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    return this.fail("unexpected character");
  }

  private object(depth: number): Json {
    this.pos++;
    const out: { [key: string]: Json } = {};
    this.ws();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.fail("expected a string key");
      const key = this.string();
      this.ws();
      if (this.text[this.pos] !== ":") this.fail("expected ':'");
      this.pos++;
      // defineProperty, so a "__proto__" key is stored as data and never changes the prototype.
      Object.defineProperty(out, key, {
        value: this.value(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.ws();
      const c = this.text[this.pos++];
      if (c === "}") return out;
      if (c !== ",") this.fail("expected ',' or '}'");
    }
  }

  private array(depth: number): Json {
    this.pos++;
    const out: Json[] = [];
    this.ws();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.text[this.pos++];
      if (c === "]") return out;
      if (c !== ",") this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    STRING_RE.lastIndex = this.pos;
    const m = STRING_RE.exec(this.text);
    if (m === null) return this.fail("bad string");
    this.pos += m[0].length;
    return JSON.parse(m[0]) as string;
  }

  private number(): number | bigint {
    NUMBER_RE.lastIndex = this.pos;
    const m = NUMBER_RE.exec(this.text);
    if (m === null) return this.fail("bad number");
    this.pos += m[0].length;
    const n = Number(m[0]);
    const integer = m[1] === undefined && m[2] === undefined;
    return integer && !Number.isSafeInteger(n) ? BigInt(m[0]) : n;
  }
}

/** Parses JSON text; integers beyond ±(2^53−1) come back as bigint, exact. Throws JsonSyntaxError. */
export function parseJson(text: string): Json {
  return new Parser(text).parseDocument();
}

/** A uint64 field as bigint, exact whichever way the parser returned it. Throws on anything else. */
export function toU64(v: Json | undefined, field: string): bigint {
  if (typeof v === "bigint" && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (v === undefined || v === null) return 0n; // Go decodes a missing field as its zero value
  throw new JsonSyntaxError(`field ${field}: expected an unsigned 64-bit integer, got ${String(v)}`);
}

export function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function str(v: Json | undefined): string {
  return typeof v === "string" ? v : "";
}

export function num(v: Json | undefined): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return 0;
}

export function bool(v: Json | undefined): boolean {
  return v === true;
}
