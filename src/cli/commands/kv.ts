/**
 * `kv get`, `kv put`, `kv delete` with the flags, output and error texts of Consul's command/kv/{get,put,del}.
 */
import { readFile } from "node:fs/promises";
import type { ConsulClient, KVPair } from "../../client/index.js";
import { httpClientFlags, httpServerFlags } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { tabwriteLabels } from "../columnize.js";
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

const CONNECT = "Error connecting to Consul agent";

/** Consul strips one leading '/' from KEY arguments, since keys cannot start with one. */
function stripSlash(key: string): string {
  return key.startsWith("/") ? key.slice(1) : key;
}

/** Runs `body` with a client made from the flags; a bad configuration is Consul's "Error connecting" (exit 1). */
export async function withClient(
  io: CommandIO,
  make: () => ConsulClient,
  prefix: string,
  body: (c: ConsulClient) => Promise<number>,
): Promise<number> {
  let client: ConsulClient;
  try {
    client = make();
  } catch (e) {
    err(io, `${prefix}: ${errorText(e)}`);
    return 1;
  }
  try {
    return await body(client);
  } finally {
    client.close();
  }
}

/**
 * One agent call as Consul's simple commands make it (leave, reload, force-leave): a failure is
 * `<errorPrefix>: <error>` with exit 1; success prints `success` when given.
 */
export function agentCall(
  io: CommandIO,
  make: () => ConsulClient,
  errorPrefix: string,
  call: (c: ConsulClient) => Promise<void>,
  success?: string,
): Promise<number> {
  return withClient(io, make, CONNECT, async (client) => {
    try {
      await call(client);
    } catch (e) {
      err(io, `${errorPrefix}: ${errorText(e)}`);
      return 1;
    }
    if (success !== undefined) out(io, success);
    return 0;
  });
}

/**
 * withClient for commands that first check the agent answers, as Consul's lock and watch do
 * (`Agent().NodeName()`): a failure is "Error querying Consul agent" with exit 1.
 */
export function withCheckedClient(
  io: CommandIO,
  make: () => ConsulClient,
  body: (c: ConsulClient) => Promise<number>,
): Promise<number> {
  return withClient(io, make, CONNECT, async (client) => {
    try {
      await client.agentSelf();
    } catch (e) {
      err(io, `Error querying Consul agent: ${errorText(e)}`);
      return 1;
    }
    return body(client);
  });
}

/** Consul's prettyKVPair; the value goes out as its raw bytes, as Go's `%s` of a []byte does. */
function prettyPair(pair: KVPair, base64: boolean, keysOnly: boolean): Buffer {
  const rows: [string, string][] = [
    ["CreateIndex", pair.createIndex.toString()],
    ["Flags", pair.flags.toString()],
    ["Key", pair.key],
    ["LockIndex", pair.lockIndex.toString()],
    ["ModifyIndex", pair.modifyIndex.toString()],
    ["Session", pair.session === "" ? "-" : pair.session],
  ];
  if (pair.partition !== "") rows.push(["Partition", pair.partition]);
  if (pair.namespace !== "") rows.push(["Namespace", pair.namespace]);
  if (keysOnly) return Buffer.from(tabwriteLabels(rows, 6));
  rows.push(["Value", ""]);
  const value = base64 ? Buffer.from(pair.value.toString("base64")) : pair.value;
  return Buffer.concat([Buffer.from(tabwriteLabels(rows, 6)), value]);
}

const getFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  base64: flag.bool(false, "Base64 encode the value. The default value is false."),
  detailed: flag.bool(
    false,
    "Provide additional metadata about the key in addition to the value such as the ModifyIndex and any flags " +
      "that may have been set on the key. The default value is false.",
  ),
  keys: flag.bool(
    false,
    "List keys which start with the given prefix, but not their values. This is especially useful if you only " +
      "need the key names themselves. This option is commonly combined with the -separator option. The default " +
      "value is false.",
  ),
  recurse: flag.bool(
    false,
    "Recursively look at all keys prefixed with the given path. The default value is false.",
  ),
  separator: flag.string(
    "/",
    'String to use as a separator between keys. The default value is "/", but this option is only taken into ' +
      "account when paired with the -keys flag.",
  ),
};

const getHelp = usage(
  `Usage: cairn kv get [options] [KEY_OR_PREFIX]

  Retrieves the value from the key-value store at the given key name. If no key exists with that name, an
  error is returned. If a key exists with that name but has no data, nothing is returned. If the name or
  prefix is omitted, it defaults to "" which is the root of the key-value store.

      $ cairn kv get foo
      $ cairn kv get -detailed foo
      $ cairn kv get -recurse foo
      $ cairn kv get -keys foo`,
  getFlags,
);

function printPairs(
  io: CommandIO,
  pairs: KVPair[],
  v: { detailed: boolean; base64: boolean },
  keysOnly: boolean,
): void {
  pairs.forEach((pair, i) => {
    if (v.detailed) {
      out(io, prettyPair(pair, v.base64, keysOnly));
      if (i < pairs.length - 1) out(io, "");
    } else if (keysOnly) {
      out(io, pair.key);
    } else {
      const value = v.base64 ? Buffer.from(pair.value.toString("base64")) : pair.value;
      out(io, Buffer.concat([Buffer.from(`${pair.key}:`), value]));
    }
  });
}

export const kvGet: Command = {
  help: getHelp,
  async run(argv, io) {
    const parsed = parseOrExit(getFlags, argv, io, getHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (parsed.args.length > 1) {
      err(io, `Too many arguments (expected 1, got ${parsed.args.length})`);
      return 1;
    }
    const key = stripSlash(parsed.args[0] ?? "");
    if (key === "" && !(v.recurse || v.keys)) {
      err(io, "Error! Missing KEY argument");
      return 1;
    }
    const q = { stale: v.stale };
    return withClient(
      io,
      () => clientFrom(parsed, io),
      CONNECT,
      async (client) => {
        try {
          if (v.keys && v.recurse) {
            printPairs(io, (await client.kvList(key, q)).entries, v, true);
          } else if (v.keys) {
            for (const k of (await client.kvKeys(key, v.separator, q)).keys) out(io, k);
          } else if (v.recurse) {
            printPairs(io, (await client.kvList(key, q)).entries, v, false);
          } else {
            const { entry } = await client.kvGet(key, q);
            if (entry === null) {
              err(io, `Error! No key exists at: ${key}`);
              return 1;
            }
            if (v.detailed) out(io, prettyPair(entry, v.base64, false));
            else out(io, v.base64 ? entry.value.toString("base64") : entry.value);
          }
          return 0;
        } catch (e) {
          err(io, `Error querying Consul agent: ${errorText(e)}`);
          return 1;
        }
      },
    );
  },
};

/** Consul's helpers.LoadDataSource: `@file`, `-` for stdin, anything else (including `-x`) literally. */
export async function loadDataSource(data: string, io: CommandIO): Promise<Buffer> {
  if (data.startsWith("@")) {
    const path = data.slice(1);
    try {
      return await readFile(path);
    } catch (e) {
      const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
      const why =
        code === "ENOENT" ? "no such file or directory" : code === "EISDIR" ? "is a directory" : errorText(e);
      throw new Error(`Failed to read file: open ${path}: ${why}`);
    }
  }
  if (data === "-") {
    try {
      return await io.readStdin();
    } catch (e) {
      throw new Error(`Failed to read stdin: ${errorText(e)}`);
    }
  }
  return Buffer.from(data);
}

/** Go's base64.StdEncoding.DecodeString: padding required, error names the first bad byte. */
export function decodeStdBase64(s: string): Buffer {
  const bad = /[^A-Za-z0-9+/=]/.exec(s);
  const pad = s.indexOf("=");
  const badAt = bad?.index ?? (pad >= 0 && /[^=]/.test(s.slice(pad)) ? pad : -1);
  if (badAt >= 0) throw new Error(`illegal base64 data at input byte ${badAt}`);
  if (s.length % 4 !== 0) throw new Error(`illegal base64 data at input byte ${s.length - (s.length % 4)}`);
  return Buffer.from(s, "base64");
}

const putFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  cas: flag.bool(
    false,
    "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag to be set. " +
      "The default value is false.",
  ),
  flags: flag.uint64(
    0n,
    "Unsigned integer value to assign to this key-value pair. This value is not read by Consul, so clients can " +
      "use this value however makes sense for their use case. The default value is 0 (no flags).",
  ),
  base64: flag.bool(false, "Treat the data as base 64 encoded. The default value is false."),
  "modify-index": flag.uint64(
    0n,
    "Unsigned integer representing the ModifyIndex of the key. This is used in combination with the -cas flag.",
  ),
  session: flag.string(
    "",
    "User-defined identifer for this session as a string. This is commonly used with the -acquire and -release " +
      "operations to build robust locking, but it can be set on any key. The default value is empty (no session).",
  ),
  acquire: flag.bool(
    false,
    "Obtain a lock on the key. If the key does not exist, this operation will create the key and obtain the " +
      "lock. The session must already exist and be specified via the -session flag. The default value is false.",
  ),
  release: flag.bool(
    false,
    "Forfeit the lock on the key at the given path. This requires the -session flag to be set. The key must be " +
      "held by the session in order to be unlocked. The default value is false.",
  ),
};

const putHelp = usage(
  `Usage: cairn kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of any type.

      $ cairn kv put config/redis/maxconns 5

  The data can also be consumed from a file on disk by prefixing with the "@" symbol, or read from stdin
  using the "-" symbol. The DATA argument itself is optional; if omitted, an empty value is written.

      $ cairn kv put config/program/license @license.lic
      $ echo "abcd1234" | cairn kv put config/program/license -

  To perform a Check-And-Set operation, specify the -cas flag with the appropriate -modify-index flag
  corresponding to the key you want to perform the CAS operation on:

      $ cairn kv put -cas -modify-index=844 config/redis/maxconns 5`,
  putFlags,
);

async function putData(args: readonly string[], io: CommandIO): Promise<[string, Buffer]> {
  if (args.length === 0) throw new Error("Missing KEY argument");
  if (args.length > 2) throw new Error(`Too many arguments (expected 1 or 2, got ${args.length})`);
  const key = args[0] ?? "";
  return [key, args.length === 1 ? Buffer.alloc(0) : await loadDataSource(args[1] ?? "", io)];
}

export const kvPut: Command = {
  help: putHelp,
  async run(argv, io) {
    const parsed = parseOrExit(putFlags, argv, io, putHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    let key: string;
    let data: Buffer;
    try {
      [key, data] = await putData(parsed.args, io);
    } catch (e) {
      err(io, `Error! ${errorText(e)}`);
      return 1;
    }
    if (v.base64) {
      try {
        data = decodeStdBase64(data.toString("latin1"));
      } catch (e) {
        err(io, `Error! Cannot base 64 decode data: ${errorText(e)}`);
        return 1;
      }
    }
    if ((v.release || v.acquire) && v.session === "") {
      err(io, "Error! Missing -session (required with -acquire and -release)");
      return 1;
    }
    return withClient(
      io,
      () => clientFrom(parsed, io),
      CONNECT,
      (client) => putWith(client, io, key, data, v),
    );
  },
};

interface PutValues {
  readonly cas: boolean;
  readonly acquire: boolean;
  readonly release: boolean;
  readonly flags: bigint;
  readonly "modify-index": bigint;
  readonly session: string;
}

async function putWith(
  client: ConsulClient,
  io: CommandIO,
  key: string,
  data: Buffer,
  v: PutValues,
): Promise<number> {
  if (v.cas) {
    let ok: boolean;
    try {
      ok = await client.kvPut(key, data, v.flags, { cas: v["modify-index"] });
    } catch (e) {
      err(io, `Error! Did not write to ${key}: ${errorText(e)}`);
      return 1;
    }
    if (!ok && v["modify-index"] === 0n) {
      err(io, `Error! Did not write to ${key}: CAS performed with index=0 and key already exists.`);
      return 1;
    }
    if (!ok) {
      err(io, `Error! Did not write to ${key}: CAS failed`);
      return 1;
    }
    out(io, `Success! Data written to: ${key}`);
    return 0;
  }
  if (v.acquire || v.release) {
    const verb = v.acquire ? "acquire" : "release";
    let ok: boolean;
    try {
      ok = await client.kvPut(
        key,
        data,
        v.flags,
        v.acquire ? { acquire: v.session } : { release: v.session },
      );
    } catch (e) {
      // Consul's release branch prints the key here instead of the error; kept for identical output.
      err(io, `Error! Failed writing data: ${v.acquire ? errorText(e) : key}`);
      return 1;
    }
    if (!ok) {
      err(io, `Error! Did not ${verb} lock`);
      return 1;
    }
    out(io, `Success! Lock ${verb}d on: ${key}`);
    return 0;
  }
  try {
    await client.kvPut(key, data, v.flags);
  } catch (e) {
    err(io, `Error! Failed writing data: ${errorText(e)}`);
    return 1;
  }
  out(io, `Success! Data written to: ${key}`);
  return 0;
}

const deleteFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  cas: flag.bool(
    false,
    "Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag to be set. " +
      "The default value is false.",
  ),
  "modify-index": flag.uint64(
    0n,
    "Unsigned integer representing the ModifyIndex of the key. This is used in combination with the -cas flag.",
  ),
  recurse: flag.bool(false, "Recursively delete all keys with the path. The default value is false."),
};

const deleteHelp = usage(
  `Usage: cairn kv delete [options] KEY_OR_PREFIX

  Removes the value from the key-value store at the given path. If no key exists at the path, no action
  is taken.

      $ cairn kv delete foo

  To delete all keys which start with "foo", specify the -recurse option:

      $ cairn kv delete -recurse foo`,
  deleteFlags,
);

function deleteArgError(
  key: string,
  v: { recurse: boolean; cas: boolean; "modify-index": bigint },
): string | null {
  if (key === "" && !v.recurse) return "Error! Missing KEY argument";
  if (v.cas && v["modify-index"] === 0n) {
    return "Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.";
  }
  if (v["modify-index"] !== 0n && !v.cas) return "Cannot specify -modify-index without -cas!";
  if (v.recurse && v.cas) return "Cannot specify both -cas and -recurse!";
  return null;
}

export const kvDelete: Command = {
  help: deleteHelp,
  async run(argv, io) {
    const parsed = parseOrExit(deleteFlags, argv, io, deleteHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (parsed.args.length > 1) {
      err(io, `Too many arguments (expected 1, got ${parsed.args.length})`);
      return 1;
    }
    const key = stripSlash(parsed.args[0] ?? "");
    const argError = deleteArgError(key, v);
    if (argError !== null) {
      err(io, argError);
      return 1;
    }
    return withClient(
      io,
      () => clientFrom(parsed, io),
      CONNECT,
      async (client) => {
        if (v.recurse) {
          try {
            await client.kvDelete(key, { recurse: true });
          } catch (e) {
            err(io, `Error! Did not delete prefix ${key}: ${errorText(e)}`);
            return 1;
          }
          out(io, `Success! Deleted keys with prefix: ${key}`);
          return 0;
        }
        let ok: boolean;
        try {
          ok = await client.kvDelete(key, v.cas ? { cas: v["modify-index"] } : {});
        } catch (e) {
          err(
            io,
            v.cas
              ? `Error! Did not delete key ${key}: ${errorText(e)}`
              : `Error deleting key ${key}: ${errorText(e)}`,
          );
          return 1;
        }
        if (v.cas && !ok) {
          err(io, `Error! Did not delete key ${key}: CAS failed`);
          return 1;
        }
        out(io, `Success! Deleted key: ${key}`);
        return 0;
      },
    );
  },
};
