/**
 * The policy engine: a token's policies merged (acl/policy_merger.go), compiled into per-resource tries
 * (acl/policy_authorizer.go, which uses radix trees), and chained with the agent's default policy
 * (acl/chained_authorizer.go over acl/static_authorizer.go).
 *
 * Merging: rules on the same resource, kind (exact or prefix) and name become one, the stronger winning by
 * acl/policy.go `takesPrecedenceOver`: deny > write > list > read (a service's `intentions` merge the same way,
 * separately). Lookup: an exact rule on the name, else the longest prefix rule; `write` grants read, list and
 * write, `list` grants read and list, `read` grants read. No rule: the default policy decides, except for `acl`
 * (and so snapshots), which the default policy never grants — Consul's allowAll has allowManage false.
 */

import {
  GLOBAL_RESOURCES,
  type GlobalResource,
  type ParsedRules,
  type PolicyAccess,
  type Rule,
  SEGMENT_RESOURCES,
  type SegmentResource,
} from "./rules.js";
import type { Access, Authorizer, Decision, Resource } from "./types.js";

/** A decision before the chain reaches the default policy: `default` when no rule matched. */
type PolicyDecision = Decision | "default";

const RANK: Readonly<Record<PolicyAccess, number>> = { read: 1, list: 2, write: 3, deny: 4 };

/** acl/policy.go takesPrecedenceOver: whether `a` replaces `b` when two rules meet. */
function takesPrecedence(a: PolicyAccess | undefined, b: PolicyAccess | undefined): boolean {
  return (a === undefined ? 0 : RANK[a]) > (b === undefined ? 0 : RANK[b]);
}

/** Merges a token's policies into one rule set, as acl/policy_merger.go (rules come out sorted by kind and name). */
export function mergeRules(policies: readonly ParsedRules[]): ParsedRules {
  const byKey = new Map<string, Rule>();
  const global: Partial<Record<GlobalResource, PolicyAccess>> = {};
  for (const p of policies) {
    for (const g of GLOBAL_RESOURCES) {
      const v = p.global[g];
      if (takesPrecedence(v, global[g])) global[g] = v!;
    }
    for (const r of p.rules) {
      const key = `${r.resource}\u0000${r.prefix ? 1 : 0}\u0000${r.name}`;
      const had = byKey.get(key);
      if (had === undefined) {
        byKey.set(key, r);
        continue;
      }
      const policy = takesPrecedence(r.policy, had.policy) ? r.policy : had.policy;
      // Only services carry intentions, and only services merge them (policy_merger.go serviceRules).
      const intentions = takesPrecedence(r.intentions, had.intentions) ? r.intentions : had.intentions;
      byKey.set(key, { ...had, policy, ...(intentions === undefined ? {} : { intentions }) });
    }
  }
  const rules = [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  return { rules, global };
}

/** acl/policy_authorizer.go enforce: what a rule's access level grants to a request. */
function enforce(rule: PolicyAccess, access: Access): Decision {
  switch (rule) {
    case "write":
      return "allow";
    case "list":
      return access === "list" || access === "read" ? "allow" : "deny";
    case "read":
      return access === "read" ? "allow" : "deny";
    case "deny":
      return "deny";
  }
}

/** A node of a trie keyed by UTF-16 code units; `exact` and `prefix` are the rules on exactly this string. */
interface TrieNode {
  exact?: PolicyAccess;
  prefix?: PolicyAccess;
  readonly children: Map<string, TrieNode>;
}

function newNode(): TrieNode {
  return { children: new Map() };
}

/**
 * One resource's rules. A rule's name is a prefix of a segment in code units exactly when it is in UTF-8 bytes
 * (as Consul's radix tree compares them), for names that are well-formed strings.
 */
class RuleTrie {
  readonly root = newNode();

  insert(name: string, prefix: boolean, access: PolicyAccess): void {
    let node = this.root;
    for (const unit of codeUnits(name)) {
      let child = node.children.get(unit);
      if (child === undefined) {
        child = newNode();
        node.children.set(unit, child);
      }
      node = child;
    }
    if (prefix) node.prefix = access;
    else node.exact = access;
  }

  /** acl/policy_authorizer.go getPolicy: the exact rule on `segment`, else the longest matching prefix rule. */
  lookup(segment: string): PolicyAccess | undefined {
    let found: PolicyAccess | undefined;
    let node: TrieNode | undefined = this.root;
    for (let i = 0; node !== undefined; i++) {
      if (i === segment.length && node.exact !== undefined) return node.exact;
      if (node.prefix !== undefined) found = node.prefix;
      if (i === segment.length) break;
      node = node.children.get(segment[i]!);
    }
    return found;
  }

  /** The nodes along `path` from the root (as radix WalkPath), and the node at `path` if the trie has it. */
  walkPath(path: string): { along: TrieNode[]; at: TrieNode | undefined } {
    const along: TrieNode[] = [this.root];
    let node: TrieNode | undefined = this.root;
    for (let i = 0; i < path.length; i++) {
      node = node.children.get(path[i]!);
      if (node === undefined) return { along, at: undefined };
      along.push(node);
    }
    return { along, at: node };
  }

  /** Every node of the subtree under `from`, itself included (as radix WalkPrefix; iterative, any depth). */
  *subtree(from: TrieNode): Generator<TrieNode> {
    const stack = [from];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      yield node;
      for (const child of node.children.values()) stack.push(child);
    }
  }
}

function* codeUnits(s: string): Generator<string> {
  for (let i = 0; i < s.length; i++) yield s[i]!;
}

/** acl/policy_authorizer.go allAllowed (NodeReadAll, ServiceReadAll): no rule anywhere may deny the access. */
function allAllowed(trie: RuleTrie, access: Access): PolicyDecision {
  const leafDecision = (node: TrieNode, prefixOnly: boolean): PolicyDecision => {
    const prefixDecision: PolicyDecision =
      node.prefix === undefined ? "default" : enforce(node.prefix, access);
    if (prefixOnly || prefixDecision === "deny" || node.exact === undefined) return prefixDecision;
    return enforce(node.exact, access);
  };
  // The catch-all prefix rule "" decides unless a more specific rule denies.
  const decision = leafDecision(trie.root, true);
  if (decision === "deny") return "deny";
  for (const node of trie.subtree(trie.root)) {
    if (leafDecision(node, false) === "deny") return "deny";
  }
  return decision;
}

/** The authorizer of the default policy alone (acl/static_authorizer.go): ACL_ALLOW_ALL, DENY_ALL, MANAGE_ALL. */
class StaticAuthorizer implements Authorizer {
  constructor(
    private readonly defaultDecision: Decision,
    readonly isManagement: boolean,
  ) {}

  check(resource: Resource, _access: Access, _segment: string): Decision {
    if (resource === "acl") return this.isManagement ? "allow" : "deny";
    return this.defaultDecision;
  }

  keyWritePrefix(_prefix: string): Decision {
    return this.defaultDecision;
  }

  nodeReadAll(): Decision {
    return this.defaultDecision;
  }

  serviceReadAll(): Decision {
    return this.defaultDecision;
  }
}

/** Every request but ACL management allowed: what `acl.default_policy = "allow"` grants a token without rules. */
export const ALLOW_ALL: Authorizer = new StaticAuthorizer("allow", false);
/** Every request denied: `acl.default_policy = "deny"`. */
export const DENY_ALL: Authorizer = new StaticAuthorizer("deny", false);
/** Every request allowed, ACL management included: Consul's ManageAll (the agent recovery token). */
export const MANAGE_ALL: Authorizer = new StaticAuthorizer("allow", true);

const SEGMENTED = new Set<Resource>(SEGMENT_RESOURCES);

class PolicyAuthorizer implements Authorizer {
  private readonly tries = new Map<SegmentResource, RuleTrie>();
  private readonly global: Readonly<Partial<Record<GlobalResource, PolicyAccess>>>;
  readonly isManagement: boolean;

  constructor(
    merged: ParsedRules,
    private readonly parent: Authorizer,
  ) {
    for (const r of SEGMENT_RESOURCES) this.tries.set(r, new RuleTrie());
    for (const rule of merged.rules)
      this.tries.get(rule.resource)!.insert(rule.name, rule.prefix, rule.policy);
    this.global = merged.global;
    // policy_authorizer.go Snapshot and ACLWrite both enforce acl write: that is management.
    this.isManagement = merged.global.acl === "write";
  }

  private own(resource: Resource, access: Access, segment: string): PolicyDecision {
    const rule = SEGMENTED.has(resource)
      ? this.tries.get(resource as SegmentResource)!.lookup(segment)
      : this.global[resource as GlobalResource];
    return rule === undefined ? "default" : enforce(rule, access);
  }

  check(resource: Resource, access: Access, segment: string): Decision {
    const d = this.own(resource, access, segment);
    return d === "default" ? this.parent.check(resource, access, segment) : d;
  }

  /**
   * acl/policy_authorizer.go KeyWritePrefix: the longest prefix rule reaching `prefix` must grant write, and no
   * rule at or under `prefix`, exact or prefix, may grant less than write; with no prefix rule reaching it and
   * nothing under it objecting, the default policy decides.
   */
  keyWritePrefix(prefix: string): Decision {
    const trie = this.tries.get("key")!;
    const { along, at } = trie.walkPath(prefix);
    let base: PolicyDecision = "default";
    for (const node of along) {
      if (node.prefix !== undefined) base = node.prefix === "write" ? "allow" : "deny";
    }
    if (base === "deny") return "deny";
    if (at !== undefined) {
      for (const node of trie.subtree(at)) {
        if (node.prefix !== undefined && node.prefix !== "write") return "deny";
        if (node.exact !== undefined && node.exact !== "write") return "deny";
      }
    }
    return base === "default" ? this.parent.keyWritePrefix(prefix) : base;
  }

  nodeReadAll(): Decision {
    const d = allAllowed(this.tries.get("node")!, "read");
    return d === "default" ? this.parent.nodeReadAll() : d;
  }

  serviceReadAll(): Decision {
    const d = allAllowed(this.tries.get("service")!, "read");
    return d === "default" ? this.parent.serviceReadAll() : d;
  }
}

/**
 * The authorizer of a token whose policies are `policies`, chained with the agent's `acl.default_policy`
 * (Consul's ACLResolver chains the policy authorizer with RootAuthorizer(default_policy)).
 */
export function compileAuthorizer(
  policies: readonly ParsedRules[],
  defaultPolicy: "allow" | "deny",
): Authorizer {
  return new PolicyAuthorizer(mergeRules(policies), defaultPolicy === "allow" ? ALLOW_ALL : DENY_ALL);
}
