/**
 * `snapshot save` and `snapshot restore` with the flags, output and error texts of Consul's
 * command/snapshot/{save,restore}. Save never leaves a file it has not verified: the archive streams into
 * FILE.unverified (mode 0600), is verified with the codec's reader, and only then renamed to FILE; every
 * failure removes FILE.unverified. Restore verifies the file while it uploads it (Consul sends it unchecked):
 * a file that is no archive is never sent, and one that fails later is cut short before its last bytes, so the
 * servers, which verify all they receive before changing anything, refuse it.
 */
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { extname } from "node:path";
import { Readable, Transform } from "node:stream";
import {
  ConsulClient,
  clientConfigFrom,
  goFileError,
  httpClientFlags,
  httpServerFlags,
  isObject,
  type Json,
} from "../../client/index.js";
import { VerifyingPass } from "../../snapshot/index.js";
import { saveVerified, verifyText } from "../../snapshot-agent/save.js";
import { flag, type ParsedFlags } from "../../util/flags.js";
import { goQuote } from "../../util/goquote.js";
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
import { type Progress, progress } from "../progress.js";
import { withClient } from "./kv.js";
import { DECRYPT_KEY_FILE, decryptKeyFlag, openSnapshotSource, SOURCE_HELP } from "./snapshot-source.js";

const CONNECT = "Error connecting to Consul agent";
/** Reads of the file to restore: the chunks the verifier and the upload share. */
const RESTORE_READ_CHUNK_BYTES = 1024 * 1024;
/** The restore's wait for the servers' answer: above their own 15-minute bound on installing it. */
const RESTORE_IDLE_MS_MAX = 16 * 60_000;

/** Consul's argument check of every snapshot command: exactly one FILE. */
export function oneFile(args: readonly string[], io: CommandIO): string | null {
  if (args.length === 0) err(io, "Missing FILE argument");
  else if (args.length > 1) err(io, `Too many arguments (expected 1, got ${args.length})`);
  return args.length === 1 ? (args[0] as string) : null;
}

const saveFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  "append-filename": flag.list(
    "Append filename flag supports the following comma-separated arguments. 1. version, 2. dc, 3. node, " +
      "4. status. It appends these values to the filename provided in the command",
  ),
};

const saveHelp = usage(
  `Usage: cairn snapshot save [options] FILE

  Retrieves an atomic, point-in-time snapshot of the state of the Consul servers which includes key/value
  entries, service catalog, prepared queries, sessions, and ACLs.

  If ACLs are enabled, a management token must be supplied in order to perform snapshot operations.

  To create a snapshot from the leader server and save it to "backup.snap":

      $ cairn snapshot save backup.snap

  To create a potentially stale snapshot from any available server (useful if no leader is available):

      $ cairn snapshot save -stale backup.snap

  The archive is written to FILE.unverified (mode 0600), verified as it arrives, and only then renamed to
  FILE; on any failure neither file is left behind. A progress bar (bytes, rate, ETA) is shown on stderr when
  it is a terminal.`,
  saveFlags,
);

function field(v: Json | undefined, ...path: string[]): Json | undefined {
  let cur = v;
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

/** Consul's -append-filename: `-<version>`, `-<dc>`, `-<node>`, `-leader|-follower`, before the extension. */
async function appendFilename(c: ConsulClient, file: string, wanted: readonly string[]): Promise<string> {
  const self = await c.agentSelf();
  const ext = extname(file);
  let name = file.slice(0, file.length - ext.length);
  const add = (v: Json | undefined): void => {
    if (typeof v === "string") name += `-${v}`;
  };
  if (wanted.includes("version")) add(field(self, "Config", "Version"));
  if (wanted.includes("dc")) add(field(self, "Config", "Datacenter"));
  if (wanted.includes("node")) add(field(self, "Config", "NodeName"));
  if (wanted.includes("status")) {
    // Consul reads Stats.consul.leader; a cairn agent that only reports raft state is read from that.
    const leader = field(self, "Stats", "consul", "leader");
    const isLeader =
      leader !== undefined ? leader === "true" : field(self, "Stats", "raft", "state") === "Leader";
    name += isLeader ? "-leader" : "-follower";
  }
  return name + ext;
}

async function saveTo(c: ConsulClient, io: CommandIO, file: string, stale: boolean): Promise<number> {
  const unverified = `${file}.unverified`;
  // A leftover of an interrupted run is ours to replace; a fresh 0600 file is then created exclusively. A path
  // that cannot be removed (a name too long, a directory without access) cannot be written either.
  try {
    await rm(unverified, { force: true });
  } catch (e) {
    err(io, `Error writing unverified snapshot file: ${goFileError(unverified, e)}`);
    return 1;
  }
  const meter = progress(io.stderr, "Saving snapshot");
  try {
    const got = await saveVerified(c, unverified, {
      stale,
      onBytes: (n) => meter.add(n),
      onSizeEstimate: (n) => meter.setTotal(n),
    });
    meter.done();
    if ("error" in got) {
      err(io, got.error);
      return 1;
    }
    try {
      await rename(unverified, file);
    } catch (e) {
      err(io, `Error renaming ${goQuote(unverified)} to ${goQuote(file)}: ${errorText(e)}`);
      return 1;
    }
    out(io, `Saved and verified snapshot to index ${got.index}`);
    return 0;
  } finally {
    // It was removable a moment ago; should that fail now, the next run replaces the leftover.
    await rm(unverified, { force: true }).catch(() => {});
  }
}

export const snapshotSave: Command = {
  help: saveHelp,
  async run(args, io) {
    const parsed = parseOrExit(saveFlags, args, io, saveHelp);
    if (typeof parsed === "number") return parsed;
    const file = oneFile(parsed.args, io);
    if (file === null) return 1;
    const wanted = parsed.values["append-filename"].flatMap((v) => v.split(",")).map((v) => v.trim());
    return withClient(
      io,
      () => clientFrom(parsed, io),
      CONNECT,
      async (c) => {
        let target = file;
        if (wanted.some((w) => w !== "")) {
          try {
            target = await appendFilename(c, file, wanted);
          } catch (e) {
            err(io, `Error connecting to Consul agent and fetching datacenter/version: ${errorText(e)}`);
            return 1;
          }
        }
        return saveTo(c, io, target, parsed.values.stale);
      },
    );
  },
};

const restoreFlags = { ...httpClientFlags, ...httpServerFlags, ...decryptKeyFlag };

const restoreHelp = usage(
  `Usage: cairn snapshot restore [options] FILE

  Restores an atomic, point-in-time snapshot of the state of the Consul servers which includes key/value
  entries, service catalog, prepared queries, sessions, and ACLs.

  Restores involve a potentially dangerous low-level Raft operation that is not designed to handle server
  failures during a restore. This command is primarily intended to be used when recovering from a disaster,
  restoring into a fresh cluster of Consul servers.

  If ACLs are enabled, a management token must be supplied in order to perform snapshot operations.

  To restore a snapshot from the file "backup.snap":

      $ cairn snapshot restore backup.snap

  To restore the newest backup the snapshot agent keeps in an S3 bucket:

      $ cairn snapshot restore 's3://bucket/consul-snapshot/latest?region=us-east-1'

  The file is verified as it is sent; a file that fails verification is cut short before its last bytes,
  and the servers refuse it without changing anything.

  ${SOURCE_HELP}`,
  restoreFlags,
);

/** The stream, reporting its bytes to the progress bar as they go through. */
function metered(source: Readable, meter: Progress): Readable {
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      meter.add(chunk.length);
      done(null, chunk);
    },
  });
  // pipe() does not forward a read error; without this a vanished file would hang the upload.
  return source.on("error", (e) => count.destroy(e)).pipe(count);
}

export const snapshotRestore: Command = {
  help: restoreHelp,
  async run(args, io) {
    const parsed = parseOrExit(restoreFlags, args, io, restoreHelp);
    if (typeof parsed === "number") return parsed;
    const arg = oneFile(parsed.args, io);
    if (arg === null) return 1;
    const source = await openSnapshotSource(arg, parsed.values[DECRYPT_KEY_FILE], io);
    if (source === null) return 1;
    try {
      return await restoreFile(source.path, parsed, io);
    } finally {
      await source.release();
    }
  },
};

/**
 * Uploads `file` while verifying it (VerifyingPass): the upload starts once the first tar entry has read, and
 * its last bytes go only once the whole file has verified; a file failing verification is cut short, and the
 * servers, which verify what they receive before changing anything, refuse the cut archive.
 */
async function restoreFile(
  file: string,
  parsed: ParsedFlags<typeof restoreFlags>,
  io: CommandIO,
): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await open(file, "r");
  } catch (e) {
    err(io, `Error opening snapshot file: ${goFileError(file, e)}`);
    return 1;
  }
  try {
    const size = (await fh.stat()).size;
    const pass = new VerifyingPass(
      fh.createReadStream({ autoClose: false, highWaterMark: RESTORE_READ_CHUNK_BYTES }),
    );
    const chunks = pass.chunks();
    // The first chunk is ready only once the verifier has read an entry's header: a file that is no archive
    // at all fails here, before any request is made.
    let first: IteratorResult<Uint8Array>;
    try {
      first = await chunks.next();
    } catch (e) {
      err(io, verifyText(e));
      return 1;
    }
    async function* body(): AsyncGenerator<Uint8Array> {
      try {
        if (first.done !== true) yield first.value;
        for (let r = await chunks.next(); r.done !== true; r = await chunks.next()) yield r.value;
      } finally {
        await chunks.return(undefined); // an upload cut short ends the verification too
      }
    }
    return await upload(parsed, io, size, body(), pass);
  } finally {
    await fh.close();
  }
}

async function upload(
  parsed: ParsedFlags<typeof restoreFlags>,
  io: CommandIO,
  size: number,
  body: AsyncIterable<Uint8Array>,
  pass: VerifyingPass,
): Promise<number> {
  return withClient(
    io,
    // Once uploaded, the archive is verified and installed on every server before the answer comes, with
    // no byte on the wire meanwhile: minutes for a state of millions of keys (the servers bound it).
    () =>
      new ConsulClient({
        ...clientConfigFrom(parsed.values, parsed.set, io.env),
        streamIdleTimeoutMs: RESTORE_IDLE_MS_MAX,
      }),
    CONNECT,
    async (c) => {
      const meter = progress(io.stderr, "Restoring snapshot", size);
      try {
        await c.snapshotRestore(metered(Readable.from(body), meter));
      } catch (e) {
        meter.done();
        // A verification failure cut the upload: its text, not the connection's.
        err(
          io,
          pass.failure !== null ? verifyText(pass.failure) : `Error restoring snapshot: ${errorText(e)}`,
        );
        return 1;
      }
      meter.done();
      out(io, "Restored snapshot");
      return 0;
    },
  );
}
