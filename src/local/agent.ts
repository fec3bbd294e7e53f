/**
 * Composition of the agent's local state at start: config-file definitions first (not persisted), then the API
 * registrations persisted in the data dir, the reaper, and anti-entropy when a catalog is available.
 */
import { AntiEntropy, type CatalogSync, type NodeInfo } from "./anti-entropy.js";
import type { ConfigDefinitions } from "./config.js";
import type { CheckDef, ServiceRegistration } from "./defs.js";
import { LocalPersist } from "./persist.js";
import { LocalState } from "./state.js";
import { realTimers, type Timers } from "./timers.js";

export interface LocalAgentOptions {
  readonly dataDir: string;
  readonly node: NodeInfo;
  readonly services: readonly ServiceRegistration[];
  readonly checks: readonly CheckDef[];
  /** null: no catalog to sync with (the local endpoints still work). */
  readonly catalog: CatalogSync | null;
  readonly timers?: Timers;
  readonly log: (level: "info" | "warn", msg: string) => void;
  /** Re-reads the config files' definitions (PUT /v1/agent/reload). */
  readonly reloadConfig?: () => Promise<ConfigDefinitions>;
}

export interface RunningLocalAgent {
  readonly local: LocalState;
  readonly antiEntropy: AntiEntropy | null;
  stop(): void;
}

/** Rejects (LocalPersistError, LocalStateError) when a persisted file or a definition cannot be used. */
export async function startLocalAgent(o: LocalAgentOptions): Promise<RunningLocalAgent> {
  const timers = o.timers ?? realTimers;
  const local = new LocalState({
    nodeName: o.node.node,
    datacenter: o.node.datacenter,
    timers,
    persist: new LocalPersist(o.dataDir),
    log: o.log,
    ...(o.reloadConfig === undefined ? {} : { reloadConfig: o.reloadConfig }),
  });
  try {
    for (const s of o.services) await local.addService(s, { persist: false });
    for (const c of o.checks) await local.addCheck(c, false, "");
    await local.load();
  } catch (e) {
    local.stop();
    throw e;
  }
  local.startReaper();
  const ae =
    o.catalog === null
      ? null
      : new AntiEntropy({ catalog: o.catalog, local, node: o.node, timers, log: o.log });
  ae?.start();
  return {
    local,
    antiEntropy: ae,
    stop() {
      ae?.stop();
      local.stop();
    },
  };
}
