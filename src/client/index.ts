/**
 * Typed HTTP client for cairn's (and Consul's) HTTP API. The only public entry of src/client. Its tests, and
 * the CLI's, run against test/support/test-agent.ts: cairn's real HTTP stack over an in-memory server.
 */

export {
  AclApi,
  type AclLink,
  type AclNodeIdentity,
  type AclPolicy,
  type AclPolicyListEntry,
  type AclPolicyWrite,
  type AclServiceIdentity,
  type AclTemplatedPolicy,
  type AclToken,
  type AclTokenLinks,
  type AclTokenListEntry,
  type AclTokenWrite,
  ANONYMOUS_TOKEN_ID,
  decodeAclPolicy,
  decodeAclPolicyListEntry,
  decodeAclToken,
  decodeAclTokenListEntry,
  GLOBAL_MANAGEMENT_POLICY_ID,
} from "./acl.js";
export type {
  CatalogNode,
  CatalogQuery,
  CatalogServiceInstance,
  HealthCheck,
  NodeServices,
} from "./catalog.js";
export {
  type ClientConfig,
  ConsulClient,
  type KvDeleteOptions,
  type KvPutOptions,
  type QueryOptions,
  REQUEST_TIMEOUT_MS_DEFAULT,
  RESPONSE_BYTES_MAX_DEFAULT,
  STREAM_IDLE_TIMEOUT_MS_DEFAULT,
} from "./client.js";
export { ApiError, ClientConfigError, ConnectionError, DecodeError, InvalidRequestError } from "./errors.js";
export { GO_ZERO_TIME, type GoTime, goTimeRfc3339, goTimeString, parseGoTime } from "./go-time.js";
export {
  clientConfigFrom,
  type Env,
  envSetting,
  HTTP_FLAG_NAMES,
  type HttpFileSettings,
  httpClientFlags,
  httpFlagValueName,
  httpServerFlags,
} from "./http-flags.js";
export { isObject, type Json, JsonSyntaxError, parseJson, toU64 } from "./json.js";
export { LOCK_FLAG_VALUE, Lock, LockConflictError, LockInUseError, type LockOptions } from "./lock.js";
export { DEFAULT_ADDRESS, type Endpoint, goFileError, parseAddress, type TlsOptions } from "./transport.js";
export type {
  AgentMember,
  AutopilotHealth,
  KVPair,
  QueryMeta,
  RaftConfiguration,
  RaftServer,
  ServerHealth,
  SessionEntry,
  SessionSpec,
} from "./types.js";
