/**
 * `snapshot inspect` and `snapshot decode`: offline commands over a file, with Consul's flags, output and
 * error texts (command/snapshot/{inspect,decode}). The codec does the work; this maps its errors onto the
 * step Consul names in its message.
 */
import { type FileHandle, open } from "node:fs/promises";
import { goFileError } from "../../client/index.js";
import { decodeArchiveLines, inspectFile, SnapshotError, SnapshotMetaError } from "../../snapshot/index.js";
import { flag } from "../../util/flags.js";
import { type Command, type CommandIO, err, errorText, parseOrExit, usage } from "../command.js";
import { oneFile } from "./snapshot.js";
import { DECRYPT_KEY_FILE, decryptKeyFlag, openSnapshotSource, SOURCE_HELP } from "./snapshot-source.js";

/** Go's os.Open as Consul's commands do first: null when the file can be read, else Consul's line. */
export async function openCheck(path: string): Promise<string | null> {
  try {
    await (await open(path, "r")).close();
    return null;
  } catch (e) {
    return `Error opening snapshot file: ${goFileError(path, e)}`;
  }
}

const INTERNAL_META = "read meta.json from internal snapshot dir: ";

/** The step of Consul's inspect that would have failed, as the line it prints. */
function inspectError(e: unknown): string {
  if (!(e instanceof SnapshotError)) return `Error reading snapshot: ${errorText(e)}`;
  if (e.code === "snapshot_usage") return `Error outputting enhanced snapshot data: ${e.message}`;
  if (e instanceof SnapshotMetaError && e.message.startsWith(INTERNAL_META)) {
    return `Error reading meta.json from internal snapshot dir: ${e.message.slice(INTERNAL_META.length)}`;
  }
  // Consul's reader checks only the container; records fail later, while it gathers the statistics.
  if (e.code === "snapshot_record" || e.message.startsWith("failed to decode msg type")) {
    return `Error extracting snapshot data: ${e.message}`;
  }
  return `Error reading snapshot: ${e.message}`;
}

const inspectFlags = {
  kvdetails: flag.bool(
    false,
    "Provides a detailed KV space usage breakdown for any KV data that's been stored.",
  ),
  kvdepth: flag.int(
    2,
    "Can only be used with -kvdetails. The key prefix depth used to breakdown KV store data. Defaults to 2.",
  ),
  kvfilter: flag.string(
    "",
    "Can only be used with -kvdetails. Limits KV key breakdown using this prefix filter.",
  ),
  format: flag.string("pretty", "Output format {pretty|json}"),
  ...decryptKeyFlag,
};

const inspectHelp = usage(
  `Usage: cairn snapshot inspect [options] FILE

  Displays information about a snapshot file on disk.

  To inspect the file "backup.snap":

      $ cairn snapshot inspect backup.snap

  A file named state.bin is read raw, with the meta.json beside it (a server's data-dir snapshot).

  ${SOURCE_HELP}`,
  inspectFlags,
);

export const snapshotInspect: Command = {
  help: inspectHelp,
  async run(args, io) {
    const parsed = parseOrExit(inspectFlags, args, io, inspectHelp);
    if (typeof parsed === "number") return parsed;
    const arg = oneFile(parsed.args, io);
    if (arg === null) return 1;
    const v = parsed.values;
    return withSource(arg, v[DECRYPT_KEY_FILE], io, async (file) => {
      const bad = await openCheck(file);
      if (bad !== null) {
        err(io, bad);
        return 1;
      }
      try {
        const text = await inspectFile(file, {
          kvDetails: v.kvdetails,
          kvDepth: v.kvdepth,
          kvFilter: v.kvfilter,
          format: v.format,
        });
        io.stdout.write(text);
        return 0;
      } catch (e) {
        err(io, inspectError(e));
        return 1;
      }
    });
  },
};

/** Runs `body` on FILE as a plain archive on disk (snapshot-source.ts), released afterwards. */
async function withSource(
  arg: string,
  keyFile: string,
  io: CommandIO,
  body: (file: string) => Promise<number>,
): Promise<number> {
  const source = await openSnapshotSource(arg, keyFile, io);
  if (source === null) return 1;
  try {
    return await body(source.path);
  } finally {
    await source.release();
  }
}

const SHOW_SECRETS = "show-secrets";
const decodeFlags = {
  ...decryptKeyFlag,
  [SHOW_SECRETS]: flag.bool(
    false,
    "Print secret fields (ACL token SecretIDs, peering secrets, tokens, private keys) as they are.",
  ),
};

const decodeHelp = usage(
  `Usage: cairn snapshot decode [options] FILE

  Decodes a snapshot file and prints it as JSON lines: first {"Data":<meta>,"Type":"SnapshotHeader"}, then
  {"Data":<record>,"Type":"<record type>"} for every record, in file order. The archive is verified first.
  Secrets (ACL token SecretIDs, peering secrets, Token fields, private keys) print as "<hidden>" unless
  -show-secrets is given; Consul's decode prints them all.

      $ cairn snapshot decode backup.snap

  ${SOURCE_HELP}`,
  decodeFlags,
);

/** Lines are gathered into writes of about this size: one write per record would be slow on big files. */
const WRITE_BYTES = 64 * 1024;

async function writeLines(io: CommandIO, lines: AsyncIterable<string>): Promise<void> {
  let pending = "";
  for await (const line of lines) {
    pending += `${line}\n`;
    if (pending.length >= WRITE_BYTES) {
      io.stdout.write(pending);
      pending = "";
    }
  }
  if (pending !== "") io.stdout.write(pending);
}

export const snapshotDecode: Command = {
  help: decodeHelp,
  async run(args, io) {
    const parsed = parseOrExit(decodeFlags, args, io, decodeHelp);
    if (typeof parsed === "number") return parsed;
    const arg = oneFile(parsed.args, io);
    if (arg === null) return 1;
    const showSecrets = parsed.values[SHOW_SECRETS];
    return withSource(arg, parsed.values[DECRYPT_KEY_FILE], io, async (file) => {
      let fh: FileHandle;
      try {
        fh = await open(file, "r");
      } catch (e) {
        err(io, `Error opening snapshot file: ${goFileError(file, e)}`);
        return 1;
      }
      try {
        await writeLines(io, decodeArchiveLines(fh.createReadStream({ autoClose: false }), { showSecrets }));
        return 0;
      } catch (e) {
        err(io, inspectError(e));
        return 1;
      } finally {
        await fh.close();
      }
    });
  },
};
