/**
 * Destination URLs: one string that names a backup store, and optionally one backup in it, for the commands that
 * read backups where they are kept (`cairn snapshot list|restore|inspect|decode`):
 *
 *   /abs/dir, rel/dir, file:///abs/dir                 a directory (the local store)
 *   s3://bucket/prefix?region=R&endpoint=URL&path-style
 *   azure://account/container/prefix?environment=E
 *   gs://bucket/prefix?endpoint=URL
 *
 * A last path segment that is a backup's name (`consul-<id>.snap[.enc]`) names that backup; `latest` names the
 * newest. Secrets never travel in the URL: S3 takes the SDK's credentials (AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY from `env`, else its default chain), Azure the key in AZURE_STORAGE_KEY (and its endpoint,
 * as the store does, from AZURE_STORAGE_CONNECTION_STRING), GCS Application Default Credentials (none with an
 * emulator's `endpoint`). Every refusal names the part of the URL at fault.
 */
import { stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { errorText } from "../util/errors.js";
import type { AwsStorageConfig, AzureStorageConfig } from "./config-types.js";
import { parseObjectName } from "./naming.js";
import { openStore, type StoreSpec } from "./open-store.js";
import type { BackupStore } from "./store.js";
import { BackupStoreConfigError } from "./store-checks.js";
import { LocalStore } from "./store-local.js";

/** The last segment that names the newest backup in the store. */
export const LATEST = "latest";

export type UrlEnv = Readonly<Record<string, string | undefined>>;

/** What a destination URL says, before any store is made: the store, and `name`, a backup's name, LATEST or null. */
export type StoreUrl = StoreSpec & { readonly name: string | null };

const SCHEMES = ["file", "s3", "azure", "gs"] as const;
/** `scheme://`: what tells a URL from a path (a Windows drive `C:\` has no slashes after the colon). */
const URL_LIKE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** Characters S3 accepts in a bucket name, legacy (us-east-1) names included. */
const S3_BUCKET = /^[A-Za-z0-9._-]{3,255}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** True when `arg` is written as one of the store URLs (`file://`, `s3://`, `azure://`, `gs://`), not a path. */
export function isStoreUrl(arg: string): boolean {
  const scheme = URL_LIKE.exec(arg)?.[1]?.toLowerCase();
  return scheme !== undefined && (SCHEMES as readonly string[]).includes(scheme);
}

/** Parses a destination URL or path; throws BackupStoreConfigError naming the part at fault. */
export function parseStoreUrl(url: string, env: UrlEnv): StoreUrl {
  const fail: Fail = (problem) => {
    throw new BackupStoreConfigError(`store URL ${JSON.stringify(url)}: ${problem}`);
  };
  if (url === "") fail("empty (expected a directory, file://, s3://, azure:// or gs:// URL)");
  const scheme = URL_LIKE.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const bare = /^(file|s3|azure|gs):(?!\/\/)/i.exec(url);
    if (bare !== null) fail(`expected ${bare[1]?.toLowerCase()}:// after the scheme`);
    return localOf(resolve(url));
  }
  if (!(SCHEMES as readonly string[]).includes(scheme)) {
    fail(`unsupported scheme "${scheme}://" (expected a directory, file://, s3://, azure:// or gs://)`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not echoed again: the message of a URL that does not parse adds nothing to the URL itself.
    return fail("not a well-formed URL");
  }
  // Credentials would end up in shell history, process lists and logs: they come from the environment only.
  if (u.username !== "" || u.password !== "") {
    throw new BackupStoreConfigError(
      `store URL ${scheme}://…: credentials do not belong in the URL (give them through the environment)`,
    );
  }
  if (u.hash !== "") fail(`unexpected fragment "${u.hash}"`);
  if (u.port !== "") fail(`unexpected port ":${u.port}" (an endpoint goes in ?endpoint=)`);
  const query = queryOf(u, fail);
  switch (scheme) {
    case "file":
      return fileUrl(u, query, fail);
    case "s3":
      return s3Url(u, query, env, fail);
    case "azure":
      return azureUrl(u, query, env, fail);
    default:
      return gcsUrl(u, query, fail);
  }
}

/** A destination's store and the backup it names (a name, LATEST, or null for the store alone). */
export async function storeFromUrl(
  url: string,
  env: UrlEnv,
): Promise<{ store: BackupStore; name: string | null }> {
  const parsed = parseStoreUrl(url, env);
  try {
    return { store: await openStore(parsed, env), name: parsed.name };
  } catch (e) {
    // The stores name their settings (account_name, bucket…); which URL they came from is said here.
    throw new BackupStoreConfigError(`store URL ${JSON.stringify(url)}: ${errorText(e)}`, { cause: e });
  }
}

/**
 * storeFromUrl for commands that only read: a local store's directory must already exist (LocalStore would
 * create it, and a mistyped path must not leave a new directory behind).
 */
export async function storeForReading(
  url: string,
  env: UrlEnv,
): Promise<{ store: BackupStore; name: string | null }> {
  const found = await storeFromUrl(url, env);
  if (found.store instanceof LocalStore) {
    const dir = found.store.dir;
    const st = await stat(dir).catch((e: unknown) => {
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
      const why = missing ? "no such directory" : errorText(e);
      throw new BackupStoreConfigError(`backup directory ${dir}: ${why}`, { cause: e });
    });
    if (!st.isDirectory()) throw new BackupStoreConfigError(`backup directory ${dir}: not a directory`);
  }
  return found;
}

type Fail = (problem: string) => never;

/** The query's parameters, each at most once. */
function queryOf(u: URL, fail: Fail): Map<string, string> {
  const query = new Map<string, string>();
  for (const [k, v] of u.searchParams) {
    if (query.has(k)) fail(`query parameter "${k}" is given twice`);
    query.set(k, v);
  }
  return query;
}

/** Refuses any parameter but `allowed`. */
function onlyParams(query: ReadonlyMap<string, string>, allowed: readonly string[], fail: Fail): void {
  for (const k of query.keys()) {
    if (!allowed.includes(k)) {
      fail(
        allowed.length === 0
          ? `unexpected query parameter "${k}" (this scheme takes none)`
          : `unknown query parameter "${k}" (expected ${allowed.map((a) => `"${a}"`).join(", ")})`,
      );
    }
  }
}

/** The path's segments, %-decoded, without the leading slash or trailing slashes; an empty middle one refused. */
function segmentsOf(u: URL, fail: Fail): string[] {
  const raw = u.pathname.replace(/^\/+/, "").replace(/\/+$/, "");
  if (raw === "") return [];
  return raw.split("/").map((s) => {
    if (s === "") fail(`empty path segment in "${u.pathname}"`);
    try {
      return decodeURIComponent(s);
    } catch {
      return fail(`path segment "${s}" is not valid %-encoding`);
    }
  });
}

/** Splits off the backup a last segment names (a backup's name or LATEST); the rest is the prefix. */
function splitName(segments: readonly string[]): { prefix: string; name: string | null } {
  const last = segments[segments.length - 1];
  const named = last !== undefined && (last === LATEST || parseObjectName(last) !== null);
  return {
    prefix: (named ? segments.slice(0, -1) : segments).join("/"),
    name: named ? (last as string) : null,
  };
}

function localOf(path: string): StoreUrl {
  const last = basename(path);
  if (last === LATEST || parseObjectName(last) !== null) {
    return { kind: "local", dir: dirname(path), name: last };
  }
  return { kind: "local", dir: path, name: null };
}

function fileUrl(u: URL, query: ReadonlyMap<string, string>, fail: Fail): StoreUrl {
  onlyParams(query, [], fail);
  if (u.hostname !== "" && u.hostname !== "localhost") {
    fail(`file URLs name a local directory: unexpected host "${u.hostname}" (file:///abs/dir)`);
  }
  let path: string;
  try {
    path = fileURLToPath(u);
  } catch (e) {
    return fail(errorText(e));
  }
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  return localOf(trimmed === "" ? "/" : trimmed);
}

/** `endpoint=`: an http(s) URL of an S3-compatible server or an emulator. */
function endpointParam(query: ReadonlyMap<string, string>, fallback: string, fail: Fail): string {
  const given = query.get("endpoint");
  const endpoint = given ?? fallback;
  if (endpoint === "") {
    if (given !== undefined) fail(`"endpoint" is empty`);
    return "";
  }
  let e: URL;
  try {
    e = new URL(endpoint);
  } catch {
    return fail(`endpoint ${JSON.stringify(endpoint)} is not a URL (e.g. http://127.0.0.1:9000)`);
  }
  if (e.protocol !== "http:" && e.protocol !== "https:") {
    fail(`endpoint ${JSON.stringify(endpoint)} must be http:// or https://`);
  }
  return endpoint;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

function s3Url(u: URL, query: ReadonlyMap<string, string>, env: UrlEnv, fail: Fail): StoreUrl {
  onlyParams(query, ["region", "endpoint", "path-style"], fail);
  const bucket = u.hostname;
  if (bucket === "") fail("no bucket (s3://BUCKET/prefix)");
  if (!S3_BUCKET.test(bucket)) {
    fail(`bucket "${bucket}" must be 3 to 255 letters, digits, dots, dashes and underscores`);
  }
  const region = query.get("region") ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? "";
  if (region === "") fail("no region: add ?region=… or set AWS_REGION");
  const pathStyle = query.get("path-style");
  if (pathStyle !== undefined && !["", "true", "false"].includes(pathStyle)) {
    fail(`path-style=${JSON.stringify(pathStyle)}: expected no value, true or false`);
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? "";
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? "";
  if ((accessKeyId === "") !== (secretAccessKey === "")) {
    fail("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both or neither");
  }
  const { prefix, name } = splitName(segmentsOf(u, fail));
  const config: AwsStorageConfig = {
    accessKeyId,
    secretAccessKey,
    sessionToken: accessKeyId === "" ? "" : (env.AWS_SESSION_TOKEN ?? ""),
    iamEndpoint: "",
    roleArn: "",
    roleSessionName: "",
    webIdentityTokenFile: "",
    stsEndpoint: "",
    region,
    bucket,
    keyPrefix: prefix,
    endpoint: endpointParam(query, env.AWS_S3_ENDPOINT ?? "", fail),
    serverSideEncryption: false,
    staticSnapshotName: "",
    forcePathStyle: pathStyle === "" || pathStyle === "true",
    enableKms: false,
    kmsKey: "",
  };
  return { kind: "s3", config, name };
}

function azureUrl(u: URL, query: ReadonlyMap<string, string>, env: UrlEnv, fail: Fail): StoreUrl {
  onlyParams(query, ["environment"], fail);
  const accountName = u.hostname;
  if (accountName === "") fail("no account (azure://ACCOUNT/container/prefix)");
  const [containerName, ...rest] = segmentsOf(u, fail);
  if (containerName === undefined) fail("no container (azure://account/CONTAINER/prefix)");
  const accountKey = env.AZURE_STORAGE_KEY ?? "";
  if (accountKey === "") fail("no account key: set AZURE_STORAGE_KEY");
  if (!BASE64.test(accountKey)) fail("AZURE_STORAGE_KEY must be the account's base64 access key");
  const environment = query.get("environment") ?? "AZUREPUBLICCLOUD";
  if (environment === "") fail(`"environment" is empty`);
  const { prefix, name } = splitName(rest);
  const config: AzureStorageConfig = {
    accountName,
    accountKey,
    containerName: containerName as string,
    environment,
    prefix,
  };
  return { kind: "azure", config, name };
}

function gcsUrl(u: URL, query: ReadonlyMap<string, string>, fail: Fail): StoreUrl {
  onlyParams(query, ["endpoint"], fail);
  const bucket = u.hostname;
  if (bucket === "") fail("no bucket (gs://BUCKET/prefix)");
  const { prefix, name } = splitName(segmentsOf(u, fail));
  return { kind: "gcs", config: { bucket, prefix }, endpoint: endpointParam(query, "", fail), name };
}
