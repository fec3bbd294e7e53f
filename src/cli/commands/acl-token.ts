/**
 * `acl token create|read|update|delete|clone|list` with the flags, output and error texts of Consul's
 * command/acl/token/*. Differences, each to change nothing on bad input: `-format` is checked before any request
 * (Consul checks it after the write), and conflicting update flags are refused before the token is read.
 * Roles, templated policies and `-expanded` are not offered: cairn's servers have none (their links still print).
 */
import type { AclLink, AclNodeIdentity, AclServiceIdentity, AclToken } from "../../client/index.js";
import { type FlagValues, flag } from "../../util/flags.js";
import { goQuote } from "../../util/goquote.js";
import { type Command, type CommandIO, err, errorText, out, parseOrExit, usage } from "../command.js";
import {
  aclHttpFlags,
  attempt,
  FAILED,
  formatOrExit,
  metaFlag,
  nodeIdentities,
  policyIdFromPartial,
  serviceIdentities,
  tokenAccessorFromPartial,
  withAcl,
} from "./acl.js";
import { type AclFormat, formatFlag, formatToken, formatTokenList } from "./acl-format.js";

const ACCESSOR_USAGE =
  "It may be specified as a unique ID prefix but will error if the prefix matches multiple token Accessor IDs";

/** `-id`, Consul's deprecated spelling of `-accessor-id`: parsed, but left out of the help as Consul does. */
const deprecatedId = { id: flag.string("", "DEPRECATED. Use -accessor-id instead.") };

/** The accessor from `-accessor-id`, else the deprecated `-id` (with Consul's warning), else null. */
function accessorOf(io: CommandIO, v: { "accessor-id": string; id: string }, warning: string): string | null {
  if (v["accessor-id"] !== "") return v["accessor-id"];
  if (v.id === "") return null;
  err(io, warning);
  return v.id;
}

/** Consul's pretty and json output through Ui.Info: the text and a newline, nothing when empty. */
function printOut(io: CommandIO, text: string): void {
  if (text !== "") out(io, text);
}

/** Policy links from names (sent as they are: the server resolves them) then IDs (prefixes resolved here). */
async function policyLinks(
  acl: Parameters<typeof policyIdFromPartial>[0],
  names: readonly string[],
  ids: readonly string[],
): Promise<AclLink[]> {
  const links: AclLink[] = names.map((name) => ({ id: "", name }));
  for (const given of ids) {
    try {
      links.push({ id: await policyIdFromPartial(acl, given), name: "" });
    } catch (e) {
      throw new Error(`Error resolving policy ID ${given}: ${errorText(e)}`);
    }
  }
  return links;
}

/** The `Error determining token ID: …` step of read, update, delete and clone. */
async function resolveAccessor(
  io: CommandIO,
  acl: Parameters<typeof tokenAccessorFromPartial>[0],
  partial: string,
  prefix = "Error determining token ID",
): Promise<string | null> {
  const id = await attempt(io, prefix, () => tokenAccessorFromPartial(acl, partial));
  return id === FAILED ? null : id;
}

// --- create -------------------------------------------------------------------------------------------------

const createFlags = {
  accessor: flag.string(
    "",
    "Create the token with this Accessor ID. It must be a UUID. If not specified one will be auto-generated",
  ),
  secret: flag.string(
    "",
    "Create the token with this Secret ID. It must be a UUID. If not specified one will be auto-generated",
  ),
  meta: metaFlag("token"),
  local: flag.bool(false, "Create this as a datacenter local token"),
  description: flag.string("", "A description of the token"),
  "policy-id": flag.list("ID of a policy to use for this token. May be specified multiple times"),
  "policy-name": flag.list("Name of a policy to use for this token. May be specified multiple times"),
  "service-identity": flag.list(
    "Name of a service identity to use for this token. May be specified multiple times. Format is the " +
      "SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...",
  ),
  "node-identity": flag.list(
    "Name of a node identity to use for this token. May be specified multiple times. Format is " +
      "NODENAME:DATACENTER",
  ),
  "expires-ttl": flag.duration(0, "Duration of time this token should be valid for"),
  format: formatFlag,
  ...aclHttpFlags,
};

const createHelp = usage(
  `Usage: cairn acl token create [options]

  When creating a new token policies may be linked using either the -policy-id
  or the -policy-name options. When specifying policies by IDs you may use a
  unique prefix of the UUID as a shortcut for specifying the entire UUID.

  Create a new token:

          $ cairn acl token create -description "Replication token" \\
                                   -policy-id b52fc3de-5 \\
                                   -policy-name "acl-replication" \\
                                   -service-identity "web" \\
                                   -service-identity "db:east,west"`,
  createFlags,
);

export const aclTokenCreate: Command = {
  help: createHelp,
  async run(argv, io) {
    const parsed = parseOrExit(createFlags, argv, io, createHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (
      v["policy-name"].length === 0 &&
      v["policy-id"].length === 0 &&
      v["service-identity"].length === 0 &&
      v["node-identity"].length === 0
    ) {
      err(
        io,
        "Cannot create a token without specifying -policy-name, -policy-id, -service-identity, or -node-identity at least once",
      );
      return 1;
    }
    const format = formatOrExit(io, v.format);
    if (format === null) return 1;
    let services: AclServiceIdentity[];
    let nodes: AclNodeIdentity[];
    try {
      services = serviceIdentities(v["service-identity"]);
      nodes = nodeIdentities(v["node-identity"]);
    } catch (e) {
      err(io, errorText(e));
      return 1;
    }
    // Go's time.Duration is whole nanoseconds; the flag parser gives milliseconds.
    const ttlNs = v["expires-ttl"] > 0 ? BigInt(Math.round(v["expires-ttl"] * 1e6)) : 0n;
    return withAcl(io, parsed, async (acl) => {
      let policies: AclLink[];
      try {
        policies = await policyLinks(acl, v["policy-name"], v["policy-id"]);
      } catch (e) {
        err(io, errorText(e));
        return 1;
      }
      const write = {
        accessorId: v.accessor,
        secretId: v.secret,
        description: v.description,
        local: v.local,
        policies,
        serviceIdentities: services,
        nodeIdentities: nodes,
        expirationTtlNs: ttlNs,
      };
      const token = await attempt(io, "Failed to create new token", () => acl.tokenCreate(write));
      if (token === FAILED) return 1;
      printOut(io, formatToken(token, format, v.meta));
      return 0;
    });
  },
};

// --- read ---------------------------------------------------------------------------------------------------

const readFlags = {
  meta: flag.bool(
    false,
    "Indicates that token metadata such as the content hash and Raft indices should be shown for each entry",
  ),
  self: flag.bool(
    false,
    "Indicates that the current HTTP token should be read by secret ID instead of expecting a -accessor-id option",
  ),
  "accessor-id": flag.string("", `The Accessor ID of the token to read. ${ACCESSOR_USAGE}`),
  format: formatFlag,
  ...aclHttpFlags,
};

const readHelp = usage(
  `Usage: cairn acl token read [options] -accessor-id TOKENID

  This command will retrieve and print out the details of
  a single token.

  Using a partial ID:

          $ cairn acl token read -accessor-id 4be56c77-82

  Using the full ID:

          $ cairn acl token read -accessor-id 4be56c77-8244-4c7d-b08c-667b8c71baed

  The token of the request itself (-token, -token-file, CONSUL_HTTP_TOKEN…):

          $ cairn acl token read -self`,
  readFlags,
);

export const aclTokenRead: Command = {
  help: readHelp,
  async run(argv, io) {
    const parsed = parseOrExit({ ...readFlags, ...deprecatedId }, argv, io, readHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    const format = formatOrExit(io, v.format);
    if (format === null) return 1;
    let accessor: string | null = null;
    if (!v.self) {
      accessor = accessorOf(io, v, "Use the -accessor-id parameter to specify token by Accessor ID");
      if (accessor === null) {
        err(io, "Must specify the -accessor-id parameter");
        return 1;
      }
    }
    return withAcl(io, parsed, async (acl) => {
      let token: AclToken | typeof FAILED;
      if (accessor === null) {
        token = await attempt(io, "Error reading token", () => acl.tokenReadSelf());
      } else {
        const id = await resolveAccessor(io, acl, accessor);
        if (id === null) return 1;
        token = await attempt(io, `Error reading token ${goQuote(id)}`, () => acl.tokenRead(id));
      }
      if (token === FAILED) return 1;
      printOut(io, formatToken(token, format, v.meta));
      return 0;
    });
  },
};

// --- update -------------------------------------------------------------------------------------------------

const updateFlags = {
  meta: metaFlag("token"),
  "accessor-id": flag.string("", `The Accessor ID of the token to update. ${ACCESSOR_USAGE}`),
  description: flag.string("", "A description of the token"),
  "policy-id": flag.list(
    "ID of a policy to use for this token. Overwrites existing policies. May be specified multiple times",
  ),
  "append-policy-id": flag.list(
    "ID of a policy to use for this token. The token retains existing policies. May be specified multiple times",
  ),
  "policy-name": flag.list(
    "Name of a policy to use for this token. Overwrites existing policies. May be specified multiple times",
  ),
  "append-policy-name": flag.list(
    "Name of a policy to add to this token. The token retains existing policies. May be specified multiple times",
  ),
  "service-identity": flag.list(
    "Name of a service identity to use for this token. May be specified multiple times. Format is the " +
      "SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...",
  ),
  "append-service-identity": flag.list(
    "Name of a service identity to use for this token. This token retains existing service identities. May be " +
      "specified multiple times. Format is the SERVICENAME or SERVICENAME:DATACENTER1,DATACENTER2,...",
  ),
  "node-identity": flag.list(
    "Name of a node identity to use for this token. May be specified multiple times. Format is " +
      "NODENAME:DATACENTER",
  ),
  "append-node-identity": flag.list(
    "Name of a node identity to use for this token. This token retains existing node identities. May be " +
      "specified multiple times. Format is NODENAME:DATACENTER",
  ),
  format: formatFlag,
  ...aclHttpFlags,
};

/** The deprecated update flags: parsed, not in the help (Consul registers them after building it). */
const updateDeprecated = {
  ...deprecatedId,
  "merge-policies": flag.bool(false, "DEPRECATED. Use -append-policy-id or -append-policy-name instead."),
  "merge-service-identities": flag.bool(false, "DEPRECATED. Use -append-service-identity instead."),
  "merge-node-identities": flag.bool(false, "DEPRECATED. Use -append-node-identity instead."),
};

const updateHelp = usage(
  `Usage: cairn acl token update [options]

    This command will update a token. Some parts such as marking the token local
    cannot be changed.

    Update a token description and take the policies from the existing token:

        $ cairn acl token update -accessor-id abcd -description "replication" -merge-policies

    Update all editable fields of the token:

        $ cairn acl token update -accessor-id abcd \\
                                 -description "replication" \\
                                 -policy-name "token-replication"`,
  updateFlags,
);

const COMBINE_SERVICE =
  "Cannot combine the use of service-identity flag with append-service-identity. To set or overwrite existing " +
  "service identities, use -service-identity. To append to existing service identities, use " +
  "-append-service-identity.";
const COMBINE_NODE =
  "Cannot combine the use of node-identity flag with append-node-identity. To set or overwrite existing node " +
  "identities, use -node-identity. To append to existing node identities, use -append-node-identity.";
const COMBINE_POLICY =
  "Cannot combine the use of policy-id/policy-name flags with append- variants. To set or overwrite existing " +
  "policies, use -policy-id or -policy-name. To append to existing policies, use -append-policy-id or " +
  "-append-policy-name.";

type UpdateValues = FlagValues<typeof updateFlags & typeof updateDeprecated>;

/** The token's policies after the update: merged (-merge-policies), appended, replaced, or kept. */
async function updatedPolicies(
  acl: Parameters<typeof policyIdFromPartial>[0],
  current: readonly AclLink[],
  v: UpdateValues,
): Promise<AclLink[]> {
  if (v["merge-policies"]) {
    const merged = [...current];
    for (const name of v["policy-name"])
      if (!merged.some((l) => l.name === name)) merged.push({ id: "", name });
    for (const link of await policyLinks(acl, [], v["policy-id"]))
      if (!merged.some((l) => l.id === link.id)) merged.push(link);
    return merged;
  }
  const replace = v["policy-id"].length > 0 || v["policy-name"].length > 0;
  const added = replace
    ? await policyLinks(acl, v["policy-name"], v["policy-id"])
    : await policyLinks(acl, v["append-policy-name"], v["append-policy-id"]);
  return replace ? added : [...current, ...added];
}

export const aclTokenUpdate: Command = {
  help: updateHelp,
  async run(argv, io) {
    const parsed = parseOrExit({ ...updateFlags, ...updateDeprecated }, argv, io, updateHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    const accessor = accessorOf(io, v, "Use the -accessor-id parameter to specify token by Accessor ID");
    if (accessor === null) {
      err(io, "Cannot update a token without specifying the -accessor-id parameter");
      return 1;
    }
    const format = formatOrExit(io, v.format);
    if (format === null) return 1;
    const appendServices = v["append-service-identity"].length > 0;
    const appendNodes = v["append-node-identity"].length > 0;
    const conflict =
      appendServices && v["service-identity"].length > 0
        ? COMBINE_SERVICE
        : appendNodes && v["node-identity"].length > 0
          ? COMBINE_NODE
          : !v["merge-policies"] &&
              (v["policy-id"].length > 0 || v["policy-name"].length > 0) &&
              (v["append-policy-id"].length > 0 || v["append-policy-name"].length > 0)
            ? COMBINE_POLICY
            : null;
    if (conflict !== null) {
      err(io, conflict);
      return 1;
    }
    let services: AclServiceIdentity[];
    let nodes: AclNodeIdentity[];
    try {
      services = serviceIdentities(appendServices ? v["append-service-identity"] : v["service-identity"]);
      nodes = nodeIdentities(appendNodes ? v["append-node-identity"] : v["node-identity"]);
    } catch (e) {
      err(io, errorText(e));
      return 1;
    }
    if (v["merge-policies"])
      err(
        io,
        "merge-policies is deprecated and will be removed in a future Consul version. " +
          "Use `append-policy-name` or `append-policy-id` instead.",
      );
    return withAcl(io, parsed, async (acl) => {
      const id = await resolveAccessor(io, acl, accessor);
      if (id === null) return 1;
      const current = await attempt(io, "Error when retrieving current token", () => acl.tokenRead(id));
      if (current === FAILED) return 1;
      let policies: AclLink[];
      try {
        policies = await updatedPolicies(acl, current.policies, v);
      } catch (e) {
        err(io, errorText(e));
        return 1;
      }
      const mergeServices = v["merge-service-identities"] || appendServices;
      const mergeNodes = v["merge-node-identities"] || appendNodes;
      const write = {
        ...current,
        description: v.description !== "" ? v.description : current.description,
        policies,
        serviceIdentities: mergeServices
          ? mergeServiceIdentities(current.serviceIdentities, services)
          : services,
        nodeIdentities: mergeNodes ? mergeNodeIdentities(current.nodeIdentities, nodes) : nodes,
      };
      const updated = await attempt(io, `Failed to update token ${id}`, () => acl.tokenUpdate(id, write));
      if (updated === FAILED) return 1;
      printOut(io, formatToken(updated, format, v.meta));
      return 0;
    });
  },
};

/** A given service identity replaces the token's one of the same name, else is added. */
function mergeServiceIdentities(
  current: readonly AclServiceIdentity[],
  given: readonly AclServiceIdentity[],
): AclServiceIdentity[] {
  const merged = [...current];
  for (const s of given) {
    const at = merged.findIndex((m) => m.serviceName === s.serviceName);
    if (at >= 0) merged[at] = s;
    else merged.push(s);
  }
  return merged;
}

/** A given node identity is added unless the token has it already. */
function mergeNodeIdentities(current: readonly AclNodeIdentity[], given: readonly AclNodeIdentity[]) {
  const merged = [...current];
  for (const n of given)
    if (!merged.some((m) => m.nodeName === n.nodeName && m.datacenter === n.datacenter)) merged.push(n);
  return merged;
}

// --- delete, clone, list ------------------------------------------------------------------------------------

const deleteFlags = {
  "accessor-id": flag.string("", `The Accessor ID of the token to delete. ${ACCESSOR_USAGE}`),
  ...aclHttpFlags,
};

const deleteHelp = usage(
  `Usage: cairn acl token delete [options] -accessor-id TOKEN

  Deletes an ACL token by providing either the ID or a unique ID prefix.

      Delete by prefix:

          $ cairn acl token delete -accessor-id b6b85

      Delete by full ID:

          $ cairn acl token delete -accessor-id b6b856da-5193-4e78-845a-7d61ca8371ba`,
  deleteFlags,
);

export const aclTokenDelete: Command = {
  help: deleteHelp,
  async run(argv, io) {
    const parsed = parseOrExit({ ...deleteFlags, ...deprecatedId }, argv, io, deleteHelp);
    if (typeof parsed === "number") return parsed;
    const accessor = accessorOf(
      io,
      parsed.values,
      "Use the -accessor-id parameter to specify token by Accessor ID.",
    );
    if (accessor === null) {
      err(io, "Must specify the -accessor-id parameter");
      return 1;
    }
    return withAcl(io, parsed, async (acl) => {
      const id = await resolveAccessor(io, acl, accessor);
      if (id === null) return 1;
      if ((await attempt(io, `Error deleting token ${goQuote(id)}`, () => acl.tokenDelete(id))) === FAILED)
        return 1;
      out(io, `Token ${goQuote(id)} deleted successfully`);
      return 0;
    });
  },
};

const cloneFlags = {
  "accessor-id": flag.string(
    "",
    `The Accessor ID of the token to clone. ${ACCESSOR_USAGE}. The special value of 'anonymous' may be provided ` +
      "instead of the anonymous tokens accessor ID",
  ),
  description: flag.string("", "A description of the new cloned token"),
  format: formatFlag,
  ...aclHttpFlags,
};

const cloneHelp = usage(
  `Usage: cairn acl token clone [options]

    This command will clone a token. When cloning an alternate description may be given
    for use with the new token.

    Example:

        $ cairn acl token clone -accessor-id abcd -description "replication"`,
  cloneFlags,
);

export const aclTokenClone: Command = {
  help: cloneHelp,
  async run(argv, io) {
    const parsed = parseOrExit({ ...cloneFlags, ...deprecatedId }, argv, io, cloneHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    const accessor = accessorOf(
      io,
      v,
      "The -id parameter is deprecated. Use the -accessor-id parameter instead.",
    );
    if (accessor === null) {
      err(io, "Cannot update a token without specifying the -accessor-id parameter");
      return 1;
    }
    const format = formatOrExit(io, v.format);
    if (format === null) return 1;
    return withAcl(io, parsed, async (acl) => {
      const id = await resolveAccessor(io, acl, accessor, "Error determining token Accessor ID");
      if (id === null) return 1;
      const token = await attempt(io, "Error cloning token", () => acl.tokenClone(id, v.description));
      if (token === FAILED) return 1;
      printOut(io, formatToken(token, format, false));
      return 0;
    });
  },
};

const listFlags = { meta: metaFlag("token"), format: formatFlag, ...aclHttpFlags };

const listHelp = usage(
  `Usage: cairn acl token list [options]

  Lists all the ACL tokens.

          $ cairn acl token list`,
  listFlags,
);

export const aclTokenList: Command = {
  help: listHelp,
  async run(argv, io) {
    const parsed = parseOrExit(listFlags, argv, io, listHelp);
    if (typeof parsed === "number") return parsed;
    const format: AclFormat | null = formatOrExit(io, parsed.values.format);
    if (format === null) return 1;
    return withAcl(io, parsed, async (acl) => {
      const list = await attempt(io, "Failed to retrieve the token list", () => acl.tokenList());
      if (list === FAILED) return 1;
      printOut(io, formatTokenList(list, format, parsed.values.meta));
      return 0;
    });
  },
};
