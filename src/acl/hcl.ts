/**
 * The syntax of Consul's ACL rules: HCL version 1 (hashicorp/hcl v1, which acl/policy_ce.go `decodeRules`
 * calls), and its JSON form. npm has no well-kept parser for HCL1: the HCL2 packages are Terraform-oriented
 * WASM builds and cdktf is discontinued. So this is a small hand-written parser for the subset a policy uses,
 * into a generic tree that rules.ts decodes the same way whichever form the text came in:
 *
 * - items `keys… = value` and `keys… { items }`, keys being identifiers or quoted strings (`key "a" { … }`,
 *   `key = { a = { … } }` and `key { a { … } }` are one thing, as in HCL1), separated by newlines or commas;
 * - values: strings with Go's escapes, numbers, `true`/`false`, objects `{ … }`, lists `[ … ]`;
 * - comments `#`, `//` and `/* … *\/`.
 *
 * Not supported, with a clear error: heredocs (`<<EOF`) and single-quoted strings. As HCL1's parser does, an
 * attribute (`name = value`) set twice in one object is an error, `The argument "policy" at 1:31 was already
 * set. Each argument can only be defined once`; repeated blocks (`key "a" {…}` twice) are not. Input whose first
 * non-blank character is `{` is JSON (HCL1's lexMode); JSON objects become items with `=`. JSON.parse keeps the
 * last of repeated JSON keys, where HCL's JSON parser keeps them all.
 */

import { goUnquote } from "../util/goquote.js";

export interface Pos {
  readonly line: number;
  readonly column: number;
}

export type HclValue =
  | { readonly kind: "string"; readonly value: string; readonly pos: Pos }
  | { readonly kind: "number"; readonly text: string; readonly pos: Pos }
  | { readonly kind: "bool"; readonly value: boolean; readonly pos: Pos }
  | { readonly kind: "object"; readonly items: readonly HclItem[]; readonly pos: Pos }
  | { readonly kind: "list"; readonly elems: readonly HclValue[]; readonly pos: Pos };

export interface HclKey {
  readonly text: string;
  readonly pos: Pos;
}

export interface HclItem {
  readonly keys: readonly HclKey[];
  /** `keys = value` (true) or a block `keys { … }` (false). */
  readonly assign: boolean;
  readonly value: HclValue;
}

/** A syntax error; `message` is HCL1's style, `At <line>:<column>: …`, or the duplicate-argument text. */
export class HclSyntaxError extends Error {
  override name = "HclSyntaxError";
}

/** Bound on nesting, so that a hostile `{{{{…` cannot exhaust the stack (a policy needs three levels). */
const DEPTH_MAX = 32;

/** Whether Consul's HCL library would read `text` as JSON: its first non-blank character is `{`. */
export function isJsonForm(text: string): boolean {
  return /^\s*\{/.test(text);
}

/**
 * Parses HCL1 or its JSON form into the items of the top-level object. `allowDuplicates` skips the
 * duplicate-argument check (hcl.Decode rather than hcl.DecodeErrorOnDuplicates).
 */
export function parseHcl(text: string, allowDuplicates = false): HclItem[] {
  if (isJsonForm(text)) return parseJsonForm(text);
  const parser = new Parser(text, allowDuplicates);
  return parser.body();
}

type TokenKind = "ident" | "string" | "number" | "{" | "}" | "[" | "]" | "=" | "," | "eof";

interface Token {
  readonly kind: TokenKind;
  /** The identifier, the unquoted string, or the number's text. */
  readonly text: string;
  readonly pos: Pos;
}

const TOKEN_NAMES: Readonly<Record<TokenKind, string>> = {
  ident: "IDENT",
  string: "STRING",
  number: "NUMBER",
  "{": "LBRACE",
  "}": "RBRACE",
  "[": "LBRACK",
  "]": "RBRACK",
  "=": "ASSIGN",
  ",": "COMMA",
  eof: "EOF",
};

class Lexer {
  private offset = 0;
  private line = 1;
  private column = 1;

  constructor(private readonly src: string) {}

  next(): Token {
    this.skipBlankAndComments();
    const pos = this.pos();
    const ch = this.src[this.offset];
    if (ch === undefined) return { kind: "eof", text: "", pos };
    if ("{}[]=,".includes(ch)) {
      this.advance();
      return { kind: ch as TokenKind, text: ch, pos };
    }
    if (ch === '"') return { kind: "string", text: this.string(pos), pos };
    if (/[0-9]/.test(ch) || (ch === "-" && /[0-9]/.test(this.src[this.offset + 1] ?? ""))) {
      const m = /^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.src.slice(this.offset))!;
      this.advanceBy(m[0].length);
      return { kind: "number", text: m[0], pos };
    }
    if (/[A-Za-z_]/.test(ch)) {
      // HCL1 identifiers also take digits, '-' and '.' after the first character.
      const m = /^[A-Za-z_][A-Za-z0-9_\-.]*/.exec(this.src.slice(this.offset))!;
      this.advanceBy(m[0].length);
      return { kind: "ident", text: m[0], pos };
    }
    if (ch === "<" && this.src[this.offset + 1] === "<")
      throw this.error(pos, "heredoc strings are not supported");
    if (ch === "'") throw this.error(pos, "single-quoted strings are not supported; use double quotes");
    throw this.error(pos, `illegal char ${JSON.stringify(ch)}`);
  }

  private pos(): Pos {
    return { line: this.line, column: this.column };
  }

  error(pos: Pos, message: string): HclSyntaxError {
    return new HclSyntaxError(`At ${pos.line}:${pos.column}: ${message}`);
  }

  private advance(): void {
    if (this.src[this.offset] === "\n") {
      this.line++;
      this.column = 1;
    } else {
      this.column++;
    }
    this.offset++;
  }

  private advanceBy(n: number): void {
    for (let i = 0; i < n; i++) this.advance();
  }

  private skipBlankAndComments(): void {
    for (;;) {
      const ch = this.src[this.offset];
      if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") {
        this.advance();
      } else if (ch === "#" || (ch === "/" && this.src[this.offset + 1] === "/")) {
        while (this.offset < this.src.length && this.src[this.offset] !== "\n") this.advance();
      } else if (ch === "/" && this.src[this.offset + 1] === "*") {
        const start = this.pos();
        const end = this.src.indexOf("*/", this.offset + 2);
        if (end < 0) throw this.error(start, "comment not terminated");
        this.advanceBy(end + 2 - this.offset);
      } else {
        return;
      }
    }
  }

  /** A double-quoted string with Go's escapes (HCL1 unquotes with strconv's rules). */
  private string(start: Pos): string {
    const from = this.offset + 1;
    let i = from;
    for (;;) {
      const ch = this.src[i];
      if (ch === undefined || ch === "\n") throw this.error(start, "literal not terminated");
      if (ch === '"') break;
      i += ch === "\\" ? 2 : 1;
    }
    const body = this.src.slice(from, i);
    this.advanceBy(i + 1 - this.offset);
    const value = goUnquote(body);
    if (value === undefined) throw this.error(start, "invalid escape");
    return value;
  }
}

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  private depth = 0;

  constructor(
    src: string,
    private readonly allowDuplicates: boolean,
  ) {
    this.lexer = new Lexer(src);
    this.tok = this.lexer.next();
  }

  body(): HclItem[] {
    return this.objectList("eof");
  }

  private peek(): TokenKind {
    return this.tok.kind;
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = this.lexer.next();
    return t;
  }

  private unexpected(expected: string): HclSyntaxError {
    return this.lexer.error(this.tok.pos, `expected: ${expected} got: ${TOKEN_NAMES[this.tok.kind]}`);
  }

  /** Items up to `end` (the closing brace, or the end of the text), with HCL1's duplicate-argument check. */
  private objectList(end: "}" | "eof"): HclItem[] {
    const items: HclItem[] = [];
    const seen = new Set<string>();
    while (this.tok.kind !== end) {
      if (this.tok.kind === "eof") throw this.unexpected("RBRACE");
      const item = this.objectItem();
      const first = item.keys[0]!;
      if (item.assign && item.keys.length === 1) {
        if (seen.has(first.text) && !this.allowDuplicates) {
          throw new HclSyntaxError(
            `The argument ${JSON.stringify(first.text)} at ${first.pos.line}:${first.pos.column} was already set. Each argument can only be defined once`,
          );
        }
        seen.add(first.text);
      }
      items.push(item);
      if (this.tok.kind === ",") this.advance();
    }
    return items;
  }

  private objectItem(): HclItem {
    const keys: HclKey[] = [];
    while (this.tok.kind === "ident" || this.tok.kind === "string") {
      const t = this.advance();
      keys.push({ text: t.text, pos: t.pos });
    }
    if (keys.length === 0) throw this.unexpected("IDENT | STRING");
    if (this.tok.kind === "=") {
      if (keys.length > 1) throw this.unexpected("LBRACE");
      this.advance();
      return { keys, assign: true, value: this.value() };
    }
    if (this.tok.kind === "{") return { keys, assign: false, value: this.object() };
    throw this.lexer.error(
      this.tok.pos,
      `key '${keys.map((k) => k.text).join(" ")}' expected start of object ('{') or assign ('=')`,
    );
  }

  private enter(): void {
    if (++this.depth > DEPTH_MAX) throw this.lexer.error(this.tok.pos, `nesting deeper than ${DEPTH_MAX}`);
  }

  private object(): HclValue {
    this.enter();
    const open = this.advance();
    const items = this.objectList("}");
    this.advance();
    this.depth--;
    return { kind: "object", items, pos: open.pos };
  }

  private value(): HclValue {
    const t = this.tok;
    switch (t.kind) {
      case "string":
        this.advance();
        return { kind: "string", value: t.text, pos: t.pos };
      case "number":
        this.advance();
        return { kind: "number", text: t.text, pos: t.pos };
      case "ident":
        if (t.text === "true" || t.text === "false") {
          this.advance();
          return { kind: "bool", value: t.text === "true", pos: t.pos };
        }
        throw this.lexer.error(t.pos, `Unknown token: ${t.pos.line}:${t.pos.column} IDENT ${t.text}`);
      case "{":
        return this.object();
      case "[":
        return this.list();
      default:
        throw this.unexpected("STRING | NUMBER | BOOL | LBRACE | LBRACK");
    }
  }

  private list(): HclValue {
    this.enter();
    const open = this.advance();
    const elems: HclValue[] = [];
    while (this.tok.kind !== "]") {
      elems.push(this.value());
      // A method call, so that TypeScript does not keep the loop condition's narrowing across value().
      const after = this.peek();
      if (after === ",") this.advance();
      else if (after !== "]") throw this.unexpected("COMMA | RBRACK");
    }
    this.advance();
    this.depth--;
    return { kind: "list", elems, pos: open.pos };
  }
}

const NO_POS: Pos = { line: 0, column: 0 };

function parseJsonForm(text: string): HclItem[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new HclSyntaxError(e instanceof Error ? e.message : String(e));
  }
  const root = fromJson(doc, 0);
  if (root.kind !== "object") throw new HclSyntaxError("the JSON form must be an object");
  return [...root.items];
}

function fromJson(v: unknown, depth: number): HclValue {
  if (depth > DEPTH_MAX) throw new HclSyntaxError(`nesting deeper than ${DEPTH_MAX}`);
  if (typeof v === "string") return { kind: "string", value: v, pos: NO_POS };
  if (typeof v === "number") return { kind: "number", text: String(v), pos: NO_POS };
  if (typeof v === "boolean") return { kind: "bool", value: v, pos: NO_POS };
  if (Array.isArray(v)) return { kind: "list", elems: v.map((e) => fromJson(e, depth + 1)), pos: NO_POS };
  if (v === null) throw new HclSyntaxError("null is not a valid value");
  const items: HclItem[] = Object.entries(v as Record<string, unknown>).map(([k, e]) => ({
    keys: [{ text: k, pos: NO_POS }],
    assign: true,
    value: fromJson(e, depth + 1),
  }));
  return { kind: "object", items, pos: NO_POS };
}
