/**
 * `cairn watch`, as Consul's command/watch over api/watch: a blocking-query loop on one data view (key,
 * keyprefix, services, nodes, service, checks) that hands each changed result to a handler process on its stdin
 * (CONSUL_INDEX in its env), or prints the first result and exits when no handler is given. The loop follows
 * Consul's Plan: an unchanged index or an equal result does not fire; an index that went backwards resets to 0;
 * a failed read backs off 5 s × failures² (at most 180 s). It runs until SIGINT/SIGTERM (exit 0) or a handler
 * fails (exit 1).
 */
import { spawn } from "node:child_process";
import type { ConsulClient, Json, QueryMeta } from "../../client/index.js";
import { httpClientFlags, httpServerFlags } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { sleep } from "../../util/sleep.js";
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
import { goMarshal, goMarshalIndent } from "../go-json.js";
import { withCheckedClient } from "./kv.js";

const flags = {
  ...httpClientFlags,
  ...httpServerFlags,
  type: flag.string(
    "",
    "Specifies the watch type. One of key, keyprefix, services, nodes, service, checks, or event.",
  ),
  key: flag.string("", "Specifies the key to watch. Only for 'key' type."),
  prefix: flag.string("", "Specifies the key prefix to watch. Only for 'keyprefix' type."),
  service: flag.string(
    "",
    "Specifies the service to watch. Required for 'service' type, optional for 'checks' type.",
  ),
  tag: flag.string("", "Specifies the service tag to filter on. Optional for 'service' type."),
  passingonly: flag.string(
    "",
    "Specifies if only hosts passing all checks are displayed. Optional for 'service' type, must be one of " +
      "`[true|false]`. Defaults false.",
  ),
  shell: flag.bool(
    true,
    "Use a shell to run the command (can set a custom shell via the SHELL environment variable).",
  ),
  state: flag.string("", "Specifies the states to watch. Optional for 'checks' type."),
  name: flag.string("", "Specifies an event name to watch. Only for 'event' type."),
};

const help = usage(
  `Usage: cairn watch [options] [child...]

  Watches for changes in a given data view from Consul. If a child process
  is specified, it will be invoked with the latest results on changes. Otherwise,
  the latest values are dumped to stdout and the watch terminates.

  Providing the watch type is required, and other parameters may be required
  or supported depending on the watch type.`,
  flags,
);

// Below the client's 60 s request timeout (the server adds up to wait/16 of jitter); Consul sends no wait and
// takes the server's 5 min default, which only changes how often an idle watch asks again.
const WAIT_MS = 30_000;
const RETRY_MS = 5_000;
const BACKOFF_MAX_MS = 180_000;
const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** One read of the watched view: its index and its result (null when Go's api has none, as a missing key). */
type Read = (client: ConsulClient, index: bigint, stale: boolean) => Promise<{ index: bigint; value: Json }>;

/** Go's strconv.ParseBool. */
function parseBool(s: string): boolean | null {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return null;
}

const segs = (s: string): string => s.split("/").map(encodeURIComponent).join("/");

/** api.KVPair as Go's api re-encodes it: its field order, Namespace/Partition only when set. */
function apiKvPair(v: Json): Json {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  const o: { [key: string]: Json } = {
    Key: v.Key ?? "",
    CreateIndex: v.CreateIndex ?? 0,
    ModifyIndex: v.ModifyIndex ?? 0,
    LockIndex: v.LockIndex ?? 0,
    Flags: v.Flags ?? 0,
    Value: v.Value ?? null,
    Session: v.Session ?? "",
  };
  if (typeof v.Namespace === "string" && v.Namespace !== "") o.Namespace = v.Namespace;
  if (typeof v.Partition === "string" && v.Partition !== "") o.Partition = v.Partition;
  return o;
}

function read(path: string, params: [string, string][], shape: (v: Json) => Json): Read {
  return async (client, index, stale) => {
    const q = { stale, waitMs: WAIT_MS, ...(index > 0n ? { index } : {}) };
    const r: { value: Json; meta: QueryMeta } = await client.readJson(path, params, q);
    return { index: r.meta.lastIndex, value: shape(r.value) };
  };
}

/** Consul's watch.Parse for the types cairn serves: the read, or the error text Consul gives. */
function plan(v: {
  type: string;
  key: string;
  prefix: string;
  service: string;
  tag: string;
  state: string;
  name: string;
  passingOnly: boolean | null;
}): Read | string {
  const given: Record<string, boolean> = {
    key: v.key !== "",
    prefix: v.prefix !== "",
    service: v.service !== "",
    tag: v.tag !== "",
    state: v.state !== "",
    name: v.name !== "",
    passingonly: v.passingOnly !== null,
  };
  const accepts: Record<string, readonly string[]> = {
    key: ["key"],
    keyprefix: ["prefix"],
    services: [],
    nodes: [],
    service: ["service", "tag", "passingonly"],
    checks: ["service", "state", "tag"],
  };
  if (v.type === "event") return "Unsupported watch type: event (cairn has no user events)";
  const own = accepts[v.type];
  if (own === undefined) return `Unsupported watch type: ${v.type}`;
  const extra = Object.keys(given)
    .filter((k) => given[k] === true && !own.includes(k))
    .sort();
  if (extra.length > 0) return `Invalid parameters: [${extra.join(" ")}]`;
  const tags: [string, string][] = v.tag === "" ? [] : [["tag", v.tag]];
  switch (v.type) {
    case "key":
      if (v.key === "") return "Must specify a single key to watch";
      // The server answers a list of one entry; Go's kv.Get hands on that entry.
      return read(`/v1/kv/${segs(v.key)}`, [], (x) => apiKvPair(Array.isArray(x) ? (x[0] ?? null) : x));
    case "keyprefix":
      if (v.prefix === "") return "Must specify a single prefix to watch";
      return read(`/v1/kv/${segs(v.prefix)}`, [["recurse", ""]], (x) =>
        Array.isArray(x) ? x.map(apiKvPair) : x,
      );
    case "services":
      return read("/v1/catalog/services", [], (x) => x);
    case "nodes":
      return read("/v1/catalog/nodes", [], (x) => x);
    case "service": {
      if (v.service === "") return "Must specify a single service to watch";
      const passing: [string, string][] = v.passingOnly === true ? [["passing", "1"]] : [];
      return read(`/v1/health/service/${encodeURIComponent(v.service)}`, [...tags, ...passing], (x) => x);
    }
    default: {
      if (v.service !== "" && v.state !== "") return "Cannot specify service and state";
      if (v.service !== "") return read(`/v1/health/checks/${encodeURIComponent(v.service)}`, [], (x) => x);
      const state = v.state === "" ? "any" : v.state;
      return read(`/v1/health/state/${encodeURIComponent(state)}`, tags, (x) => x);
    }
  }
}

/** Runs the handler with the result on stdin; resolves Go's cmd error text, or null when it exited 0. */
function runHandler(args: readonly string[], shell: boolean, index: bigint, data: Json, io: CommandIO) {
  const env = { ...io.env, CONSUL_INDEX: index.toString() };
  const stdio: ["pipe", "pipe", "pipe"] = ["pipe", "pipe", "pipe"];
  const proc = shell
    ? spawn(io.env.SHELL || "/bin/sh", ["-c", args.join(" ")], { env, stdio })
    : spawn(args[0] as string, args.slice(1), { env, stdio });
  proc.stdout.on("data", (b: Buffer) => io.stdout.write(b));
  proc.stderr.on("data", (b: Buffer) => io.stderr.write(b));
  // A handler that does not read its stdin must not fail the write.
  proc.stdin.on("error", () => {});
  proc.stdin.end(`${goMarshal(data)}\n`);
  return new Promise<string | null>((resolve) => {
    proc.once("error", (e) => resolve(e.message));
    proc.once("close", (code, signal) => {
      if (signal !== null) resolve(`signal: ${signal === "SIGKILL" ? "killed" : signal}`);
      else resolve(code === 0 ? null : `exit status ${code}`);
    });
  });
}

export const watch: Command = {
  help,
  async run(argv, io) {
    const parsed = parseOrExit(flags, argv, io, help);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.type === "") {
      err(io, "Watch type must be specified");
      err(io, "");
      err(io, help);
      return 1;
    }
    let passingOnly: boolean | null = null;
    if (v.passingonly !== "") {
      passingOnly = parseBool(v.passingonly);
      if (passingOnly === null) {
        err(
          io,
          `Failed to parse passingonly flag: strconv.ParseBool: parsing "${v.passingonly}": invalid syntax`,
        );
        return 1;
      }
    }
    const readView = plan({ ...v, passingOnly });
    if (typeof readView === "string") {
      err(io, readView);
      return 1;
    }
    const handler = parsed.args;
    return withCheckedClient(
      io,
      () => clientFrom(parsed, io),
      async (client) => {
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        for (const s of SIGNALS) process.on(s, onSignal);
        const stopped = new Promise<null>((r) => stop.signal.addEventListener("abort", () => r(null)));
        try {
          return await loop(
            client,
            readView,
            v.stale,
            stop.signal,
            stopped,
            async (index, data) => {
              if (handler.length === 0) {
                out(io, goMarshalIndent(data, "    "));
                return 0;
              }
              const failed = await runHandler(handler, v.shell, index, data, io);
              if (failed === null) return null;
              err(io, `Error executing handler: ${failed}`);
              return 1;
            },
            io,
          );
        } finally {
          for (const s of SIGNALS) process.off(s, onSignal);
        }
      },
    );
  },
};

/** Consul's Plan.Run: resolves the exit code `fire` gives (null goes on), or 0 once a signal arrives. */
async function loop(
  client: ConsulClient,
  readView: Read,
  stale: boolean,
  signal: AbortSignal,
  stopped: Promise<null>,
  fire: (index: bigint, data: Json) => Promise<number | null>,
  io: CommandIO,
): Promise<number> {
  let last: bigint | null = null;
  let lastResult = "";
  let failures = 0;
  while (!signal.aborted) {
    let r: { index: bigint; value: Json } | null;
    try {
      r = await Promise.race([readView(client, last ?? 0n, stale), stopped]);
    } catch (e) {
      failures++;
      last = null;
      const retry = Math.min(RETRY_MS * failures * failures, BACKOFF_MAX_MS);
      err(io, `Watch errored: ${errorText(e)}, retry in ${retry / 1000}s`);
      await sleep(retry, signal);
      continue;
    }
    if (r === null) break;
    failures = 0;
    if (last !== null && last === r.index) continue;
    const old: bigint | null = last;
    last = old !== null && old > r.index ? 0n : r.index;
    const encoded = goMarshal(r.value);
    if (old !== null && encoded === lastResult) continue;
    lastResult = encoded;
    const code = await fire(r.index, r.value);
    if (code !== null) return code;
  }
  return 0;
}
