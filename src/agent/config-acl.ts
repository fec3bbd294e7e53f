/**
 * The agent's `acl { … }` block (Consul's agent configuration reference, "ACL parameters"): its config-file keys,
 * and their resolution with Consul's defaults. ACLs are configured in files only; Consul has no flags for them.
 */
import type { ConfigValue } from "../util/config-keys.js";
import { goQuote } from "../util/goquote.js";
import type { Layer } from "./config-types.js";

export type AclDefaultPolicy = "allow" | "deny";
/** What a server does when it cannot resolve a token; cairn's servers resolve from their own replica, so never. */
export type AclDownPolicy = "allow" | "deny" | "extend-cache" | "async-cache";

export interface AclConfig {
  readonly enabled: boolean;
  readonly defaultPolicy: AclDefaultPolicy;
  readonly downPolicy: AclDownPolicy;
  /** Consul's enable_key_list_policy: with it, `?keys` and `?recurse` need `list` on the prefix. */
  readonly enableKeyListPolicy: boolean;
  readonly tokens: AclTokens;
}

export interface AclTokens {
  /** A management token's SecretID the leader creates if missing (formerly `master`). */
  readonly initialManagement?: string;
  /** The token the agent's own requests use (anti-entropy). */
  readonly agent?: string;
  /** Accepted for the agent's own endpoints when the servers cannot be reached (formerly `agent_master`). */
  readonly agentRecovery?: string;
  /** The token of a request that names none, instead of the anonymous token. */
  readonly default?: string;
}

export const ACL_DISABLED: AclConfig = {
  enabled: false,
  defaultPolicy: "allow",
  downPolicy: "extend-cache",
  enableKeyListPolicy: false,
  tokens: {},
};

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
  const tokens: { -readonly [K in keyof AclTokens]: AclTokens[K] } = {};
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
      defaultPolicy: (l.aclDefaultPolicy as AclDefaultPolicy | undefined) ?? "allow",
      downPolicy: (l.aclDownPolicy as AclDownPolicy | undefined) ?? "extend-cache",
      enableKeyListPolicy: l.aclEnableKeyListPolicy ?? false,
      tokens,
    },
    warnings,
  };
}
