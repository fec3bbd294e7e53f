import type { CatalogReads } from "./catalog-reads.js";
import type { CatalogRead } from "./catalog-types.js";
import type { KvStore } from "./kv-store.js";
import type { SessionGetResult, SessionListResult } from "./session.js";
import type { GetResult, KeysResult, ListResult } from "./state.js";

/**
 * One blocking-query read: how to run it and what wakes it. The server and its in-memory twin both answer
 * Consul's read endpoints from these, so the mapping from endpoint to store read and watch lives once.
 */
export interface ReadSpec<T extends { readonly index: number }> {
  /** Registers a one-shot wake for a change that may move the result; returns its cancel. */
  readonly watch: (wake: () => void) => () => void;
  readonly run: () => T;
}

export const reads = {
  kvGet: (s: KvStore, key: string): ReadSpec<GetResult> => ({
    watch: (w) => s.watch(key, "key", w),
    run: () => s.get(key),
  }),
  kvList: (s: KvStore, prefix: string): ReadSpec<ListResult> => ({
    watch: (w) => s.watch(prefix, "prefix", w),
    run: () => s.list(prefix),
  }),
  kvKeys: (s: KvStore, prefix: string, separator: string): ReadSpec<KeysResult> => ({
    watch: (w) => s.watch(prefix, "prefix", w),
    run: () => s.keys(prefix, separator),
  }),
  sessionInfo: (s: KvStore, id: string): ReadSpec<SessionGetResult> => ({
    watch: (w) => s.watchSessions(w),
    run: () => s.sessionInfo(id),
  }),
  sessionList: (s: KvStore): ReadSpec<SessionListResult> => ({
    watch: (w) => s.watchSessions(w),
    run: () => s.sessionList(),
  }),
  sessionNode: (s: KvStore, node: string): ReadSpec<SessionListResult> => ({
    watch: (w) => s.watchSessions(w),
    run: () => s.nodeSessions(node),
  }),
  /** Any catalog or health read: woken by every catalog write (a hint; the index decides). */
  catalog: <T>(s: KvStore, read: (r: CatalogReads) => CatalogRead<T>): ReadSpec<CatalogRead<T>> => ({
    watch: (w) => s.watchCatalog(w),
    run: () => read(s.catalogReads),
  }),
};
