/**
 * Consul's ACLResolver for one server: a request's secret → the token in this server's replica → its policies'
 * rules → an Authorizer chained with the default policy. Servers hold the whole ACL state, so there is no remote
 * lookup and `down_policy` never applies. Compiled authorizers are cached per secret and dropped whenever the
 * ACL state moves (`aclEpoch`: every ACL write and every restore), so a deleted token or a changed policy is in
 * force on the next request, on every server as soon as it has applied the change.
 */
import {
  AclNotFoundError,
  ANONYMOUS_TOKEN_ACCESSOR_ID,
  ANONYMOUS_TOKEN_SECRET_ID,
  compileAuthorizer,
  MANAGE_ALL,
  type ParsedRules,
  parseRules,
} from "../acl/index.js";
import { type Decoded, type DecodedMap, isMap } from "../snapshot/index.js";
import { errorText } from "../util/errors.js";
import type { AclIdentity, AclPolicyRecord, AclSettings, AclTokenRecord } from "./acl-types.js";

/** The local reads the resolver needs (AclApi's). */
export interface AclState {
  aclTokenBySecret(secret: string): AclTokenRecord | null;
  aclPolicies(ids: readonly string[]): AclPolicyRecord[];
  aclEpoch(): number;
}

/** Bounds the cache: past this many distinct secrets it starts over (a scan of bad secrets cannot grow it). */
const CACHE_ENTRIES_MAX = 4096;

const DISABLED: AclIdentity = { authorizer: MANAGE_ALL, accessorId: "", anonymous: false };

export class AclResolver {
  private epoch = -1;
  private readonly identities = new Map<string, AclIdentity>();
  /** Parsed rules by policy ID and ModifyIndex: a policy is parsed once per version. */
  private readonly parsed = new Map<string, ParsedRules>();

  constructor(
    private readonly settings: () => AclSettings,
    private readonly state: AclState,
    /** This server's datacenter: node identities, and service identities limited to datacenters, apply here only. */
    private readonly datacenter: string,
  ) {}

  /**
   * `secret` is the request's token ("" or undefined: none given). None given → the agent's default token, else
   * the anonymous token. ACLs disabled → every right, as Consul's resolver answers then.
   */
  resolve(secret: string | undefined): AclIdentity {
    const settings = this.settings();
    if (!settings.enabled) return DISABLED;
    const effective = effectiveSecret(settings, secret);
    const epoch = this.state.aclEpoch();
    if (epoch !== this.epoch || this.identities.size >= CACHE_ENTRIES_MAX) {
      this.identities.clear();
      if (epoch !== this.epoch) this.parsed.clear();
      this.epoch = epoch;
    }
    const cached = this.identities.get(effective);
    if (cached !== undefined) return cached;
    const identity = this.compile(effective, settings);
    this.identities.set(effective, identity);
    return identity;
  }

  /**
   * What an effective secret stands for before it is compiled: its accessor, its policies and the rules of its
   * service and node identities. Throws AclNotFoundError for a secret no token has. A client agent asks a server
   * for this (agent/client-acl.ts) and compiles it with `compileResolution`, so both compile alike.
   */
  resolution(secret: string): AclResolution {
    const token = this.state.aclTokenBySecret(secret);
    if (token === null) {
      // Consul: the anonymous token missing (a leader not yet initialized) still resolves, with no policies.
      if (secret !== ANONYMOUS_TOKEN_SECRET_ID) throw new AclNotFoundError();
      return { accessorId: ANONYMOUS_TOKEN_ACCESSOR_ID, anonymous: true, policies: [], identities: [] };
    }
    const ids = (token.Policies ?? []).map((p) => p.ID);
    return {
      accessorId: token.AccessorID,
      anonymous: token.AccessorID === ANONYMOUS_TOKEN_ACCESSOR_ID,
      policies: this.state.aclPolicies(ids),
      identities: identityRules(token, this.datacenter),
    };
  }

  private compile(secret: string, settings: AclSettings): AclIdentity {
    return compileResolution(this.resolution(secret), settings.defaultPolicy, (p) => this.rulesOf(p));
  }

  private rulesOf(p: AclResolution["policies"][number]): ParsedRules {
    const key = `${p.ID}@${p.ModifyIndex}`;
    let rules = this.parsed.get(key);
    if (rules === undefined) {
      rules = policyRules(p);
      this.parsed.set(key, rules);
    }
    return rules;
  }
}

/** The policies and identity rules a token stands for (AclResolver.resolution). */
export interface AclResolution {
  readonly accessorId: string;
  readonly anonymous: boolean;
  readonly policies: readonly Pick<AclPolicyRecord, "ID" | "Name" | "Rules" | "ModifyIndex">[];
  /** Rules text of the token's service and node identities. */
  readonly identities: readonly string[];
}

/** The secret a request's token stands for: the agent's default token when none is given, else anonymous. */
export function effectiveSecret(settings: AclSettings, secret: string | undefined): string {
  const given = secret === undefined || secret === "" ? settings.tokens.default : secret;
  return given === undefined || given === "" ? ANONYMOUS_TOKEN_SECRET_ID : given;
}

/** Stored rules were checked when written; `allowDuplicates` as Consul parses stored policies, so old archives load. */
function policyRules(p: Pick<AclPolicyRecord, "ID" | "Name" | "Rules">): ParsedRules {
  try {
    return parseRules(p.Rules, { allowDuplicates: true });
  } catch (e) {
    // Never resolve with fewer rules than the operator wrote: the request fails (500) and says why.
    throw new Error(`ACL policy ${JSON.stringify(p.Name)} (${p.ID}) cannot be parsed: ${errorText(e)}`);
  }
}

/** A resolution as an identity: its rules merged, chained with the default policy. */
export function compileResolution(
  r: AclResolution,
  defaultPolicy: AclSettings["defaultPolicy"],
  rulesOf: (p: AclResolution["policies"][number]) => ParsedRules = policyRules,
): AclIdentity {
  const rules = r.policies.map((p) => rulesOf(p));
  for (const text of r.identities) rules.push(parseRules(text));
  return {
    authorizer: compileAuthorizer(rules, defaultPolicy),
    accessorId: r.accessorId,
    anonymous: r.anonymous,
  };
}

const text = (v: Decoded | undefined): string =>
  v instanceof Uint8Array ? new TextDecoder().decode(v) : typeof v === "string" ? v : "";
const maps = (v: Decoded | undefined): DecodedMap[] =>
  Array.isArray(v) ? v.filter((x): x is DecodedMap => isMap(x)) : [];

/**
 * The synthetic policies of a token's service and node identities (Consul's ACLServiceIdentity and
 * ACLNodeIdentity SyntheticPolicy, agent/structs/acl_templated_policy*.go): a service identity writes its service
 * and its sidecar proxy and reads every service and node; a node identity writes its node and reads every
 * service. cairn's token endpoints do not create identities yet; tokens restored from a Consul archive carry them.
 */
function identityRules(token: AclTokenRecord, datacenter: string): string[] {
  const out: string[] = [];
  for (const si of maps(token.extra?.ServiceIdentities)) {
    const name = text(si.ServiceName);
    const dcs = Array.isArray(si.Datacenters) ? si.Datacenters.map((d) => text(d)) : [];
    if (name === "" || (dcs.length > 0 && !dcs.includes(datacenter))) continue;
    const q = JSON.stringify(name);
    const sidecar = JSON.stringify(`${name}-sidecar-proxy`);
    out.push(
      `service ${q} { policy = "write" }\nservice ${sidecar} { policy = "write" }\n` +
        'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }',
    );
  }
  for (const ni of maps(token.extra?.NodeIdentities)) {
    const name = text(ni.NodeName);
    if (name === "" || text(ni.Datacenter) !== datacenter) continue;
    out.push(`node ${JSON.stringify(name)} { policy = "write" }\nservice_prefix "" { policy = "read" }`);
  }
  return out;
}
