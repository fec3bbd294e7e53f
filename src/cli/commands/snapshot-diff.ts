/**
 * `snapshot diff A B` (cairn's own; Consul has none): what changed in the KV store between two archives, and
 * how the record count per type moved. Both archives are fully verified first. Values are compared by SHA-256,
 * so memory grows with the number of keys, not with the size of values.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { goFileError } from "../../client/index.js";
import {
  decodeRecord,
  MessageType,
  messageTypeName,
  readArchive,
  readStateBin,
  SnapshotError,
  type SnapshotMeta,
} from "../../snapshot/index.js";
import { goQuote } from "../../util/goquote.js";
import { type Command, type CommandIO, err, errorText, parseOrExit, usage } from "../command.js";

interface KvSide {
  /** null for a nil value (a key written without a body), distinct from an empty one. */
  readonly sha: string | null;
  readonly flags: bigint;
}

interface Summary {
  readonly meta: SnapshotMeta;
  readonly kv: Map<string, KvSide>;
  readonly counts: ReadonlyMap<number, number>;
}

/** Enterprise keys live in a partition and namespace; CE keys have neither, and print as the bare key. */
function kvIdentity(key: string, partition: string | undefined, namespace: string | undefined): string {
  if ((partition ?? "") === "" && (namespace ?? "") === "") return key;
  return `${key} [partition=${partition ?? ""} namespace=${namespace ?? ""}]`;
}

async function summarize(path: string): Promise<Summary> {
  const fh: FileHandle = await open(path, "r");
  try {
    const archive = await readArchive(fh.createReadStream({ autoClose: false }));
    try {
      const kv = new Map<string, KvSide>();
      for await (const item of readStateBin(createReadStream(archive.stateBin.path))) {
        if (item.kind !== "record" || item.record.type !== MessageType.KVS) continue;
        const rec = decodeRecord(item.record);
        if (rec.kind !== "KVS") continue;
        const e = rec.body;
        const sha = e.Value === null ? null : createHash("sha256").update(e.Value).digest("hex");
        kv.set(kvIdentity(e.Key, e.Partition, e.Namespace), { sha, flags: e.Flags });
      }
      return { meta: archive.meta, kv, counts: archive.recordCounts };
    } finally {
      await archive.stateBin.remove();
    }
  } finally {
    await fh.close();
  }
}

/** Go's byte order of UTF-8 keys, as Consul lists them. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Keys as they are when readable; Go-quoted when they hold control characters or edge spaces. */
function showKey(k: string): string {
  return /[\p{C}]|^\s|\s$/u.test(k) ? goQuote(k) : k;
}

function changeOf(a: KvSide, b: KvSide): string | null {
  const parts: string[] = [];
  if (a.sha !== b.sha) parts.push("value");
  if (a.flags !== b.flags) parts.push(`flags ${a.flags} -> ${b.flags}`);
  return parts.length === 0 ? null : parts.join(", ");
}

/** The KV section: a count line, then `+`, `-`, `~` lines in key order. */
export function kvLines(a: ReadonlyMap<string, KvSide>, b: ReadonlyMap<string, KvSide>): string[] {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort(byteOrder);
  const lines: string[] = [];
  let added = 0;
  let removed = 0;
  let changed = 0;
  for (const k of keys) {
    const x = a.get(k);
    const y = b.get(k);
    if (x === undefined) {
      added++;
      lines.push(`+ ${showKey(k)}`);
    } else if (y === undefined) {
      removed++;
      lines.push(`- ${showKey(k)}`);
    } else {
      const what = changeOf(x, y);
      if (what === null) continue;
      changed++;
      lines.push(`~ ${showKey(k)} (${what})`);
    }
  }
  return [`KV keys: ${added} added, ${removed} removed, ${changed} changed`, ...lines];
}

/** The record-type section: only the types whose count moved, as an aligned table. */
export function countLines(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): string[] {
  const types = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x - y);
  const rows: string[][] = [];
  for (const t of types) {
    const x = a.get(t) ?? 0;
    const y = b.get(t) ?? 0;
    if (x === y) continue;
    rows.push([messageTypeName(t), String(x), String(y), y > x ? `+${y - x}` : String(y - x)]);
  }
  if (rows.length === 0) return ["Record counts: unchanged"];
  const table = [["Type", "A", "B", "Change"], ...rows];
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((r) => (r[i] ?? "").length)));
  const pad = (r: string[]): string =>
    r
      .map((c, i) => (i < 3 ? c.padEnd((widths[i] ?? 0) + 2) : c))
      .join("")
      .trimEnd();
  return ["Record counts:", ...table.map((r) => `  ${pad(r)}`)];
}

const diffHelp = usage(
  `Usage: cairn snapshot diff A B

  Compares two snapshot archives (a cairn addition; Consul has no such command). Both are verified first.

  Output, in this order:

      A: <file> (index <Index>, ID <ID>)
      B: <file> (index <Index>, ID <ID>)

      KV keys: <n> added, <n> removed, <n> changed
      + <key>                  in B only
      - <key>                  in A only
      ~ <key> (<what>)         in both, different: "value", "flags <a> -> <b>", or both

      Record counts:
        Type  A  B  Change     one row per record type whose count differs
  or  Record counts: unchanged

  Keys are listed in byte order; a key with control characters or edge spaces is Go-quoted. Values are
  compared by content (nil and empty differ); indexes and sessions are not compared. Exit 0 when both
  archives could be read (whether or not they differ), 1 on any error.`,
  {},
);

function report(io: CommandIO, names: readonly [string, string], a: Summary, b: Summary): void {
  const head = (tag: string, name: string, s: Summary): string =>
    `${tag}: ${name} (index ${s.meta.Index}, ID ${s.meta.ID})`;
  const lines = [
    head("A", names[0], a),
    head("B", names[1], b),
    "",
    ...kvLines(a.kv, b.kv),
    "",
    ...countLines(a.counts, b.counts),
  ];
  io.stdout.write(`${lines.join("\n")}\n`);
}

async function load(io: CommandIO, path: string): Promise<Summary | null> {
  try {
    return await summarize(path);
  } catch (e) {
    if (e instanceof SnapshotError) err(io, `Error reading snapshot ${goQuote(path)}: ${e.message}`);
    else if (typeof e === "object" && e !== null && "code" in e)
      err(io, `Error opening snapshot file: ${goFileError(path, e)}`);
    else err(io, `Error reading snapshot ${goQuote(path)}: ${errorText(e)}`);
    return null;
  }
}

export const snapshotDiff: Command = {
  help: diffHelp,
  async run(args, io) {
    const parsed = parseOrExit({}, args, io, diffHelp);
    if (typeof parsed === "number") return parsed;
    const [first, second] = parsed.args;
    if (first === undefined || second === undefined) {
      err(io, "Missing FILE argument (expected 2: A B)");
      return 1;
    }
    if (parsed.args.length > 2) {
      err(io, `Too many arguments (expected 2, got ${parsed.args.length})`);
      return 1;
    }
    const a = await load(io, first);
    if (a === null) return 1;
    const b = await load(io, second);
    if (b === null) return 1;
    report(io, [first, second], a, b);
    return 0;
  },
};
