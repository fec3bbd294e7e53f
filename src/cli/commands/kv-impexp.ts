/**
 * `kv export` and `kv import` (Consul's command/kv/{exp,imp} and impexp.Entry): a tab-indented JSON array of
 * `{"key","flags","value"}` objects with base64 values, written the way Go's json.MarshalIndent writes it.
 */
import type { Json } from "../../client/index.js";
import { httpClientFlags, httpServerFlags, isObject, parseJson, toU64 } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import {
  type Command,
  type CommandIO,
  clientFrom,
  err,
  errorText,
  out,
  parseOrExit,
  usage,
} from "../command.js";
import { decodeStdBase64, loadDataSource, withClient } from "./kv.js";

const CONNECT = "Error connecting to Consul agent";

export interface ExportEntry {
  readonly key: string;
  readonly flags: bigint;
  /** base64 of the value. */
  readonly value: string;
  readonly namespace: string;
  readonly partition: string;
}

/** Go's encoding/json string encoding: HTML-safe (<, >, & escaped), U+2028/9 escaped, lowercase hex. */
export function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (cp < 0x20 || ch === "<" || ch === ">" || ch === "&" || cp === 0x2028 || cp === 0x2029) {
      out += `\\u${cp.toString(16).padStart(4, "0")}`;
    } else if (cp >= 0xd800 && cp <= 0xdfff) out += "\\ufffd";
    else out += ch;
  }
  return `${out}"`;
}

/** json.MarshalIndent(entries, "", "\t") of impexp.Entry (namespace/partition only when non-empty). */
export function formatExport(entries: readonly ExportEntry[]): string {
  if (entries.length === 0) return "[]";
  const objects = entries.map((e) => {
    const fields = [
      `"key": ${goJsonString(e.key)}`,
      `"flags": ${e.flags}`,
      `"value": ${goJsonString(e.value)}`,
    ];
    if (e.namespace !== "") fields.push(`"namespace": ${goJsonString(e.namespace)}`);
    if (e.partition !== "") fields.push(`"partition": ${goJsonString(e.partition)}`);
    return `\t{\n${fields.map((f) => `\t\t${f}`).join(",\n")}\n\t}`;
  });
  return `[\n${objects.join(",\n")}\n]`;
}

const exportFlags = { ...httpClientFlags, ...httpServerFlags };
const exportHelp = usage(
  `Usage: cairn kv export [KEY_OR_PREFIX]

  Retrieves key-value pairs for the given prefix from the key-value store, and writes a JSON representation
  to stdout. This can be used with the command "cairn kv import" to move entire trees between clusters.

      $ cairn kv export vault`,
  exportFlags,
);

export const kvExport: Command = {
  help: exportHelp,
  async run(argv, io) {
    const parsed = parseOrExit(exportFlags, argv, io, exportHelp);
    if (typeof parsed === "number") return parsed;
    if (parsed.args.length > 1) {
      err(io, `Too many arguments (expected 1, got ${parsed.args.length})`);
      return 1;
    }
    const arg = parsed.args[0] ?? "";
    const key = arg.startsWith("/") ? arg.slice(1) : arg;
    return withClient(
      io,
      () => clientFrom(parsed, io),
      CONNECT,
      async (client) => {
        try {
          const { entries } = await client.kvList(key, { stale: parsed.values.stale });
          const exported = entries.map((p) => ({
            key: p.key,
            flags: p.flags,
            value: p.value.toString("base64"),
            namespace: p.namespace,
            partition: p.partition,
          }));
          out(io, formatExport(exported));
          return 0;
        } catch (e) {
          err(io, `Error querying Consul agent: ${errorText(e)}`);
          return 1;
        }
      },
    );
  },
};

/** Go's path.Clean, for `-prefix` joins (path.Join). */
export function goPathClean(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
      else if (!rooted) parts.push("..");
      continue;
    }
    parts.push(seg);
  }
  const joined = parts.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/**
 * The key an entry is written to. With `-prefix`, Go's path.Join(prefix, key) plus a trailing '/' kept for
 * "directory" keys, as Consul does. Without a prefix the key is kept byte for byte: Consul's path.Join would also
 * rewrite keys such as `a//b` or `./x`, which breaks an export → import round trip of exactly such data.
 */
export function importKey(prefix: string, key: string): string {
  if (prefix === "") return key;
  const joined = goPathClean(`${prefix}/${key}`);
  return key.endsWith("/") ? `${joined}/` : joined;
}

/** Reads a field as Go's json.Unmarshal matches struct fields: exact name first, else case-insensitively. */
function field(o: { [key: string]: Json }, name: string): Json | undefined {
  if (Object.hasOwn(o, name)) return o[name];
  const found = Object.keys(o).find((k) => k.toLowerCase() === name);
  return found === undefined ? undefined : o[found];
}

export function parseImport(text: string): ExportEntry[] {
  const doc = parseJson(text);
  if (doc === null) return [];
  if (!Array.isArray(doc))
    throw new Error("cannot unmarshal non-array into Go value of type []*impexp.Entry");
  return doc.map((item) => {
    if (item === null) return { key: "", flags: 0n, value: "", namespace: "", partition: "" };
    if (!isObject(item)) throw new Error("cannot unmarshal non-object into Go value of type impexp.Entry");
    const s = (n: string): string => {
      const v = field(item, n);
      if (v === undefined || v === null) return "";
      if (typeof v !== "string")
        throw new Error(`cannot unmarshal into Go struct field Entry.${n} of type string`);
      return v;
    };
    return {
      key: s("key"),
      flags: toU64(field(item, "flags") ?? null, "flags"),
      value: s("value"),
      namespace: s("namespace"),
      partition: s("partition"),
    };
  });
}

const importFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  prefix: flag.string("", "Key prefix for imported data"),
};
const importHelp = usage(
  `Usage: cairn kv import [DATA]

  Imports key-value pairs to the key-value store from the JSON representation generated by the
  "cairn kv export" command. The data can be read from a file by prefixing the filename with the "@"
  symbol, or from stdin using the "-" symbol:

      $ cairn kv import @filename.json
      $ cat filename.json | cairn kv import -`,
  importFlags,
);

async function importData(args: readonly string[], io: CommandIO): Promise<Buffer> {
  if (args.length === 0) throw new Error("Missing DATA argument");
  if (args.length > 1) throw new Error(`Too many arguments (expected 1, got ${args.length})`);
  const data = args[0] ?? "";
  if (data === "") throw new Error("Empty DATA argument");
  return loadDataSource(data, io);
}

export const kvImport: Command = {
  help: importHelp,
  async run(argv, io) {
    const parsed = parseOrExit(importFlags, argv, io, importHelp);
    if (typeof parsed === "number") return parsed;
    let data: Buffer;
    try {
      data = await importData(parsed.args, io);
    } catch (e) {
      err(io, `Error! ${errorText(e)}`);
      return 1;
    }
    return withClient(
      io,
      () => clientFrom(parsed, io),
      CONNECT,
      async (client) => {
        let entries: ExportEntry[];
        try {
          entries = parseImport(data.toString("utf8"));
        } catch (e) {
          err(io, `Cannot unmarshal data: ${errorText(e)}`);
          return 1;
        }
        for (const entry of entries) {
          let value: Buffer;
          try {
            value = decodeStdBase64(entry.value);
          } catch (e) {
            err(io, `Error base 64 decoding value for key ${entry.key}: ${errorText(e)}`);
            return 1;
          }
          const key = importKey(parsed.values.prefix, entry.key);
          try {
            await client.kvPut(key, value, entry.flags);
          } catch (e) {
            err(io, `Error! Failed writing data for key ${key}: ${errorText(e)}`);
            return 1;
          }
          out(io, `Imported: ${key}`);
        }
        return 0;
      },
    );
  },
};
