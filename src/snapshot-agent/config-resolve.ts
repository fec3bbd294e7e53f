/**
 * The merged settings of the snapshot agent, resolved: defaults (Consul's, docs/consul-compat.md §6.3, and cairn's
 * for its additions), the checks that span keys (a store half configured), and the choice of stores: local disk
 * unless any remote store is set, and every remote store that is set. An empty string means "not set", as it
 * does in Consul's documented example file, which lists every key with "" as its default.
 */
import {
  type ClientConfig,
  ClientConfigError,
  DEFAULT_ADDRESS,
  type Env,
  parseAddress,
} from "../client/index.js";
import { goQuote } from "../util/goquote.js";
import { type Layer, logLevelOf, SETTINGS, type SettingPath } from "./config-settings.js";
import {
  type AwsStorageConfig,
  type AzureStorageConfig,
  type GoogleStorageConfig,
  type HttpConnection,
  type SnapshotAgentConfig,
  SnapshotAgentConfigError,
} from "./config-types.js";

const HOUR_MS = 3_600_000;
const DEFAULT_PREFIX = "consul-snapshot";

export function resolveSnapshotAgentConfig(
  l: Layer,
  client: ClientConfig,
  env: Env,
  tmpdir: string,
): SnapshotAgentConfig {
  const str = (path: SettingPath & keyof StringPaths, def = ""): string => nonEmpty(l[path]) ?? def;
  const aws = awsStorage(l, str, env);
  const azure = azureStorage(str);
  const bucket = str("google_storage.bucket");
  const google: GoogleStorageConfig | null =
    bucket === "" ? null : { bucket, prefix: str("google_storage.prefix", DEFAULT_PREFIX) };
  const remote = aws !== null || azure !== null || google !== null;
  return {
    http: connection(client),
    logLevel: logLevelOf(str("log.level", "info")) ?? "info",
    logJson: l["log.json"] ?? false,
    intervalMs: l["snapshot.interval"] ?? HOUR_MS,
    retention: {
      retain: l["snapshot.retain"] ?? 30,
      hourly: l["snapshot.retain_hourly"] ?? 0,
      daily: l["snapshot.retain_daily"] ?? 0,
      weekly: l["snapshot.retain_weekly"] ?? 0,
      monthly: l["snapshot.retain_monthly"] ?? 0,
    },
    stale: l["snapshot.stale"] ?? false,
    service: str("snapshot.service", "consul-snapshot"),
    deregisterAfterMs: l["snapshot.deregister_after"] ?? 72 * HOUR_MS,
    lockKey: str("snapshot.lock_key", "consul-snapshot/lock"),
    historyKey: str("snapshot.history_key", "consul-snapshot/history"),
    maxFailures: l["snapshot.max_failures"] ?? 3,
    localScratchPath: str("snapshot.local_scratch_path", tmpdir),
    local: remote ? null : { path: str("local_storage.path", ".") },
    aws,
    azure,
    google,
    listen: str("listen"),
    drillIntervalMs: l["snapshot.drill_interval"] ?? 0,
    encryptionKeyFile: str("snapshot.encryption_key_file"),
  };
}

/** The paths of string settings, so `str` takes only those. */
type StringPaths = { [P in SettingPath as (typeof SETTINGS)[P]["kind"] extends "string" ? P : never]: true };
type Str = (path: SettingPath & keyof StringPaths, def?: string) => string;

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

/** A setting as the user may have given it: its full key and its flag. */
function named(path: SettingPath): string {
  const s = SETTINGS[path];
  return `snapshot_agent.${path}${"flag" in s ? ` (-${s.flag.name})` : ""}`;
}

/** `a` is set but `b` is not, and `store` needs both. */
function incomplete(a: SettingPath, b: SettingPath, store: string, needs: string): SnapshotAgentConfigError {
  return new SnapshotAgentConfigError(`${named(a)} is set but ${named(b)} is not: ${store} needs ${needs}`);
}

function awsStorage(l: Layer, str: Str, env: Env): AwsStorageConfig | null {
  const bucket = str("aws_storage.s3_bucket");
  const region = str("aws_storage.s3_region");
  if (bucket !== "" && region === "") {
    throw incomplete("aws_storage.s3_bucket", "aws_storage.s3_region", "S3 storage", "a region");
  }
  if (bucket === "" && region !== "") {
    throw incomplete("aws_storage.s3_region", "aws_storage.s3_bucket", "S3 storage", "a bucket");
  }
  if (bucket === "") return null;
  return {
    accessKeyId: str("aws_storage.access_key_id"),
    secretAccessKey: str("aws_storage.secret_access_key"),
    sessionToken: str("aws_storage.session_token"),
    iamEndpoint: str("aws_storage.iam_endpoint"),
    roleArn: str("aws_storage.role_arn"),
    roleSessionName: str("aws_storage.role_session_name"),
    webIdentityTokenFile: str("aws_storage.web_identity_token_file"),
    stsEndpoint: str("aws_storage.sts_endpoint"),
    region,
    bucket,
    keyPrefix: str("aws_storage.s3_key_prefix", DEFAULT_PREFIX),
    endpoint: str("aws_storage.s3_endpoint", nonEmpty(env.AWS_S3_ENDPOINT) ?? ""),
    serverSideEncryption: l["aws_storage.s3_server_side_encryption"] ?? false,
    staticSnapshotName: str("aws_storage.s3_static_snapshot_name"),
    forcePathStyle: l["aws_storage.s3_force_path_style"] ?? false,
    enableKms: l["aws_storage.s3_enable_kms"] ?? false,
    kmsKey: str("aws_storage.s3_kms_key"),
  };
}

function azureStorage(str: Str): AzureStorageConfig | null {
  const container = str("azure_blob_storage.container_name");
  const accountName = str("azure_blob_storage.account_name");
  const accountKey = str("azure_blob_storage.account_key");
  const store = "Azure Blob storage";
  if (container !== "") {
    const needs = "an account name and key";
    if (accountName === "")
      throw incomplete("azure_blob_storage.container_name", "azure_blob_storage.account_name", store, needs);
    if (accountKey === "")
      throw incomplete("azure_blob_storage.container_name", "azure_blob_storage.account_key", store, needs);
  } else {
    const given = accountName !== "" ? "azure_blob_storage.account_name" : "azure_blob_storage.account_key";
    if (accountName !== "" || accountKey !== "") {
      throw incomplete(given, "azure_blob_storage.container_name", store, "a container");
    }
    return null;
  }
  return {
    accountName,
    accountKey,
    containerName: container,
    environment: str("azure_blob_storage.environment", "AZUREPUBLICCLOUD").toUpperCase(),
    prefix: str("azure_blob_storage.prefix", DEFAULT_PREFIX),
  };
}

/** The connection with its defaults; an address the client could not use is refused now, not at the first call. */
function connection(c: ClientConfig): HttpConnection {
  const httpAddr = c.address ?? DEFAULT_ADDRESS;
  try {
    parseAddress(httpAddr, c.useTls === true);
  } catch (e) {
    if (!(e instanceof ClientConfigError)) throw e;
    throw new SnapshotAgentConfigError(`the HTTP address ${goQuote(httpAddr)} cannot be used: ${e.message}`);
  }
  return {
    httpAddr,
    useTls: c.useTls ?? false,
    token: c.token ?? "",
    tokenFile: c.tokenFile ?? "",
    basicAuth: c.basicAuth ?? "",
    datacenter: c.datacenter ?? "",
    caFile: c.tls?.caFile ?? "",
    caPath: c.tls?.caPath ?? "",
    certFile: c.tls?.certFile ?? "",
    keyFile: c.tls?.keyFile ?? "",
    tlsServerName: c.tls?.serverName ?? "",
    tlsSkipVerify: c.tls?.insecureSkipVerify ?? false,
  };
}
