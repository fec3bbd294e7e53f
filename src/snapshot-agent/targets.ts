/**
 * The stores a configuration names, as the agent writes to them: local disk when no remote store is set (as
 * Consul's agent), and each remote store that is (cairn writes to all of them; a backup succeeds only when every
 * one holds a verified copy). S3's static snapshot name turns rotation off for that store.
 */
import type { Target } from "./backup.js";
import type { SnapshotAgentConfig } from "./config-types.js";
import { AzureBlobStore } from "./store-azure.js";
import { GcsStore } from "./store-gcs.js";
import { LocalStore } from "./store-local.js";
import { S3Store } from "./store-s3.js";

export function targetsOf(
  config: SnapshotAgentConfig,
  env: Readonly<Record<string, string | undefined>>,
): Target[] {
  const targets: Target[] = [];
  if (config.local !== null) targets.push({ store: new LocalStore(config.local.path), fixedName: null });
  if (config.aws !== null) {
    const fixed = config.aws.staticSnapshotName;
    targets.push({ store: new S3Store(config.aws), fixedName: fixed === "" ? null : fixed });
  }
  if (config.azure !== null)
    targets.push({ store: new AzureBlobStore(config.azure, { env }), fixedName: null });
  if (config.google !== null) targets.push({ store: new GcsStore(config.google), fixedName: null });
  return targets;
}
