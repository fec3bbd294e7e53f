/**
 * `acl policy create|read|update|delete|list` with the flags, output and error texts of Consul's
 * command/acl/policy/*. `-rules` takes `@file`, `-` (stdin) or the rules themselves (helpers.LoadDataSource);
 * `-valid-datacenter` (repeatable) scopes a policy to datacenters. As for tokens, `-format` is checked and the
 * rules are loaded before anything is sent.
 */
import type { AclApi, AclPolicyWrite } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { goQuote } from "../../util/goquote.js";
import { type Command, type CommandIO, err, out, parseOrExit, usage } from "../command.js";
import {
  aclHttpFlags,
  attempt,
  FAILED,
  formatOrExit,
  metaFlag,
  policyByName,
  policyIdByName,
  policyIdFromPartial,
  withAcl,
} from "./acl.js";
import { formatFlag, formatPolicy, formatPolicyList } from "./acl-format.js";
import { loadDataSource } from "./kv.js";

const ID_USAGE =
  "It may be specified as a unique ID prefix but will error if the prefix matches multiple policy IDs";

const rulesFlag = flag.string(
  "",
  "The policy rules. May be prefixed with '@' to indicate that the value is a file path to load the rules from. " +
    "'-' may also be given to indicate that the rules are available on stdin",
);
const datacenterFlag = flag.list(
  "Datacenter that the policy should be valid within. This flag may be specified multiple times",
);

/** helpers.LoadDataSource of `-rules` as text; "" stays "" (an empty shell argument). */
async function loadRules(data: string, io: CommandIO): Promise<string> {
  return data === "" ? "" : (await loadDataSource(data, io)).toString("utf8");
}

/** Consul's "Error determining policy ID" step: a unique ID prefix, or the policy of that name. */
async function resolvePolicyId(io: CommandIO, acl: AclApi, id: string, name: string): Promise<string | null> {
  const resolved = await attempt(io, "Error determining policy ID", () =>
    id !== "" ? policyIdFromPartial(acl, id) : policyIdByName(acl, name),
  );
  return resolved === FAILED ? null : resolved;
}

// --- create -------------------------------------------------------------------------------------------------

const createFlags = {
  meta: metaFlag("policy"),
  name: flag.string("", "The new policy's name. This flag is required."),
  description: flag.string("", "A description of the policy"),
  "valid-datacenter": datacenterFlag,
  rules: rulesFlag,
  format: formatFlag,
  ...aclHttpFlags,
};

const createHelp = usage(
  `Usage: cairn acl policy create -name NAME [options]

    The -rules option values allows loading the value from stdin, a file
    or the raw value. To use stdin pass '-' as the value. To load the value
    from a file prefix the value with an '@'. Any other values will be used
    directly.

    Create a new policy:

        $ cairn acl policy create -name "new-policy" \\
                                  -description "This is an example policy" \\
                                  -valid-datacenter "dc1" \\
                                  -valid-datacenter "dc2" \\
                                  -rules @rules.hcl`,
  createFlags,
);

export const aclPolicyCreate: Command = {
  help: createHelp,
  async run(argv, io) {
    const parsed = parseOrExit(createFlags, argv, io, createHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.name === "") {
      err(io, "Missing require '-name' flag");
      err(io, createHelp);
      return 1;
    }
    const format = formatOrExit(io, v.format);
    if (format === null) return 1;
    const rules = await attempt(io, "Error loading rules", () => loadRules(v.rules, io));
    if (rules === FAILED) return 1;
    // An absent -valid-datacenter is Go's nil slice: JSON null, valid everywhere.
    const dcs = v["valid-datacenter"].length > 0 ? v["valid-datacenter"] : null;
    return withAcl(io, parsed, async (acl) => {
      const write = { name: v.name, description: v.description, rules, datacenters: dcs };
      const policy = await attempt(io, "Failed to create new policy", () => acl.policyCreate(write));
      if (policy === FAILED) return 1;
      out(io, formatPolicy(policy, format, v.meta));
      return 0;
    });
  },
};

// --- read ---------------------------------------------------------------------------------------------------

const readFlags = {
  meta: metaFlag("policy"),
  id: flag.string("", `The ID of the policy to read. ${ID_USAGE}`),
  name: flag.string("", "The name of the policy to read."),
  format: formatFlag,
  ...aclHttpFlags,
};

const readHelp = usage(
  `Usage: cairn acl policy read [options] POLICY

    This command will retrieve and print out the details
    of a single policy.

    Read:

        $ cairn acl policy read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba

    Read by name:

        $ cairn acl policy read -name my-policy`,
  readFlags,
);

export const aclPolicyRead: Command = {
  help: readHelp,
  async run(argv, io) {
    const parsed = parseOrExit(readFlags, argv, io, readHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.id === "" && v.name === "") {
      err(io, "Must specify either the -id or -name parameters");
      return 1;
    }
    const format = formatOrExit(io, v.format);
    if (format === null) return 1;
    return withAcl(io, parsed, async (acl) => {
      let id = "";
      if (v.id !== "") {
        const resolved = await resolvePolicyId(io, acl, v.id, "");
        if (resolved === null) return 1;
        id = resolved;
      }
      const policy = await attempt(
        io,
        `Error reading policy ${goQuote(id !== "" ? `id:${id}` : `name:${v.name}`)}`,
        () => (id !== "" ? acl.policyRead(id) : policyByName(acl, v.name)),
      );
      if (policy === FAILED) return 1;
      if (policy === null) {
        err(io, `Error policy not found: ${v.name}`);
        return 1;
      }
      out(io, formatPolicy(policy, format, v.meta));
      return 0;
    });
  },
};

// --- update -------------------------------------------------------------------------------------------------

const updateFlags = {
  meta: metaFlag("policy"),
  id: flag.string("", `The ID of the policy to update. ${ID_USAGE}`),
  name: flag.string("", "The policies name."),
  description: flag.string("", "A description of the policy"),
  "valid-datacenter": datacenterFlag,
  rules: rulesFlag,
  "no-merge": flag.bool(
    false,
    "Do not merge the current policy information with what is provided to the command. Instead overwrite all " +
      "fields with the exception of the policy ID which is immutable.",
  ),
  format: formatFlag,
  ...aclHttpFlags,
};

const updateHelp = usage(
  `Usage: cairn acl policy update [options]

  Updates a policy. By default it will merge the policy information with its
  current state so that you do not have to provide all parameters. This
  behavior can be disabled by passing -no-merge.

  Rename the policy:

          $ cairn acl policy update -id abcd -name "better-name"

  Override all policy attributes:

          # this will remove any datacenter scope if provided and will remove
          # the description
          $ cairn acl policy update -id abcd -name "better-name" -rules @rules.hcl`,
  updateFlags,
);

export const aclPolicyUpdate: Command = {
  help: updateHelp,
  async run(argv, io) {
    const parsed = parseOrExit(updateFlags, argv, io, updateHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.id === "" && v.name === "") {
      err(io, "Must specify either the -id or -name parameters");
      return 1;
    }
    const format = formatOrExit(io, v.format);
    if (format === null) return 1;
    const rules = await attempt(io, "Error loading data source", () => loadRules(v.rules, io));
    if (rules === FAILED) return 1;
    const dcs = v["valid-datacenter"].length > 0 ? v["valid-datacenter"] : null;
    return withAcl(io, parsed, async (acl) => {
      const id = await resolvePolicyId(io, acl, v.id, v.name);
      if (id === null) return 1;
      let write: AclPolicyWrite;
      if (v["no-merge"]) {
        write = { name: v.name, description: v.description, rules, datacenters: dcs };
      } else {
        const current = await attempt(io, `Error reading policy ${goQuote(id)}`, () => acl.policyRead(id));
        if (current === FAILED) return 1;
        // Only the flags given change the policy: Consul's flags.Visit, so `-description ""` clears it.
        write = {
          name: parsed.set.has("name") ? v.name : current.name,
          description: parsed.set.has("description") ? v.description : current.description,
          rules: parsed.set.has("rules") ? rules : current.rules,
          datacenters: dcs ?? current.datacenters,
        };
      }
      const policy = await attempt(io, `Error updating policy ${goQuote(id)}`, () =>
        acl.policyUpdate(id, write),
      );
      if (policy === FAILED) return 1;
      out(io, formatPolicy(policy, format, v.meta));
      return 0;
    });
  },
};

// --- delete, list -------------------------------------------------------------------------------------------

const deleteFlags = {
  id: flag.string("", `The ID of the policy to delete. ${ID_USAGE}`),
  name: flag.string("", "The name of the policy to delete."),
  ...aclHttpFlags,
};

const deleteHelp = usage(
  `Usage: cairn acl policy delete [options] -id POLICY

    Deletes an ACL policy by providing either the ID or a unique ID prefix.

    Delete by prefix:

        $ cairn acl policy delete -id b6b85

    Delete by full ID:

        $ cairn acl policy delete -id b6b856da-5193-4e78-845a-7d61ca8371ba`,
  deleteFlags,
);

export const aclPolicyDelete: Command = {
  help: deleteHelp,
  async run(argv, io) {
    const parsed = parseOrExit(deleteFlags, argv, io, deleteHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.id === "" && v.name === "") {
      err(io, "Must specify either the -id or -name parameters");
      return 1;
    }
    return withAcl(io, parsed, async (acl) => {
      const id = await resolvePolicyId(io, acl, v.id, v.name);
      if (id === null) return 1;
      if ((await attempt(io, `Error deleting policy ${goQuote(id)}`, () => acl.policyDelete(id))) === FAILED)
        return 1;
      out(io, `Policy ${goQuote(id)} deleted successfully`);
      return 0;
    });
  },
};

const listFlags = { meta: metaFlag("policy"), format: formatFlag, ...aclHttpFlags };

const listHelp = usage(
  `Usage: cairn acl policy list [options]

  Lists all the ACL policies.

  Example:

          $ cairn acl policy list`,
  listFlags,
);

export const aclPolicyList: Command = {
  help: listHelp,
  async run(argv, io) {
    const parsed = parseOrExit(listFlags, argv, io, listHelp);
    if (typeof parsed === "number") return parsed;
    const format = formatOrExit(io, parsed.values.format);
    if (format === null) return 1;
    return withAcl(io, parsed, async (acl) => {
      const list = await attempt(io, "Failed to retrieve the policy list", () => acl.policyList());
      if (list === FAILED) return 1;
      const text = formatPolicyList(list, format, parsed.values.meta);
      if (text !== "") out(io, text);
      return 0;
    });
  },
};
