/**
 * `services register` and `services deregister`, as Consul's command/services/{register,deregister}: a service
 * from flags, or the `service` / `services` blocks of JSON definition files, registered on (removed from) the
 * local agent only, one agent call per service.
 */
import { readFileSync } from "node:fs";
import {
  type ConsulClient,
  httpClientFlags,
  isObject,
  type Json,
  JsonSyntaxError,
  parseJson,
} from "../../client/index.js";
import { type FlagValues, flag } from "../../util/flags.js";
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
import { withClient } from "./kv.js";

type JsonObject = { [key: string]: Json };

const registerFlags = {
  ...httpClientFlags,
  name: flag.string("", "Name of the service. This is used with flags to register a single service."),
  id: flag.string("", "ID of the service. Defaults to the name if not set."),
  address: flag.string("", "Address of the service. Defaults to the node address if not set."),
  port: flag.int(0, "Port of the service."),
  tag: flag.list(
    "Tag to add to the service. This flag can be specified multiple times to set multiple tags.",
  ),
  meta: flag.list(
    "Metadata to set on the service, formatted as `key=value`. This flag may be specified multiple times.",
  ),
  "tagged-address": flag.list(
    "Tagged address to set on the service, formatted as `key=addr:port`. This flag may be specified multiple times.",
  ),
  kind: flag.string(
    "",
    "The service's kind; cairn registers typical services only, so this must stay empty.",
  ),
} as const;

const registerHelp = usage(
  `Usage: cairn services register [options] [FILE...]

  Register one or more services using the local agent API. Services can be registered from JSON files with
  "service" or "services" blocks, or a single service can be registered with the command options (-name and
  friends). Files and options are not combined: with FILE arguments, the options that describe a service are
  ignored.

  Register a service from flags:

      $ cairn services register -name=web -port=80 -tag=v1

  Register services from files:

      $ cairn services register web.json db.json`,
  registerFlags,
);

const deregisterFlags = {
  ...httpClientFlags,
  id: flag.string("", "ID to delete. This must not be set if arguments are given."),
} as const;

const deregisterHelp = usage(
  `Usage: cairn services deregister [options] [FILE...]

  Deregister one or more services that were previously registered with the local agent, by the files that
  registered them or by -id.

      $ cairn services deregister web.json
      $ cairn services deregister -id=web`,
  deregisterFlags,
);

/** `key=value` pairs as Consul's FlagMapValue reads them (split at the first "="). */
function keyValues(list: readonly string[], flagName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const at = kv.indexOf("=");
    if (at === -1)
      throw new Error(`invalid value ${goQuote(kv)} for flag -${flagName}: Missing = in argument: ${kv}`);
    out[kv.slice(0, at)] = kv.slice(at + 1);
  }
  return out;
}

function taggedAddresses(list: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(keyValues(list, "tagged-address"))) {
    const m = /^(.*):(\d+)$/.exec(v);
    out[k] =
      m === null
        ? { Address: v, Port: 0 }
        : { Address: (m[1] ?? "").replace(/^\[(.*)\]$/, "$1"), Port: Number(m[2]) };
  }
  return out;
}

/** The services defined in JSON files (`service`: one object or a list, `services`: a list). */
export function servicesFromFiles(files: readonly string[]): JsonObject[] {
  const out: JsonObject[] = [];
  for (const file of files) {
    if (file.endsWith(".hcl"))
      throw new Error(`Error loading ${goQuote(file)}: HCL is not supported; write JSON`);
    let doc: Json;
    try {
      doc = parseJson(readFileSync(file, "utf8"));
    } catch (e) {
      const why = e instanceof JsonSyntaxError ? `invalid JSON: ${e.message}` : errorText(e);
      throw new Error(`Error loading ${goQuote(file)}: ${why}`);
    }
    if (!isObject(doc)) throw new Error(`Error loading ${goQuote(file)}: the file must hold a JSON object`);
    const found: Json[] = [];
    for (const key of ["service", "services"]) {
      const v = doc[key];
      if (v === undefined) continue;
      found.push(...(Array.isArray(v) ? v : [v]));
    }
    if (found.length === 0)
      throw new Error(`Error loading ${goQuote(file)}: no "service" or "services" block`);
    for (const s of found) {
      if (!isObject(s)) throw new Error(`Error loading ${goQuote(file)}: a service must be a JSON object`);
      out.push(s);
    }
  }
  return out;
}

/** A field of a file's service whatever its case or underscores (Consul decodes them so). */
function fieldOf(s: JsonObject, name: string): string {
  const want = name.toLowerCase();
  const k = Object.keys(s).find((x) => x.replaceAll("_", "").toLowerCase() === want);
  const v = k === undefined ? undefined : s[k];
  return typeof v === "string" ? v : "";
}

type RegisterValues = FlagValues<typeof registerFlags>;

function serviceFromFlags(v: RegisterValues): JsonObject {
  const s: JsonObject = { Name: v.name };
  if (v.id !== "") s.ID = v.id;
  if (v.address !== "") s.Address = v.address;
  if (v.port !== 0) s.Port = v.port;
  if (v.tag.length > 0) s.Tags = [...v.tag];
  if (v.meta.length > 0) s.Meta = keyValues(v.meta, "meta");
  if (v["tagged-address"].length > 0) s.TaggedAddresses = taggedAddresses(v["tagged-address"]);
  if (v.kind !== "") s.Kind = v.kind;
  return s;
}

function collect(make: () => JsonObject[], io: CommandIO): JsonObject[] | null {
  try {
    return make();
  } catch (e) {
    err(io, `Error: ${errorText(e)}`);
    return null;
  }
}

/**
 * One agent call per item, in order, printing `<Done> service: <label>`; the first failure prints
 * `Error <doing> service "<label>": <error>` and ends with exit 1, as Consul's commands do.
 */
function onAgent<T extends { readonly label: string }>(
  io: CommandIO,
  make: () => ConsulClient,
  items: readonly T[],
  doing: string,
  done: string,
  call: (c: ConsulClient, item: T) => Promise<void>,
): Promise<number> {
  return withClient(io, make, "Error connecting to Consul agent", async (client) => {
    for (const item of items) {
      try {
        await call(client, item);
      } catch (e) {
        err(io, `Error ${doing} service ${goQuote(item.label)}: ${errorText(e)}`);
        return 1;
      }
      out(io, `${done} service: ${item.label}`);
    }
    return 0;
  });
}

export const servicesRegister: Command = {
  help: registerHelp,
  async run(argv, io) {
    const parsed = parseOrExit(registerFlags, argv, io, registerHelp);
    if (typeof parsed === "number") return parsed;
    if (parsed.args.length === 0 && parsed.values.name === "") {
      err(io, "Service registration requires at least one argument or flags.");
      return 1;
    }
    const svcs = collect(
      () => (parsed.args.length > 0 ? servicesFromFiles(parsed.args) : [serviceFromFlags(parsed.values)]),
      io,
    );
    if (svcs === null) return 1;
    const named = svcs.map((svc) => ({ label: fieldOf(svc, "Name"), svc }));
    return onAgent(
      io,
      () => clientFrom(parsed, io),
      named,
      "registering",
      "Registered",
      (c, x) => c.agentServiceRegister(x.svc),
    );
  },
};

export const servicesDeregister: Command = {
  help: deregisterHelp,
  async run(argv, io) {
    const parsed = parseOrExit(deregisterFlags, argv, io, deregisterHelp);
    if (typeof parsed === "number") return parsed;
    const { args } = parsed;
    if (args.length === 0 && parsed.values.id === "") {
      err(io, "Service deregistration requires at least one argument or -id.");
      return 1;
    }
    if (args.length > 0 && parsed.values.id !== "") {
      err(io, "Service deregistration requires arguments or -id, not both.");
      return 1;
    }
    let ids: string[] = [parsed.values.id];
    if (args.length > 0) {
      const svcs = collect(() => servicesFromFiles(args), io);
      if (svcs === null) return 1;
      ids = svcs.map((s) => fieldOf(s, "ID") || fieldOf(s, "Name"));
    }
    const labelled = ids.map((id) => ({ label: id }));
    return onAgent(
      io,
      () => clientFrom(parsed, io),
      labelled,
      "deregistering",
      "Deregistered",
      (c, x) => c.agentServiceDeregister(x.label),
    );
  },
};
