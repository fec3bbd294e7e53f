/**
 * How Consul's state store compares catalog names (consul-compat.md §8.11). Its memdb indexes lowercase what
 * they index (agent/consul/state/catalog_schema.go, session.go, schema.go), so lookups by these ignore case
 * while each row keeps the spelling it was written with:
 * - node names (nodes "id": indexFromNode; services and checks "node": indexFromNodeIdentity; sessions "node":
 *   indexNodeFromSession),
 * - service IDs per node (services "id": indexFromServiceNode; checks "node_service"),
 * - service names (services "service": indexServiceNameFromServiceNode; checks "service"),
 * - check IDs per node (checks "id": indexFromHealthCheck),
 * - index-table rows such as `service.<name>` (schema.go indexNameFromIndexEntry).
 * Not folded: KV keys (kvs "id" is a case-sensitive StringFieldIndex), node meta (indexMetaFromNode: "NOTE:
 * this is case-sensitive!"), and the keys of /v1/catalog/services, which are the names as written.
 */

/**
 * Go's strings.ToLower, as the indexes apply it. (JavaScript lowercases a word-final capital sigma to "ς"
 * where Go writes "σ"; names with a Greek capital sigma at a word's end are the only difference.)
 */
export function foldName(name: string): string {
  return name.toLowerCase();
}

/** Whether two names are the same to Consul's indexes. */
export function sameName(a: string, b: string): boolean {
  return a === b || foldName(a) === foldName(b);
}
