/**
 * `snapshot list DEST` (cairn's): the backups a snapshot agent keeps in a store, newest first, in a table laid out
 * as Consul's CLI tables (columnize) or as JSON. Only names the agent writes (`consul-<id>.snap[.enc]`) are listed;
 * anything else in the directory or bucket is not ours and is left out. `-verify` reads every backup back and
 * checks it for real (snapshot-agent/backup-check.ts); without it, "Verified" says whether the store holds a
 * recorded size matching the object's and a SHA-256 to check it against.
 */
import { byteSize } from "../../snapshot/index.js";
import { type CheckStatus, checkStoredBackup } from "../../snapshot-agent/backup-check.js";
import { findBackup, type ListedBackup, listBackups } from "../../snapshot-agent/backup-read.js";
import type { BackupStore } from "../../snapshot-agent/store.js";
import { storeForReading } from "../../snapshot-agent/store-url.js";
import { flag } from "../../util/flags.js";
import { columnize } from "../columnize.js";
import { type Command, type CommandIO, err, errorText, out, parseOrExit, usage } from "../command.js";
import { DECRYPT_KEY_FILE, decryptKeyFlag, loadKey } from "./snapshot-source.js";

const listFlags = {
  format: flag.string("pretty", "Output format {pretty|json}"),
  verify: flag.bool(
    false,
    "Reads every backup back: its size and SHA-256 are checked against the ones recorded when it was written, " +
      "and its archive is verified (decrypted first with -decrypt-key-file when it is encrypted). Verified " +
      'then reads "ok", "MISMATCH" (the bytes are not the ones written), "FAILED" (unreadable, or the archive ' +
      'does not decrypt or verify) or "unchecked" (nothing recorded and no key); the reasons go to stderr, and ' +
      "the exit code is 1 when any backup is not sound.",
  ),
  ...decryptKeyFlag,
};

const listHelp = usage(
  `Usage: cairn snapshot list [options] DEST

  Lists the backups a snapshot agent keeps in DEST, newest first: ID, time taken (UTC), Raft index, size,
  whether encrypted, and whether verified. DEST is a directory or a URL:

      $ cairn snapshot list /var/backups/consul
      $ cairn snapshot list file:///var/backups/consul
      $ cairn snapshot list 's3://bucket/consul-snapshot?region=us-east-1'
      $ cairn snapshot list 's3://bucket/consul-snapshot?region=us-east-1&endpoint=http://127.0.0.1:9000&path-style'
      $ cairn snapshot list azure://account/container/consul-snapshot
      $ cairn snapshot list gs://bucket/consul-snapshot

  S3 credentials come from the AWS SDK's chain (AWS_ACCESS_KEY_ID…; AWS_REGION, AWS_S3_ENDPOINT are read too);
  Azure's key from AZURE_STORAGE_KEY (its endpoint from AZURE_STORAGE_CONNECTION_STRING when set); Google's from
  Application Default Credentials. A DEST ending in a backup's name, or in "latest", lists that one backup.`,
  listFlags,
);

/** One backup as listed (and in -format json). */
interface Row {
  readonly ID: string;
  readonly Name: string;
  /** RFC 3339, UTC, in ms. */
  readonly Time: string;
  readonly Index: number | null;
  readonly Term: number | null;
  readonly Size: number;
  readonly SHA256: string | null;
  readonly Version: string | null;
  readonly Encrypted: boolean;
  /** "yes" / "no"; with -verify "ok", "MISMATCH", "FAILED" or "unchecked". */
  readonly Verified: string;
  /** With -verify, what failed; otherwise null. */
  readonly Problems: readonly string[] | null;
}

const VERIFY_WORDS: Readonly<Record<CheckStatus, string>> = {
  ok: "ok",
  mismatch: "MISMATCH",
  failed: "FAILED",
  unchecked: "unchecked",
};

function rowOf(b: ListedBackup, verified: string, problems: readonly string[] | null): Row {
  return {
    ID: b.id.toString(),
    Name: b.name,
    Time: b.time.toISOString(),
    Index: b.meta?.index ?? null,
    Term: b.meta?.term ?? null,
    Size: b.size,
    SHA256: b.meta?.sha256 ?? null,
    Version: b.meta?.version ?? null,
    Encrypted: b.encrypted,
    Verified: verified,
    Problems: problems,
  };
}

/** Whether the store vouches for the object: a recorded size that is the object's, and a SHA-256 (meta has one). */
function recordedVerified(b: ListedBackup): string {
  return b.meta !== undefined && b.meta.size === b.size ? "yes" : "no";
}

function table(rows: readonly Row[]): string {
  return columnize([
    ["ID", "Time", "Index", "Size", "Encrypted", "Verified"],
    ...rows.map((r) => [
      r.ID,
      // Go's time.RFC3339: whole seconds (the ID carries the rest).
      r.Time.replace(/\.\d+Z$/, "Z"),
      r.Index === null ? "-" : String(r.Index),
      byteSize(r.Size),
      r.Encrypted ? "yes" : "no",
      r.Verified,
    ]),
  ]);
}

/** The backups DEST names: all of them, or the one its last segment names. */
async function backupsOf(store: BackupStore, name: string | null): Promise<ListedBackup[]> {
  return name === null ? listBackups(store) : [await findBackup(store, name)];
}

export const snapshotList: Command = {
  help: listHelp,
  async run(args, io) {
    const parsed = parseOrExit(listFlags, args, io, listHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (parsed.args.length !== 1) {
      err(
        io,
        parsed.args.length === 0
          ? "Missing DEST argument"
          : `Too many arguments (expected 1, got ${parsed.args.length})`,
      );
      return 1;
    }
    if (v.format !== "pretty" && v.format !== "json") {
      err(io, `Unknown format: ${v.format}`);
      return 1;
    }
    const keyFile = v[DECRYPT_KEY_FILE];
    if (keyFile !== "" && !v.verify) {
      err(io, `-${DECRYPT_KEY_FILE} is used by -verify, to verify encrypted backups: add -verify`);
      return 1;
    }
    const key = keyFile === "" ? null : await loadKey(keyFile, io);
    if (keyFile !== "" && key === null) return 1;
    const dest = parsed.args[0] as string;
    let store: BackupStore;
    let backups: ListedBackup[];
    try {
      const found = await storeForReading(dest, io.env);
      store = found.store;
      try {
        backups = await backupsOf(store, found.name);
      } catch (e) {
        err(io, `Error listing backups: ${errorText(e)}`);
        return 1;
      }
    } catch (e) {
      err(io, `Error opening backup store: ${errorText(e)}`);
      return 1;
    }
    return report(io, store, backups, v.verify ? key : undefined, v.format);
  },
};

/** Prints the listing (checking each backup first when `key` is not undefined: -verify). */
async function report(
  io: CommandIO,
  store: BackupStore,
  backups: readonly ListedBackup[],
  key: Uint8Array | null | undefined,
  format: string,
): Promise<number> {
  const rows: Row[] = [];
  let unsound = 0;
  for (const b of backups) {
    if (key === undefined) {
      rows.push(rowOf(b, recordedVerified(b), null));
      continue;
    }
    const check = await checkStoredBackup(store, b, key);
    if (check.status === "mismatch" || check.status === "failed") unsound++;
    rows.push(rowOf(b, VERIFY_WORDS[check.status], check.problems));
  }
  if (format === "json") out(io, JSON.stringify(rows, null, 4));
  else if (rows.length === 0) err(io, `No backups in ${store.label}`);
  else out(io, table(rows));
  for (const r of rows) for (const p of r.Problems ?? []) err(io, `${r.Name}: ${p}`);
  if (unsound > 0) {
    err(io, `Error verifying backups: ${unsound} of ${rows.length} in ${store.label} are not sound`);
    return 1;
  }
  return 0;
}
