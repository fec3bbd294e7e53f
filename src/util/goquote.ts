/**
 * Go's strconv.Quote for the strings the CLI quotes in messages (`%q`): Go's escapes for quotes, backslashes and
 * control characters, `\u`/`\U` for non-printable code points, printable Unicode kept as is. Users compare
 * these messages with Consul's, so the escapes must match Go's and not JSON's.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    out += quoteRune(ch);
  }
  return `${out}"`;
}

const SIMPLE: Readonly<Record<string, string>> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  "\\": "\\\\",
  '"': '\\"',
};

function quoteRune(ch: string): string {
  const simple = SIMPLE[ch];
  if (simple !== undefined) return simple;
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, "0")}`;
  if (cp < 0x7f) return ch;
  // Lone surrogates are invalid UTF-8 in Go: it prints the replacement escape.
  if (cp >= 0xd800 && cp <= 0xdfff) return "\\ufffd";
  if (/^[\p{L}\p{M}\p{N}\p{P}\p{S}\u0020]$/u.test(ch)) return ch;
  return cp > 0xffff ? `\\U${cp.toString(16).padStart(8, "0")}` : `\\u${cp.toString(16).padStart(4, "0")}`;
}

const UNQUOTE_ESCAPES: Readonly<Record<string, string>> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  "'": "'",
  '"': '"',
};

/**
 * The inside of a double-quoted Go literal with its escapes resolved, as strconv.Unquote (which go-bexpr and
 * HCL1 both use), or undefined where Go says "invalid syntax": a bad escape, a raw newline, a code point past
 * U+10FFFF or a surrogate. `\xNN` and octal escapes give the code point (Go gives the byte).
 */
export function goUnquote(body: string): string | undefined {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "\n") return undefined;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++i];
    const simple = e === undefined ? undefined : UNQUOTE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      continue;
    }
    const hex = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
    const digits = body.slice(i + 1, i + 1 + hex);
    if (hex > 0 && digits.length === hex && /^[0-9a-fA-F]+$/.test(digits)) {
      const cp = Number.parseInt(digits, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
      out += String.fromCodePoint(cp);
      i += hex;
      continue;
    }
    const octal = body.slice(i, i + 3);
    if (/^[0-7]{3}$/.test(octal) && Number.parseInt(octal, 8) <= 0xff) {
      out += String.fromCharCode(Number.parseInt(octal, 8));
      i += 2;
      continue;
    }
    return undefined;
  }
  return out;
}
