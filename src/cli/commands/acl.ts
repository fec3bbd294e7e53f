/**
 * What the `acl` commands share (command/acl/acl_helpers.go): running a command with the ACL API, resolving a
 * token's or a policy's unique ID prefix, reading a policy by name, the `-service-identity`/`-node-identity`
 * forms; and `acl bootstrap` (command/acl/bootstrap/bootstrap.go).
 */
import {
  AclApi,
  type AclNodeIdentity,
  type AclPolicy,
  type AclServiceIdentity,
  ANONYMOUS_TOKEN_ID,
  GLOBAL_MANAGEMENT_POLICY_ID,
  httpClientFlags,
  httpServerFlags,
} from "../../client/index.js";
import { type FlagDefs, flag, type ParsedFlags } from "../../util/flags.js";
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
import { aclFormat, formatFlag, formatToken } from "./acl-format.js";
import { loadDataSource, withClient } from "./kv.js";

/** The length of a full UUID: anything shorter is a prefix to resolve. */
const UUID_LENGTH = 36;

/** The HTTP flags every acl command merges (Consul's ClientFlags and ServerFlags). */
export const aclHttpFlags = { ...httpClientFlags, ...httpServerFlags };

/** `-meta`, with the usage Consul's token and policy commands give it. */
export function metaFlag(what: "token" | "policy") {
  return flag.bool(
    false,
    `Indicates that ${what} metadata such as the content hash and raft indices should be shown for each entry`,
  );
}

/** Runs `body` with the ACL API of a client made from the flags; a bad configuration is Consul's "Error connecting". */
export function withAcl<D extends FlagDefs & typeof httpClientFlags>(
  io: CommandIO,
  parsed: ParsedFlags<D>,
  body: (acl: AclApi) => Promise<number>,
): Promise<number> {
  return withClient(
    io,
    () => clientFrom(parsed, io),
    "Error connecting to Consul agent",
    (client) => body(new AclApi(client)),
  );
}

/** Consul's formatter check, before anything is sent: `Unknown format: x`, exit 1. */
export function formatOrExit(io: CommandIO, name: string): ReturnType<typeof aclFormat> | null {
  try {
    return aclFormat(name);
  } catch (e) {
    err(io, errorText(e));
    return null;
  }
}

/** The one ID of `ids` that starts with `partial`; Consul's texts when there are several or none. */
function uniqueByPrefix(ids: readonly string[], partial: string, kind: "token" | "policy"): string {
  const matches = ids.filter((id) => id.startsWith(partial));
  if (matches.length > 1) throw new Error(`Partial ${kind} ID is not unique`);
  const only = matches[0];
  if (only === undefined) throw new Error(`No such ${kind} ID with prefix: ${partial}`);
  return only;
}

/** GetTokenAccessorIDFromPartial: `anonymous`, a full UUID, or a prefix of exactly one token's AccessorID. */
export async function tokenAccessorFromPartial(acl: AclApi, partial: string): Promise<string> {
  if (partial === "anonymous") return ANONYMOUS_TOKEN_ID;
  if (partial.length === UUID_LENGTH) return partial;
  const tokens = await acl.tokenList();
  return uniqueByPrefix(
    tokens.map((t) => t.accessorId),
    partial,
    "token",
  );
}

/** GetPolicyIDFromPartial: `global-management`, a full UUID, or a prefix of exactly one policy's ID. */
export async function policyIdFromPartial(acl: AclApi, partial: string): Promise<string> {
  if (partial === "global-management") return GLOBAL_MANAGEMENT_POLICY_ID;
  if (partial.length === UUID_LENGTH) return partial;
  const policies = await acl.policyList();
  return uniqueByPrefix(
    policies.map((p) => p.id),
    partial,
    "policy",
  );
}

/** Marks a failed `attempt`, whose error is already printed. */
export const FAILED = Symbol("failed");

/** Runs one step of a command; a failure prints `<prefix>: <error>` (Consul's Ui.Error) and gives FAILED. */
export async function attempt<T>(
  io: CommandIO,
  prefix: string,
  call: () => Promise<T>,
): Promise<T | typeof FAILED> {
  try {
    return await call();
  } catch (e) {
    err(io, `${prefix}: ${errorText(e)}`);
    return FAILED;
  }
}

/** GetPolicyByName: null when there is none (the server's 404). */
export async function policyByName(acl: AclApi, name: string): Promise<AclPolicy | null> {
  if (name === "") throw new Error("No name specified");
  try {
    return await acl.policyReadByName(name);
  } catch (e) {
    throw new Error(`Failed to find policy with name ${name}: ${errorText(e)}`);
  }
}

/**
 * GetPolicyIDByName. Consul dereferences the nil policy of an unknown name (a panic); cairn says what its
 * older releases said instead.
 */
export async function policyIdByName(acl: AclApi, name: string): Promise<string> {
  const policy = await policyByName(acl, name);
  if (policy === null) throw new Error(`No such policy with name ${name}`);
  return policy.id;
}

/** ExtractServiceIdentities: `NAME` or `NAME:DC1,DC2`. */
export function serviceIdentities(raw: readonly string[]): AclServiceIdentity[] {
  return raw.map((s) => {
    const parts = s.split(":");
    if (parts.length === 1) return { serviceName: s, datacenters: [] };
    if (parts.length === 2) return { serviceName: parts[0] ?? "", datacenters: (parts[1] ?? "").split(",") };
    throw new Error(`Malformed -service-identity argument: ${goQuote(s)}`);
  });
}

/** ExtractNodeIdentities: `NODENAME:DATACENTER`. */
export function nodeIdentities(raw: readonly string[]): AclNodeIdentity[] {
  return raw.map((s) => {
    const parts = s.split(":");
    if (parts.length !== 2) throw new Error(`Malformed -node-identity argument: ${goQuote(s)}`);
    return { nodeName: parts[0] ?? "", datacenter: parts[1] ?? "" };
  });
}

/**
 * helpers.LoadDataSourceNoRaw: the bootstrap secret comes from a file (the path as given, no `@`) or stdin (`-`),
 * never from the command line itself, where other users could read it.
 */
async function loadSecretSource(data: string, io: CommandIO): Promise<string> {
  if (data === "") throw new Error("Failed to load data: must specify a file path or '-' for stdin");
  return (await loadDataSource(data === "-" ? data : `@${data}`, io)).toString("utf8");
}

const bootstrapFlags = { format: formatFlag, ...aclHttpFlags };

const bootstrapHelp = usage(
  `Usage: cairn acl bootstrap [options] [SECRET_FILE]

  The bootstrap command will request Consul to generate a new token with unlimited privileges to use
  for management purposes and output its details. This can only be done once and afterwards bootstrapping
  will be disabled. If all tokens are lost and you need to bootstrap again you can follow the bootstrap
  reset procedure.

  The optional SECRET_FILE (a path, or - for stdin) holds the SecretID the new token gets.`,
  bootstrapFlags,
);

export const aclBootstrap: Command = {
  help: bootstrapHelp,
  async run(argv, io) {
    const parsed = parseOrExit(bootstrapFlags, argv, io, bootstrapHelp);
    if (typeof parsed === "number") return parsed;
    if (parsed.args.length > 1) {
      err(io, "This command takes up to one argument");
      return 1;
    }
    const format = formatOrExit(io, parsed.values.format);
    if (format === null) return 1;
    let secret = "";
    const source = parsed.args[0];
    if (source !== undefined) {
      try {
        secret = (await loadSecretSource(source, io)).trim();
      } catch (e) {
        err(io, `Error reading provided token: ${errorText(e)}`);
        return 1;
      }
    }
    return withAcl(io, parsed, async (acl) => {
      const token = await attempt(io, "Failed ACL bootstrapping", () => acl.bootstrap(secret));
      if (token === FAILED) return 1;
      out(io, formatToken(token, format, false));
      return 0;
    });
  },
};
