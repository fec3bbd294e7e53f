/**
 * Makes a backup store of a kind, loading its SDK only then. The AWS, Azure and Google Cloud libraries take about
 * a second and ~100 MB to load; every `cairn` command shares one executable, so a `cairn kv get` must not pay for
 * them, and an agent pays only for the stores it is configured with.
 */
import type { AwsStorageConfig, AzureStorageConfig, GoogleStorageConfig } from "./config-types.js";
import type { BackupStore } from "./store.js";
import { LocalStore } from "./store-local.js";

export type StoreSpec =
  | { readonly kind: "local"; readonly dir: string }
  | { readonly kind: "s3"; readonly config: AwsStorageConfig }
  | { readonly kind: "azure"; readonly config: AzureStorageConfig }
  /** `endpoint`: an emulator's URL ("" = Google's). */
  | { readonly kind: "gcs"; readonly config: GoogleStorageConfig; readonly endpoint: string };

export async function openStore(
  spec: StoreSpec,
  env: Readonly<Record<string, string | undefined>>,
): Promise<BackupStore> {
  switch (spec.kind) {
    case "local":
      return new LocalStore(spec.dir);
    case "s3": {
      const { S3Store } = await import("./store-s3.js");
      return new S3Store(spec.config);
    }
    case "azure": {
      const { AzureBlobStore } = await import("./store-azure.js");
      return new AzureBlobStore(spec.config, { env });
    }
    case "gcs": {
      const { GcsStore } = await import("./store-gcs.js");
      return new GcsStore(spec.config, spec.endpoint === "" ? {} : { apiEndpoint: spec.endpoint });
    }
  }
}
