/**
 * The parser of Consul's filtering language, go-bexpr's grammar (hashicorp/go-bexpr grammar/grammar.peg). The
 * grammar is small and fixed, so this is a hand-written PEG-style recursive descent (ordered choice with
 * backtracking, as pigeon generates) rather than a parser toolkit: it keeps go-bexpr's precedence
 * (`or` < `and` < `not`), its whitespace rules (`in`, `contains`, `or`… need whitespace on both sides, `==`
 * and `!=` do not) and its error texts (`1:<col> (<offset>): rule <name>: <message>`, or `no match found,
 * expected: …` at the farthest position reached). The expected list is cairn's own approximation of pigeon's.
 */

import { goUnquote } from "../goquote.js";

export type MatchOp =
  | "=="
  | "!="
  | "in"
  | "not in"
  | "contains"
  | "not contains"
  | "is empty"
  | "is not empty"
  | "matches"
  | "not matches";

export type Expr =
  | { readonly kind: "and" | "or"; readonly left: Expr; readonly right: Expr }
  | { readonly kind: "not"; readonly operand: Expr }
  | {
      readonly kind: "match";
      readonly selector: readonly string[];
      readonly op: MatchOp;
      /** The raw value, coerced at evaluation to the selected field's type (as go-bexpr's MatchValue.Raw). */
      readonly value: string | null;
    };

/** A bad expression; `message` is go-bexpr's parse error text (pigeon's position prefix included). */
export class BexprSyntaxError extends Error {
  override name = "BexprSyntaxError";
}

/** Bound on nesting, so that a hostile `((((…` cannot exhaust the stack (go-bexpr bounds expressions too). */
const DEPTH_MAX = 200;

type Fail = null;
const FAIL: Fail = null;

class Parser {
  private farthest = 0;
  private expected = new Set<string>();
  private readonly errors: string[] = [];
  private depth = 0;

  constructor(private readonly src: string) {}

  parse(): Expr {
    const r = this.input();
    if (r === FAIL || this.errors.length > 0) {
      if (this.errors.length > 0) throw new BexprSyntaxError(this.errors.join("\n"));
      // pigeon sorts the expected list and puts EOF last.
      const exp = [...this.expected].filter((e) => e !== "EOF").sort();
      if (this.expected.has("EOF")) exp.push("EOF");
      const list = exp.length <= 1 ? (exp[0] ?? "") : `${exp.slice(0, -1).join(", ")} or ${exp.at(-1)}`;
      throw new BexprSyntaxError(`${this.pos(this.farthest)}: no match found, expected: ${list}`);
    }
    return r[0];
  }

  /** pigeon's position: line and column (1-based, in characters) and the offset. */
  private pos(at: number): string {
    const before = this.src.slice(0, at);
    const line = before.split("\n").length;
    const col = [...before.slice(before.lastIndexOf("\n") + 1)].length + 1;
    return `${line}:${col} (${new TextEncoder().encode(before).length})`;
  }

  private expect(at: number, what: string): Fail {
    if (at > this.farthest) {
      this.farthest = at;
      this.expected = new Set();
    }
    if (at === this.farthest) this.expected.add(what);
    return FAIL;
  }

  private error(at: number, rule: string, message: string): Fail {
    this.errors.push(`${this.pos(at)}: rule ${rule}: ${message}`);
    return FAIL;
  }

  private lit(at: number, s: string): number | Fail {
    return this.src.startsWith(s, at) ? at + s.length : this.expect(at, JSON.stringify(s));
  }

  /** `_`: one or more of space, tab, CR, LF. */
  private ws(at: number): number | Fail {
    let i = at;
    while (i < this.src.length && " \t\r\n".includes(this.src[i]!)) i++;
    return i > at ? i : this.expect(at, "[ \\t\\r\\n]");
  }

  private optWs(at: number): number {
    return this.ws(at) ?? at;
  }

  /** A sequence of whitespace-separated keywords with whitespace before (`_ "not" _ "in" _`). */
  private words(at: number, words: readonly string[], trailing: boolean): number | Fail {
    let i: number | Fail = at;
    for (const w of words) {
      i = this.ws(i);
      if (i === FAIL) return FAIL;
      i = this.lit(i, w);
      if (i === FAIL) return FAIL;
    }
    return trailing ? this.ws(i) : i;
  }

  private input(): [Expr, number] | Fail {
    const start = this.optWs(0);
    const r = this.or(start);
    if (r === FAIL) return FAIL;
    const end = this.optWs(r[1]);
    return end === this.src.length ? [r[0], end] : this.expect(end, "EOF");
  }

  /** Packrat memo of `or` by position: grouping retries the same text, which would otherwise be exponential. */
  private readonly orMemo = new Map<number, [Expr, number] | Fail>();

  private or(at: number): [Expr, number] | Fail {
    const memo = this.orMemo.get(at);
    if (memo !== undefined || this.orMemo.has(at)) return memo ?? FAIL;
    const r = this.orUncached(at);
    this.orMemo.set(at, r);
    return r;
  }

  private orUncached(at: number): [Expr, number] | Fail {
    return this.binary(
      at,
      "or",
      (i) => this.and(i),
      (i) => this.or(i),
    );
  }

  private and(at: number): [Expr, number] | Fail {
    return this.binary(
      at,
      "and",
      (i) => this.not(i),
      (i) => this.and(i),
    );
  }

  /** `left _ "<op>" _ right / left`: right-associative, as go-bexpr's OrExpression and AndExpression. */
  private binary(
    at: number,
    kind: "and" | "or",
    operand: (at: number) => [Expr, number] | Fail,
    self: (at: number) => [Expr, number] | Fail,
  ): [Expr, number] | Fail {
    const left = operand(at);
    if (left === FAIL) return FAIL;
    const op = this.words(left[1], [kind], true);
    if (op !== FAIL) {
      const right = self(op);
      if (right !== FAIL) return [{ kind, left: left[0], right: right[0] }, right[1]];
    }
    return left;
  }

  private not(at: number): [Expr, number] | Fail {
    if (++this.depth > DEPTH_MAX) {
      this.depth--;
      return this.error(at, "grouping", `expression nested deeper than ${DEPTH_MAX}`);
    }
    try {
      const kw = this.lit(at, "not");
      const after = kw === FAIL ? FAIL : this.ws(kw);
      if (after !== FAIL) {
        const inner = this.not(after);
        if (inner !== FAIL) {
          // go-bexpr folds `not not x` into `x`.
          const e = inner[0];
          return [e.kind === "not" ? e.operand : { kind: "not", operand: e }, inner[1]];
        }
      }
      return this.grouping(at);
    } finally {
      this.depth--;
    }
  }

  private grouping(at: number): [Expr, number] | Fail {
    const open = this.lit(at, "(");
    if (open !== FAIL) {
      const inner = this.or(this.optWs(open));
      if (inner !== FAIL) {
        const end = this.optWs(inner[1]);
        const close = this.lit(end, ")");
        if (close !== FAIL) return [inner[0], close];
      }
    }
    const m = this.match(at);
    if (m !== FAIL) return m;
    if (open !== FAIL) {
      const inner = this.or(this.optWs(open));
      if (inner !== FAIL && !this.src.startsWith(")", this.optWs(inner[1])))
        return this.error(this.optWs(inner[1]), "grouping", "Unmatched parentheses");
    }
    return FAIL;
  }

  private static readonly VALUE_OPS: readonly (readonly [MatchOp, readonly string[], boolean])[] = [
    ["contains", ["contains"], true],
    ["not contains", ["not", "contains"], true],
    ["matches", ["matches"], true],
    ["not matches", ["not", "matches"], true],
  ];

  private match(at: number): [Expr, number] | Fail {
    const sel = this.selector(at);
    if (sel !== FAIL) {
      // Selector (== / != / contains / not contains / matches / not matches) Value
      for (const eq of ["==", "!="] as const) {
        const i = this.lit(this.optWs(sel[1]), eq);
        if (i === FAIL) continue;
        const v = this.value(this.optWs(i));
        if (v !== FAIL) return [{ kind: "match", selector: sel[0], op: eq, value: v[0] }, v[1]];
        return FAIL;
      }
      for (const [op, words] of Parser.VALUE_OPS) {
        const i = this.words(sel[1], words, true);
        if (i === FAIL) continue;
        const v = this.value(i);
        if (v !== FAIL) return [{ kind: "match", selector: sel[0], op, value: v[0] }, v[1]];
        return FAIL;
      }
      // Selector is empty / is not empty
      for (const [op, words] of [
        ["is empty", ["is", "empty"]],
        ["is not empty", ["is", "not", "empty"]],
      ] as const) {
        const i = this.words(sel[1], words, false);
        if (i !== FAIL) return [{ kind: "match", selector: sel[0], op, value: null }, i];
      }
    }
    // Value (in / not in) Selector
    const v = this.value(at);
    if (v === FAIL) return FAIL;
    for (const [op, words] of [
      ["in", ["in"]],
      ["not in", ["not", "in"]],
    ] as const) {
      const i = this.words(v[1], words, true);
      if (i === FAIL) continue;
      const s = this.selector(i);
      if (s !== FAIL) return [{ kind: "match", selector: s[0], op, value: v[0] }, s[1]];
      return this.error(i, "match", "Invalid selector");
    }
    return FAIL;
  }

  /** Identifier ("." Identifier / "[" string "]" / "." digits)* */
  private selector(at: number): [string[], number] | Fail {
    const first = this.identifier(at);
    if (first === FAIL) return FAIL;
    const path = [first[0]];
    let i = first[1];
    for (;;) {
      if (this.src[i] === ".") {
        const id = this.identifier(i + 1) ?? this.digits(i + 1);
        if (id === FAIL) break;
        path.push(id[0]);
        i = id[1];
        continue;
      }
      if (this.src[i] === "[") {
        const j = this.optWs(i + 1);
        const s = this.string(j);
        if (s === FAIL) {
          this.error(j, "index", "Invalid index");
          break;
        }
        const k = this.optWs(s[1]);
        if (this.src[k] !== "]") {
          this.expect(k, '"]"');
          this.error(k, "index", "Unclosed index expression");
          break;
        }
        path.push(s[0]);
        i = k + 1;
        continue;
      }
      break;
    }
    // What could have continued the selector, in pigeon's notation (Consul issue #6467 shows such a list).
    for (const more of ['"."', '"["', "[a-zA-Z0-9_/]"]) this.expect(i, more);
    return [path, i];
  }

  private identifier(at: number): [string, number] | Fail {
    const m = /^[a-zA-Z][a-zA-Z0-9_/]*/.exec(this.src.slice(at));
    return m === null ? this.expect(at, "[a-zA-Z]") : [m[0], at + m[0].length];
  }

  private digits(at: number): [string, number] | Fail {
    const m = /^[0-9]+/.exec(this.src.slice(at));
    return m === null ? FAIL : [m[0], at + m[0].length];
  }

  /** Value: a selector (its text, dotted), a number or a string. */
  private value(at: number): [string, number] | Fail {
    const sel = this.selector(at);
    if (sel !== FAIL) return [sel[0].join("."), sel[1]];
    const n = this.number(at);
    if (n !== FAIL) return n;
    return this.string(at);
  }

  private number(at: number): [string, number] | Fail {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?/.exec(this.src.slice(at));
    if (m === null) {
      for (const first of ['"-"', '"0"', "[1-9]"]) this.expect(at, first);
      return FAIL;
    }
    const end = at + m[0].length;
    const next = this.src[end];
    if (next === undefined || next === ")" || " \t\r\n".includes(next)) return [m[0], end];
    return this.error(end, "number", "Invalid number literal");
  }

  /** A Go string literal: backquoted raw, or double-quoted with Go's escapes (strconv.Unquote). */
  private string(at: number): [string, number] | Fail {
    const q = this.src[at];
    if (q !== "`" && q !== '"') {
      this.expect(at, '"\\""');
      return this.expect(at, '"`"');
    }
    const end = this.src.indexOf(q, at + 1);
    if (end === -1) {
      return this.error(this.src.length, "string", "Unterminated string literal");
    }
    const body = this.src.slice(at + 1, end);
    if (q === "`") return [body.replaceAll("\r", ""), end + 1];
    // go-bexpr's DoubleStringChar is any character but `"` (so `\"` ends the literal, as in go-bexpr);
    // strconv.Unquote then rejects bad escapes with "invalid syntax".
    const unquoted = goUnquote(body);
    if (unquoted === undefined) this.error(at, "string", "invalid syntax");
    return [unquoted ?? "", end + 1];
  }
}

/** Parses a filter expression; a bad one throws BexprSyntaxError with go-bexpr's text. */
export function parseBexpr(src: string): Expr {
  return new Parser(src).parse();
}
