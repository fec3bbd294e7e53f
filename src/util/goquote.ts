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
