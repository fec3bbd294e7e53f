/**
 * Go's encoding/json output of a JSON value as the server sent it (object keys in their order, uint64 past
 * 2^53 exact as bigints): `json.Marshal` + newline as `json.Encoder` writes it, and `json.MarshalIndent`.
 * Strings are escaped as Go escapes them (HTML-safe), so a handler reads the bytes Consul's CLI would give it.
 */
import type { Json } from "../client/index.js";
import { goJsonString } from "./commands/kv-impexp.js";

function encode(v: Json, indent: string, depth: number): string {
  if (v === null) return "null";
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "string") return goJsonString(v);
  const nl = indent === "" ? "" : `\n${indent.repeat(depth + 1)}`;
  const end = indent === "" ? "" : `\n${indent.repeat(depth)}`;
  const sep = indent === "" ? ":" : ": ";
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[${v.map((e) => `${nl}${encode(e, indent, depth + 1)}`).join(",")}${end}]`;
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return "{}";
  return `{${keys.map((k) => `${nl}${goJsonString(k)}${sep}${encode(v[k] ?? null, indent, depth + 1)}`).join(",")}${end}}`;
}

/** json.Marshal. */
export function goMarshal(v: Json): string {
  return encode(v, "", 0);
}

/** json.MarshalIndent(v, "", indent). */
export function goMarshalIndent(v: Json, indent: string): string {
  return encode(v, indent, 0);
}
