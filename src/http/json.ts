/**
 * JSON as Go's encoding/json writes it, for Consul's response bodies:
 * - bigint (uint64 Flags, indexes past 2^53) as full digits, never through a Number;
 * - object keys in insertion order (Go writes struct fields in declaration order; callers build objects in
 *   Consul's order and tests compare bodies as text);
 * - `<`, `>`, `&`, U+2028 and U+2029 escaped as \u003c etc. (json.Marshal's HTML-safe default);
 * - `pretty`: json.MarshalIndent(v, "", "    ") plus the trailing newline Consul's ?pretty adds.
 * `undefined` object fields are left out (Go's omitempty, for fields such as Session).
 */

export type GoJson =
  | null
  | boolean
  | number
  | bigint
  | string
  | readonly GoJson[]
  | { readonly [key: string]: GoJson | undefined };

/** Nesting bound: response shapes are a few levels deep, so anything deeper is a bug, not data. */
const DEPTH_MAX = 64;

const HTML_UNSAFE = /[<>&\u2028\u2029]/g;

function goString(s: string): string {
  return JSON.stringify(s).replace(HTML_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function goNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`encode JSON: ${n} has no JSON form`);
  return JSON.stringify(n);
}

function encode(v: GoJson, indent: string, step: string, depth: number): string {
  if (depth > DEPTH_MAX) throw new TypeError(`encode JSON: nesting deeper than ${DEPTH_MAX}`);
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return goNumber(v);
    case "bigint":
      return v.toString();
    case "string":
      return goString(v);
    default:
      break;
  }
  const inner = step === "" ? "" : `\n${indent}${step}`;
  const close = step === "" ? "" : `\n${indent}`;
  const colon = step === "" ? ":" : ": ";
  if (isArray(v)) {
    if (v.length === 0) return "[]";
    const parts = v.map((x) => encode(x, indent + step, step, depth + 1));
    return `[${inner}${parts.join(`,${inner}`)}${close}]`;
  }
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    parts.push(`${goString(k)}${colon}${encode(x, indent + step, step, depth + 1)}`);
  }
  if (parts.length === 0) return "{}";
  return `{${inner}${parts.join(`,${inner}`)}${close}}`;
}

function isArray(v: GoJson): v is readonly GoJson[] {
  return Array.isArray(v);
}

/** Encodes `v` as Consul would send it: minified, or indented by 4 spaces with a trailing newline. */
export function goJson(v: GoJson, pretty = false): string {
  return pretty ? `${encode(v, "", "    ", 0)}\n` : encode(v, "", "", 0);
}
