/**
 * Every setting of the snapshot agent in one table: its key inside the `snapshot_agent` object of a config file,
 * its type, the flag that sets it and the flag's help (docs/consul-compat.md §6.3, Consul Enterprise's names, plus
 * cairn's additions, marked `cairn`). The file reader, the flags and the help text are all derived from it, so a
 * setting cannot exist in one and be missing from another. The connection settings (`http_addr`, `token`, …) take
 * their flags and variables from client/http-flags.ts, shared with the CLI.
 */
import type { ConfigKey, ConfigValue } from "../util/config-keys.js";

/** Where a flag is listed in the help, in the order of Consul's documentation. */
export const SECTIONS = {
  snapshot: "Snapshot Options",
  agent: "Agent Options",
  local: "Local Storage Options",
  s3: "S3 Storage Options",
  azure: "Azure Blob Storage Options",
  gcs: "Google Cloud Storage Options",
} as const;

interface SettingFlag {
  readonly name: string;
  readonly usage: string;
  readonly section: keyof typeof SECTIONS;
}

export interface Setting extends ConfigKey {
  /** Absent for keys whose flag is elsewhere (the connection) or that have none (`license_path`). */
  readonly flag?: SettingFlag;
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level named, in any case, or undefined (hclog's names; Consul's default is written `INFO`). */
export function logLevelOf(text: string): LogLevel | undefined {
  return LOG_LEVELS.find((l) => l === text.toLowerCase());
}

const AZURE_ENVIRONMENTS = [
  "AZUREPUBLICCLOUD",
  "AZURECHINACLOUD",
  "AZUREGERMANCLOUD",
  "AZUREUSGOVERNMENTCLOUD",
];

/** A name from a list, in any case; "" is the default. */
const oneOf =
  (what: string, names: readonly string[], valid: (s: string) => boolean) =>
  (v: ConfigValue): string | undefined =>
    v === "" || (typeof v === "string" && valid(v))
      ? undefined
      : `${what} must be one of ${names.join(", ")}`;

/** `host:port` (IPv6 in brackets), port 0-65535; the host may be empty (every interface). "" is off. */
function checkListen(v: ConfigValue): string | undefined {
  if (v === "") return undefined;
  const m = typeof v === "string" ? /^(\[[^\]]*\]|[^:[\]]*):(\d{1,5})$/.exec(v) : null;
  if (m === null || Number(m[2]) > 65535)
    return 'must be host:port, such as "127.0.0.1:9465", or "" for none';
  return undefined;
}

const refuseLogin = (v: ConfigValue) =>
  v === ""
    ? undefined
    : "login is not supported by cairn (no ACL auth methods yet); give the agent a token instead " +
      "(token, -token, -token-file or CONSUL_HTTP_TOKEN)";

const refuseSyslog = (v: ConfigValue) =>
  v === false
    ? undefined
    : "syslog is not supported by cairn; it logs to stderr, for the service manager (systemd's journal, " +
      "Docker, …) to collect";

// Each helper keeps its literal kind, which Layer's types are derived from.
const str = (flag?: SettingFlag) => ({ kind: "string", ...(flag === undefined ? {} : { flag }) }) as const;
const bool = (flag: SettingFlag) => ({ kind: "bool", flag }) as const;
const count = (flag: SettingFlag, min = 0) => ({ kind: "int", min, flag }) as const;
const duration = (flag: SettingFlag) => ({ kind: "duration", min: 0, flag }) as const;
const f = (name: string, section: SettingFlag["section"], usage: string): SettingFlag => ({
  name,
  section,
  usage,
});

export const SETTINGS = {
  http_addr: str(),
  token: str(),
  datacenter: str(),
  ca_file: str(),
  ca_path: str(),
  cert_file: str(),
  key_file: str(),
  tls_server_name: str(),
  /** Enterprise licence: cairn needs none, so an existing file's path is accepted and not read. */
  license_path: str(),

  "login.auth_method": {
    ...str(
      f("login-auth-method", "agent", "Consul: the ACL auth method to log in with. Not supported by cairn."),
    ),
    check: refuseLogin,
  },
  "login.bearer_token": str(f("login-bearer-token", "agent", "Consul: the bearer token to log in with.")),
  "login.bearer_token_file": str(
    f("login-bearer-token-file", "agent", "Consul: a file holding the bearer token to log in with."),
  ),
  "login.meta": {
    kind: "stringMap",
    flag: f("login-meta", "agent", "Consul: metadata for the login token, as `key=value`. Can be repeated."),
  },

  "log.level": {
    ...str(f("log-level", "agent", "Log level: trace, debug, info, warn or error. Defaults to info.")),
    check: oneOf("the level", LOG_LEVELS, (s) => logLevelOf(s) !== undefined),
  },
  "log.enable_syslog": {
    ...bool(
      f("syslog", "agent", "Consul: forward logs to syslog. Not supported by cairn: it logs to stderr."),
    ),
    check: refuseSyslog,
  },
  "log.syslog_facility": str(
    f("syslog-facility", "agent", "Consul: the syslog facility. Defaults to LOCAL0."),
  ),
  "log.json": bool(f("log-json", "agent", "cairn: write logs as JSON, one object a line.")),
  listen: {
    ...str(
      f(
        "listen",
        "agent",
        "cairn: the `host:port` where the agent serves its own /metrics (Prometheus) and /health. " +
          'Defaults to "", no listener.',
      ),
    ),
    check: checkListen,
  },

  "snapshot.interval": duration(
    f(
      "interval",
      "snapshot",
      'How often to take a snapshot, as a duration with a unit ("30m", "1h"). 0 takes one snapshot, applies ' +
        "retention and exits, without leader election or service registration. Defaults to 1h.",
    ),
  ),
  "snapshot.retain": count(
    f(
      "retain",
      "snapshot",
      "How many snapshots to keep: after each snapshot the oldest beyond this many are deleted. 0 keeps them " +
        "all. Defaults to 30.",
    ),
  ),
  "snapshot.retain_hourly": count(
    f(
      "retain-hourly",
      "snapshot",
      "cairn: also keep the newest snapshot of each of the last N hours. Defaults to 0.",
    ),
  ),
  "snapshot.retain_daily": count(
    f(
      "retain-daily",
      "snapshot",
      "cairn: also keep the newest snapshot of each of the last N days. Defaults to 0.",
    ),
  ),
  "snapshot.retain_weekly": count(
    f(
      "retain-weekly",
      "snapshot",
      "cairn: also keep the newest snapshot of each of the last N weeks. Defaults to 0.",
    ),
  ),
  "snapshot.retain_monthly": count(
    f(
      "retain-monthly",
      "snapshot",
      "cairn: also keep the newest snapshot of each of the last N months. Defaults to 0.",
    ),
  ),
  "snapshot.stale": bool(
    f(
      "stale",
      "snapshot",
      "Let any server answer, not only the leader (a snapshot without a leader). Defaults to false.",
    ),
  ),
  "snapshot.service": str(
    f(
      "service",
      "agent",
      "The service name the agent registers in the catalog. Defaults to consul-snapshot.",
    ),
  ),
  "snapshot.deregister_after": duration(
    f(
      "deregister-after",
      "agent",
      "How long the agent's service may stay critical before the catalog deregisters it. 0 never does. " +
        "Defaults to 72h.",
    ),
  ),
  "snapshot.lock_key": str(
    f(
      "lock-key",
      "snapshot",
      "The KV key the agents of one cluster elect their active agent on; all must use the same. Defaults to " +
        "consul-snapshot/lock.",
    ),
  ),
  "snapshot.history_key": str(
    f(
      "history-key",
      "snapshot",
      "cairn: the KV key where the active agent keeps a summary of its backups, drills and status for the web " +
        "UI; every agent of one cluster must use the same. Defaults to consul-snapshot/history.",
    ),
  ),
  "snapshot.max_failures": count(
    f(
      "max-failures",
      "snapshot",
      "Failures in a row after which the active agent steps down, so that a standby can take over. Defaults to 3.",
    ),
    1,
  ),
  "snapshot.local_scratch_path": str(
    f(
      "local-scratch-path",
      "snapshot",
      "Where a snapshot is staged before it is uploaded to a remote store. Defaults to the system temp directory.",
    ),
  ),
  "snapshot.drill_interval": duration(
    f(
      "drill-interval",
      "snapshot",
      "cairn: how often to run a restore drill of the newest snapshot (restore into a scratch state and " +
        "verify). Defaults to 0, no drills.",
    ),
  ),
  "snapshot.encryption_key_file": str(
    f(
      "encryption-key-file",
      "snapshot",
      "cairn: a file holding the key that encrypts snapshots at rest (AES-256-GCM). Defaults to none.",
    ),
  ),

  "local_storage.path": str(
    f(
      "local-path",
      "local",
      'The directory local snapshots go to. Local storage is on unless a remote store is set. Defaults to ".".',
    ),
  ),

  "aws_storage.access_key_id": str(f("aws-access-key-id", "s3", "Static AWS access key id.")),
  "aws_storage.secret_access_key": str(f("aws-secret-access-key", "s3", "Static AWS secret access key.")),
  "aws_storage.session_token": str(f("aws-session-token", "s3", "Static AWS session token.")),
  "aws_storage.iam_endpoint": str(f("aws-iam-endpoint", "s3", "The IAM endpoint for static credentials.")),
  "aws_storage.role_arn": str(f("aws-role-arn", "s3", "The IAM role to assume.")),
  "aws_storage.role_session_name": str(
    f("aws-role-session-name", "s3", "The session name for the role assumed."),
  ),
  "aws_storage.web_identity_token_file": str(
    f("aws-web-identity-token-file", "s3", "A web identity token file to assume the role with."),
  ),
  "aws_storage.sts_endpoint": str(f("aws-sts-endpoint", "s3", "The STS endpoint for temporary credentials.")),
  "aws_storage.s3_region": str(f("aws-s3-region", "s3", "The S3 region. Required with -aws-s3-bucket.")),
  "aws_storage.s3_bucket": str(
    f("aws-s3-bucket", "s3", "The S3 bucket (the name only). Turns S3 storage on, and local storage off."),
  ),
  "aws_storage.s3_key_prefix": str(
    f("aws-s3-key-prefix", "s3", "The prefix of the snapshots' keys. Defaults to consul-snapshot."),
  ),
  "aws_storage.s3_endpoint": str(
    f(
      "aws-s3-endpoint",
      "s3",
      "An S3-compatible endpoint instead of AWS's (MinIO, …). Also AWS_S3_ENDPOINT. Defaults to AWS's.",
    ),
  ),
  "aws_storage.s3_server_side_encryption": bool(
    f("aws-s3-server-side-encryption", "s3", "Encrypt snapshots with S3-managed keys (SSE-S3)."),
  ),
  "aws_storage.s3_static_snapshot_name": str(
    f(
      "aws-s3-static-snapshot-name",
      "s3",
      "Save every snapshot under this one name, without rotation (rely on bucket versioning).",
    ),
  ),
  "aws_storage.s3_force_path_style": bool(
    f(
      "aws-s3-force-path-style",
      "s3",
      "Address the bucket in the path, not the host name (MinIO and the like).",
    ),
  ),
  "aws_storage.s3_enable_kms": bool(
    f("aws-s3-enable-kms", "s3", "Encrypt snapshots with AWS KMS (SSE-KMS)."),
  ),
  "aws_storage.s3_kms_key": str(
    f("aws-s3-kms-key", "s3", "The KMS key; the account's default key when empty."),
  ),

  "azure_blob_storage.account_name": str(
    f("azure-blob-account-name", "azure", "The storage account's name."),
  ),
  "azure_blob_storage.account_key": str(f("azure-blob-account-key", "azure", "The storage account's key.")),
  "azure_blob_storage.container_name": str(
    f("azure-blob-container-name", "azure", "The container. Turns Azure storage on, and local storage off."),
  ),
  "azure_blob_storage.environment": {
    ...str(
      f(
        "azure-blob-environment",
        "azure",
        `The Azure cloud: ${AZURE_ENVIRONMENTS.join(", ")}. Defaults to AZUREPUBLICCLOUD.`,
      ),
    ),
    check: oneOf("the environment", AZURE_ENVIRONMENTS, (s) => AZURE_ENVIRONMENTS.includes(s.toUpperCase())),
  },
  "azure_blob_storage.prefix": str(
    f(
      "azure-blob-prefix",
      "azure",
      "cairn: the prefix of the snapshots' names. Defaults to consul-snapshot.",
    ),
  ),

  "google_storage.bucket": str(
    f("gcs-bucket", "gcs", "The Google Cloud Storage bucket. Turns GCS storage on, and local storage off."),
  ),
  "google_storage.prefix": str(
    f("gcs-prefix", "gcs", "cairn: the prefix of the snapshots' names. Defaults to consul-snapshot."),
  ),
} as const satisfies Readonly<Record<string, Setting>>;

export type SettingPath = keyof typeof SETTINGS;

interface ValueOfKind {
  bool: boolean;
  int: number;
  string: string;
  strings: string[];
  duration: number;
  stringMap: Record<string, string>;
}

/** One source's settings (a file, or the flags given); absent = not set there. Durations in ms. */
export type Layer = { -readonly [P in SettingPath]?: ValueOfKind[(typeof SETTINGS)[P]["kind"]] };
