/**
 * Where JSON.parse failed, as "line L, column C: <reason>", for messages that point an operator at the place in a
 * config file. V8 reports an offset for some syntax errors only, and its wording changes between Node versions, so
 * the place comes from a scan of our own.
 */
import { errorText } from "./errors.js";

/** "line L, column C: <reason>" for the error `e` that JSON.parse threw on `text`. */
export function jsonErrorPlace(text: string, e: unknown): string {
  const reason = errorText(e)
    .replace(/, ".*" is not valid JSON$/s, "")
    .replace(/ in JSON at position \d+.*$/s, "");
  const offset = jsonErrorOffset(text);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return `line ${line}, column ${column}: ${reason}`;
}

class JsonStop {
  constructor(readonly offset: number) {}
}
const JSON_DEPTH_MAX = 256;

/** Offset of the first RFC 8259 syntax error (text.length for an early end). Called only after JSON.parse failed. */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const stop = (): never => {
    throw new JsonStop(i);
  };
  const ws = () => {
    while (/[ \t\n\r]/.test(text[i] ?? "")) i++;
  };
  const expect = (chars: string) => {
    for (const c of chars) {
      if (text[i] !== c) stop();
      i++;
    }
  };
  const value = (depth: number): void => {
    ws();
    const c = text[i] ?? "";
    if (depth > JSON_DEPTH_MAX) stop();
    else if (c === "{" || c === "[") container(c, depth);
    else if (c === '"') jsonString();
    else if (c === "t" || c === "f" || c === "n") expect(c === "t" ? "true" : c === "f" ? "false" : "null");
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (m === null) stop();
      else i += m[0].length;
    }
  };
  const container = (open: string, depth: number) => {
    const close = open === "{" ? "}" : "]";
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      ws();
      if (open === "{") {
        if (text[i] !== '"') stop();
        jsonString();
        ws();
        expect(":");
      }
      value(depth + 1);
      ws();
      if (text[i] === close) return void i++;
      expect(",");
    }
  };
  const jsonString = () => {
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined || c < " ") stop();
      i++;
      if (c === '"') return;
      if (c === "\\") {
        if (text[i] === "u") {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? "")) stop();
        } else if ('"\\/bfnrt'.includes(text[i] ?? "x")) i++;
        else stop();
      }
    }
  };
  try {
    value(0);
    ws();
    if (i < text.length) stop();
  } catch (e) {
    if (e instanceof JsonStop) return Math.min(e.offset, text.length);
    throw e;
  }
  return text.length;
}
