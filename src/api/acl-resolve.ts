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
    const given = secret === undefined || secret === "" ? settings.tokens.default : secret;
    const effective = given === undefined || given === "" ? ANONYMOUS_TOKEN_SECRET_ID : given;
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

  private compile(secret: string, settings: AclSettings): AclIdentity {
    const token = this.state.aclTokenBySecret(secret);
    if (token === null) {
      // Consul: the anonymous token missing (a leader not yet initialized) still resolves, with no policies.
      if (secret !== ANONYMOUS_TOKEN_SECRET_ID) throw new AclNotFoundError();
      return {
        authorizer: compileAuthorizer([], settings.defaultPolicy),
        accessorId: ANONYMOUS_TOKEN_ACCESSOR_ID,
        anonymous: true,
      };
    }
    const ids = (token.Policies ?? []).map((p) => p.ID);
    const rules = this.state.aclPolicies(ids).map((p) => this.rulesOf(p));
    for (const text of identityRules(token, this.datacenter)) rules.push(parseRules(text));
    return {
      authorizer: compileAuthorizer(rules, settings.defaultPolicy),
      accessorId: token.AccessorID,
      anonymous: token.AccessorID === ANONYMOUS_TOKEN_ACCESSOR_ID,
    };
  }

  /** Stored rules were checked when written; `allowDuplicates` as Consul parses stored policies, so old archives load. */
  private rulesOf(p: AclPolicyRecord): ParsedRules {
    const key = `${p.ID}@${p.ModifyIndex}`;
    let rules = this.parsed.get(key);
    if (rules === undefined) {
      try {
        rules = parseRules(p.Rules, { allowDuplicates: true });
      } catch (e) {
        // Never resolve with fewer rules than the operator wrote: the request fails (500) and says why.
        throw new Error(`ACL policy ${JSON.stringify(p.Name)} (${p.ID}) cannot be parsed: ${errorText(e)}`);
      }
      this.parsed.set(key, rules);
    }
    return rules;
  }
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
