/**
 * The stores a configuration names, as the agent writes to them: local disk when no remote store is set (as
 * Consul's agent), and each remote store that is (cairn writes to all of them; a backup succeeds only when every
 * one holds a verified copy). S3's static snapshot name turns rotation off for that store.
 */
import type { Target } from "./backup.js";
import type { SnapshotAgentConfig } from "./config-types.js";
import { openStore } from "./open-store.js";

export async function targetsOf(
  config: SnapshotAgentConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Target[]> {
  const targets: Target[] = [];
  if (config.local !== null) {
    targets.push({ store: await openStore({ kind: "local", dir: config.local.path }, env), fixedName: null });
  }
  if (config.aws !== null) {
    const fixed = config.aws.staticSnapshotName;
    const store = await openStore({ kind: "s3", config: config.aws }, env);
    targets.push({ store, fixedName: fixed === "" ? null : fixed });
  }
  if (config.azure !== null) {
    targets.push({ store: await openStore({ kind: "azure", config: config.azure }, env), fixedName: null });
  }
  if (config.google !== null) {
    const spec = { kind: "gcs", config: config.google, endpoint: "" } as const;
    targets.push({ store: await openStore(spec, env), fixedName: null });
  }
  return targets;
}
