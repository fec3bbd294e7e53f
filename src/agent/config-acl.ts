/**
 * The agent's `acl { … }` block (Consul's agent configuration reference, "ACL parameters"): its config-file keys,
 * and their resolution with Consul's defaults. ACLs are configured in files only; Consul has no flags for them.
 */
import { ACL_DISABLED, type AclSettings } from "../api/acl-types.js";
import type { ConfigValue } from "../util/config-keys.js";
import { goQuote } from "../util/goquote.js";
import type { Layer } from "./config-types.js";

/** The block as the server takes it (api/'s AclSettings); the agent adds the reset file's place in its data dir. */
export type AclConfig = Omit<AclSettings, "bootstrapResetFile">;
export { ACL_DISABLED };

const oneOf =
  (...allowed: string[]) =>
  (v: ConfigValue): string | undefined =>
    allowed.includes(v as string) ? undefined : `must be one of ${allowed.map((a) => goQuote(a)).join(", ")}`;

/** Config-file keys, in the shape of config-file.ts's table. */
export const ACL_FILE_KEYS = {
  "acl.enabled": { kind: "bool", field: "aclEnabled" },
  "acl.default_policy": { kind: "string", field: "aclDefaultPolicy", check: oneOf("allow", "deny") },
  "acl.down_policy": {
    kind: "string",
    field: "aclDownPolicy",
    check: oneOf("allow", "deny", "extend-cache", "async-cache"),
  },
  "acl.enable_key_list_policy": { kind: "bool", field: "aclEnableKeyListPolicy" },
  "acl.tokens.initial_management": { kind: "string", field: "aclInitialManagement" },
  "acl.tokens.master": { kind: "string", field: "aclMaster" },
  "acl.tokens.agent": { kind: "string", field: "aclAgentToken" },
  "acl.tokens.agent_recovery": { kind: "string", field: "aclAgentRecovery" },
  "acl.tokens.agent_master": { kind: "string", field: "aclAgentMaster" },
  "acl.tokens.default": { kind: "string", field: "aclDefaultToken" },
} as const satisfies Record<string, { kind: string; field: keyof Layer; check?: unknown }>;

/** The resolved block, and Consul's warnings for the deprecated token names it still accepts. */
export function resolveAcl(l: Layer): { acl: AclConfig; warnings: string[] } {
  const warnings: string[] = [];
  const renamed = (old: string | undefined, current: string | undefined, oldKey: string, newKey: string) => {
    if (old === undefined) return current;
    warnings.push(
      `The 'acl.tokens.${oldKey}' field is deprecated. Use the 'acl.tokens.${newKey}' field instead.`,
    );
    return current ?? old;
  };
  const tokens: { -readonly [K in keyof AclConfig["tokens"]]: AclConfig["tokens"][K] } = {};
  const initial = renamed(l.aclMaster, l.aclInitialManagement, "master", "initial_management");
  const recovery = renamed(l.aclAgentMaster, l.aclAgentRecovery, "agent_master", "agent_recovery");
  // Consul treats an empty token setting as unset.
  if (initial) tokens.initialManagement = initial;
  if (recovery) tokens.agentRecovery = recovery;
  if (l.aclAgentToken) tokens.agent = l.aclAgentToken;
  if (l.aclDefaultToken) tokens.default = l.aclDefaultToken;
  return {
    acl: {
      enabled: l.aclEnabled ?? false,
      // The file keys' checks allowed only Consul's values.
      defaultPolicy: (l.aclDefaultPolicy as AclSettings["defaultPolicy"] | undefined) ?? "allow",
      downPolicy: l.aclDownPolicy ?? "extend-cache",
      enableKeyListPolicy: l.aclEnableKeyListPolicy ?? false,
      tokens,
    },
    warnings,
  };
}
