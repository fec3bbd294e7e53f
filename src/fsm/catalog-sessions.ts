/**
 * Where sessions meet the catalog (consul-compat.md §3.1; Consul's sessionCreateTxn, checkSessionsTxn and
 * deleteNodeTxn): a session needs its node registered and each of its checks (NodeChecks and ServiceChecks,
 * all on the session's node) registered and not critical; a check that goes critical or away ends the sessions
 * bound to it, and a node that goes away ends every session on it.
 */
import type { OrderedMap } from "./btree.js";
import type { CatalogEffects, CatalogTrees } from "./catalog.js";
import { nodeKey, nodeRowKey } from "./catalog.js";
import { CatalogError } from "./errors.js";
import type { SessionEntry, SessionSpec } from "./session.js";

function checkIds(s: SessionSpec | SessionEntry): string[] {
  return [...(s.NodeChecks ?? []), ...(s.ServiceChecks ?? []).map((c) => c.ID)];
}

/** Consul's refusal of a session create, or null when the catalog allows it. */
export function sessionCatalogError(t: CatalogTrees, spec: SessionSpec): CatalogError | null {
  if (!t.nodes.has(nodeRowKey(spec.Node))) return new CatalogError("Missing node registration");
  for (const id of checkIds(spec)) {
    const c = t.checks.get(nodeKey(spec.Node, id));
    if (c === undefined) return new CatalogError(`Missing check '${id}' registration`);
    if (c.Status === "critical") return new CatalogError(`Check '${id}' is in critical state`);
  }
  return null;
}

/** The IDs of the sessions a catalog write ends, in session ID order (the same on every replica). */
export function sessionsEnded(sessions: OrderedMap<SessionEntry>, fx: CatalogEffects): string[] {
  if (fx.checks.length === 0 && fx.nodes.length === 0) return [];
  const gone = new Set(fx.nodes.map(nodeRowKey));
  const checks = new Set(fx.checks.map(([node, id]) => nodeKey(node, id)));
  const out: string[] = [];
  // A scan, as destroySession's: catalog writes that end sessions are rare next to reads.
  for (const [id, s] of sessions.entries()) {
    if (gone.has(nodeRowKey(s.Node)) || checkIds(s).some((c) => checks.has(nodeKey(s.Node, c)))) out.push(id);
  }
  return out;
}
