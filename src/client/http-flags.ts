/**
 * Consul's global HTTP flags and environment variables (command/flags/http.go, api.DefaultConfig), and the
 * `CAIRN_*` alias of each variable: how the CLI and the snapshot agent find and authenticate to a server.
 *
 * Precedence, per setting: command-line flag > config file (the snapshot agent's) > `CAIRN_*` > `CONSUL_*` >
 * default. The product-specific name wins
 * over Consul's because an operator who runs both keeps `CONSUL_HTTP_ADDR` pointing at Consul in the same shell
 * and sets `CAIRN_HTTP_ADDR` precisely to send cairn elsewhere; an unset or empty variable falls through, as
 * Go's api ignores empty ones. One Go rule is kept as is: a token file (flag or env) whose content is non-empty
 * beats any token given directly (api.NewClient reads TokenFile after Token).
 */
import { flagValueName } from "../util/flag-usage.js";
import { type FlagDef, flag, parseGoBool } from "../util/flags.js";
import type { ClientConfig } from "./client.js";
import type { TlsOptions } from "./transport.js";

export const httpClientFlags = {
  "http-addr": flag.string(
    "",
    "The `address` and port of the Consul HTTP agent. The value can be an IP address or DNS address, but it must " +
      "also include the port. This can also be specified via the CONSUL_HTTP_ADDR environment variable. The " +
      "default value is http://127.0.0.1:8500. The scheme can also be set to HTTPS by setting the environment " +
      "variable CONSUL_HTTP_SSL=true.",
  ),
  token: flag.string(
    "",
    "ACL token to use in the request. This can also be specified via the CONSUL_HTTP_TOKEN environment variable. " +
      "If unspecified, the query will default to the token of the Consul agent at the HTTP address.",
  ),
  "token-file": flag.string(
    "",
    "File containing the ACL token to use in the request instead of one specified via the -token argument or " +
      "CONSUL_HTTP_TOKEN environment variable. This can also be specified via the CONSUL_HTTP_TOKEN_FILE " +
      "environment variable.",
  ),
  "ca-file": flag.string(
    "",
    "Path to a CA file to use for TLS when communicating with Consul. This can also be specified via the " +
      "CONSUL_CACERT environment variable.",
  ),
  "ca-path": flag.string(
    "",
    "Path to a directory of CA certificates to use for TLS when communicating with Consul. This can also be " +
      "specified via the CONSUL_CAPATH environment variable.",
  ),
  "client-cert": flag.string(
    "",
    "Path to a client cert file to use for TLS when 'verify_incoming' is enabled. This can also be specified " +
      "via the CONSUL_CLIENT_CERT environment variable.",
  ),
  "client-key": flag.string(
    "",
    "Path to a client key file to use for TLS when 'verify_incoming' is enabled. This can also be specified " +
      "via the CONSUL_CLIENT_KEY environment variable.",
  ),
  "tls-server-name": flag.string(
    "",
    "The server name to use as the SNI host when connecting via TLS. This can also be specified via the " +
      "CONSUL_TLS_SERVER_NAME environment variable.",
  ),
} as const;

export const httpServerFlags = {
  datacenter: flag.string(
    "",
    "Name of the datacenter to query. If unspecified, this will default to the datacenter of the queried agent.",
  ),
  stale: flag.bool(
    false,
    "Permit any Consul server (non-leader) to respond to this request. This allows for lower latency and higher " +
      "throughput, but can result in stale data. This option has no effect on non-read operations. The default " +
      "value is false.",
  ),
} as const;

/** Names of the HTTP flags, so help output can list them under "HTTP API Options" as Consul does. */
export const HTTP_FLAG_NAMES: ReadonlySet<string> = new Set([
  ...Object.keys(httpClientFlags),
  ...Object.keys(httpServerFlags),
]);

/**
 * Consul declares its HTTP flags with flag.Var over its own value types, for which Go's UnquoteUsage names the
 * value `value`; other flags name it after their kind (or the backquoted word of the usage).
 */
export function httpFlagValueName(name: string, def: FlagDef): string {
  if (HTTP_FLAG_NAMES.has(name) && /`[^`]*`/.exec(def.usage) === null)
    return def.kind === "bool" ? "" : "value";
  return flagValueName(def);
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The connection settings of a config file (the snapshot agent's `http_addr`, `token`, …), between the flags and
 * the environment. An absent or empty value is not set: Consul documents these keys with "" as their default.
 */
export interface HttpFileSettings {
  readonly address?: string | undefined;
  readonly token?: string | undefined;
  readonly datacenter?: string | undefined;
  readonly caFile?: string | undefined;
  readonly caPath?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly tlsServerName?: string | undefined;
}

/** The parsed values of a command that merged the HTTP flags (it may have more flags of its own). */
type ClientFlagValues = Readonly<Record<string, unknown>>;

/** The value of `CAIRN_<name>` or else `CONSUL_<name>`; empty counts as unset. */
export function envSetting(env: Env, consulName: string): string | undefined {
  const cairn = env[consulName.replace(/^CONSUL_/, "CAIRN_")];
  if (cairn !== undefined && cairn !== "") return cairn;
  const consul = env[consulName];
  return consul !== undefined && consul !== "" ? consul : undefined;
}

/** Go's ParseBool on an env var; a value it cannot parse counts as unset (Go logs a warning and ignores it). */
function envBool(env: Env, consulName: string): boolean | undefined {
  const raw = envSetting(env, consulName);
  if (raw === undefined) return undefined;
  try {
    return parseGoBool(raw);
  } catch {
    return undefined;
  }
}

/**
 * The client configuration from parsed flags (`set` = flags given), a config file's settings (none for the CLI)
 * and the environment.
 */
export function clientConfigFrom(
  values: ClientFlagValues,
  set: ReadonlySet<string>,
  env: Env,
  file: HttpFileSettings = {},
): ClientConfig {
  const pick = (
    flagName: keyof typeof httpClientFlags | "datacenter",
    fromFile: string | undefined,
    envName?: string,
  ): string | undefined => {
    const v = values[flagName];
    if (set.has(flagName) && typeof v === "string") return v;
    if (fromFile !== undefined && fromFile !== "") return fromFile;
    return envName === undefined ? undefined : envSetting(env, envName);
  };
  const tls: { -readonly [K in keyof TlsOptions]: TlsOptions[K] } = {};
  const caFile = pick("ca-file", file.caFile, "CONSUL_CACERT");
  const caPath = pick("ca-path", file.caPath, "CONSUL_CAPATH");
  const certFile = pick("client-cert", file.certFile, "CONSUL_CLIENT_CERT");
  const keyFile = pick("client-key", file.keyFile, "CONSUL_CLIENT_KEY");
  const serverName = pick("tls-server-name", file.tlsServerName, "CONSUL_TLS_SERVER_NAME");
  if (caFile !== undefined) tls.caFile = caFile;
  if (caPath !== undefined) tls.caPath = caPath;
  if (certFile !== undefined) tls.certFile = certFile;
  if (keyFile !== undefined) tls.keyFile = keyFile;
  if (serverName !== undefined) tls.serverName = serverName;
  if (envBool(env, "CONSUL_HTTP_SSL_VERIFY") === false) tls.insecureSkipVerify = true;

  const config: { -readonly [K in keyof ClientConfig]: ClientConfig[K] } = { tls };
  const address = pick("http-addr", file.address, "CONSUL_HTTP_ADDR");
  const token = pick("token", file.token, "CONSUL_HTTP_TOKEN");
  const tokenFile = pick("token-file", undefined, "CONSUL_HTTP_TOKEN_FILE");
  const basicAuth = envSetting(env, "CONSUL_HTTP_AUTH");
  const datacenter = pick("datacenter", file.datacenter);
  if (address !== undefined) config.address = address;
  if (token !== undefined) config.token = token;
  if (tokenFile !== undefined) config.tokenFile = tokenFile;
  if (basicAuth !== undefined) config.basicAuth = basicAuth;
  if (datacenter !== undefined) config.datacenter = datacenter;
  if (envBool(env, "CONSUL_HTTP_SSL") === true) config.useTls = true;
  return config;
}
