import type { CatalogReads } from "./catalog-reads.js";
import type { CatalogRead } from "./catalog-types.js";
import type { KvStore } from "./kv-store.js";
import type { SessionGetResult, SessionListResult } from "./session.js";
import type { GetResult, KeysResult, ListResult } from "./state.js";
import type { Wake, Watch } from "./watch.js";

/**
 * One blocking-query read: how to run it and what wakes it. The server and its in-memory twin both answer
 * Consul's read endpoints from these, so the mapping from endpoint to store read and watch lives once.
 */
export interface ReadSpec<T extends { readonly index: number }> {
  /** Registers a one-shot wake for a change that may move the result; returns its handle. */
  watch(wake: Wake): Watch;
  run(): T;
}

// One small class per read rather than an object of two arrow functions: a blocked query holds its spec for
// as long as it sleeps, and two closures with their context cost several times these objects' fields.

class KvGetRead implements ReadSpec<GetResult> {
  constructor(
    private readonly s: KvStore,
    private readonly key: string,
  ) {}
  watch(wake: Wake): Watch {
    return this.s.watch(this.key, "key", wake);
  }
  run(): GetResult {
    return this.s.get(this.key);
  }
}

class KvListRead implements ReadSpec<ListResult> {
  constructor(
    private readonly s: KvStore,
    private readonly prefix: string,
  ) {}
  watch(wake: Wake): Watch {
    return this.s.watch(this.prefix, "prefix", wake);
  }
  run(): ListResult {
    return this.s.list(this.prefix);
  }
}

class KvKeysRead implements ReadSpec<KeysResult> {
  constructor(
    private readonly s: KvStore,
    private readonly prefix: string,
    private readonly separator: string,
  ) {}
  watch(wake: Wake): Watch {
    return this.s.watch(this.prefix, "prefix", wake);
  }
  run(): KeysResult {
    return this.s.keys(this.prefix, this.separator);
  }
}

/** A session read: woken by any session write. */
class SessionRead<T extends { readonly index: number }> implements ReadSpec<T> {
  constructor(
    private readonly s: KvStore,
    private readonly read: (s: KvStore) => T,
  ) {}
  watch(wake: Wake): Watch {
    return this.s.watchSessions(wake);
  }
  run(): T {
    return this.read(this.s);
  }
}

/** Any catalog or health read: woken by every catalog write (a hint; the index decides). */
class CatalogSpec<T> implements ReadSpec<CatalogRead<T>> {
  constructor(
    private readonly s: KvStore,
    private readonly read: (r: CatalogReads) => CatalogRead<T>,
  ) {}
  watch(wake: Wake): Watch {
    return this.s.watchCatalog(wake);
  }
  run(): CatalogRead<T> {
    return this.read(this.s.catalogReads);
  }
}

const sessionList = (s: KvStore): SessionListResult => s.sessionList();

export const reads = {
  kvGet: (s: KvStore, key: string): ReadSpec<GetResult> => new KvGetRead(s, key),
  kvList: (s: KvStore, prefix: string): ReadSpec<ListResult> => new KvListRead(s, prefix),
  kvKeys: (s: KvStore, prefix: string, separator: string): ReadSpec<KeysResult> =>
    new KvKeysRead(s, prefix, separator),
  sessionInfo: (s: KvStore, id: string): ReadSpec<SessionGetResult> =>
    new SessionRead(s, (st) => st.sessionInfo(id)),
  sessionList: (s: KvStore): ReadSpec<SessionListResult> => new SessionRead(s, sessionList),
  sessionNode: (s: KvStore, node: string): ReadSpec<SessionListResult> =>
    new SessionRead(s, (st) => st.nodeSessions(node)),
  catalog: <T>(s: KvStore, read: (r: CatalogReads) => CatalogRead<T>): ReadSpec<CatalogRead<T>> =>
    new CatalogSpec(s, read),
};
