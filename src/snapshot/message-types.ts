/**
 * Consul's raft message types (agent/structs/structs.go), as they appear as the type byte of a state.bin record.
 * Names are those of MessageType.String(), which `consul snapshot inspect` prints; see snapshot-format.md §2.2.
 */

export interface MessageTypeInfo {
  /** The type byte. */
  readonly type: number;
  /** The Go constant, e.g. KVSRequestType. */
  readonly constant: string;
  /** MessageType.String(): what inspect prints. */
  readonly name: string;
  /** Whether Consul writes this type into snapshots (otherwise it is a raft-log-only command). */
  readonly inSnapshots: boolean;
}

// [type, Go constant, String() name or "" when String() has no case for it, written into snapshots]
const TABLE: readonly (readonly [number, string, string, boolean])[] = [
  [0, "RegisterRequestType", "Register", true],
  [1, "DeregisterRequestType", "Deregister", false],
  [2, "KVSRequestType", "KVS", true],
  [3, "SessionRequestType", "Session", true],
  [4, "DeprecatedACLRequestType", "ACL", true],
  [5, "TombstoneRequestType", "Tombstone", true],
  [6, "CoordinateBatchUpdateType", "CoordinateBatchUpdate", true],
  [7, "PreparedQueryRequestType", "PreparedQuery", true],
  [8, "TxnRequestType", "Txn", false],
  [9, "AutopilotRequestType", "Autopilot", true],
  [10, "AreaRequestType", "Area", false],
  [11, "ACLBootstrapRequestType", "ACLBootstrap", false],
  [12, "IntentionRequestType", "Intention", true],
  [13, "ConnectCARequestType", "ConnectCA", true],
  [14, "ConnectCAProviderStateType", "ConnectCAProviderState", true],
  [15, "ConnectCAConfigType", "ConnectCAConfig", true],
  [16, "IndexRequestType", "Index", true],
  [17, "ACLTokenSetRequestType", "ACLToken", true],
  [18, "ACLTokenDeleteRequestType", "ACLTokenDelete", false],
  [19, "ACLPolicySetRequestType", "ACLPolicy", true],
  [20, "ACLPolicyDeleteRequestType", "ACLPolicyDelete", false],
  [21, "ConnectCALeafRequestType", "ConnectCALeaf", false],
  [22, "ConfigEntryRequestType", "ConfigEntry", true],
  [23, "ACLRoleSetRequestType", "ACLRole", true],
  [24, "ACLRoleDeleteRequestType", "ACLRoleDelete", false],
  [25, "ACLBindingRuleSetRequestType", "ACLBindingRule", true],
  [26, "ACLBindingRuleDeleteRequestType", "ACLBindingRuleDelete", false],
  [27, "ACLAuthMethodSetRequestType", "ACLAuthMethod", true],
  [28, "ACLAuthMethodDeleteRequestType", "ACLAuthMethodDelete", false],
  [29, "ChunkingStateType", "ChunkingState", true],
  [30, "FederationStateRequestType", "FederationState", true],
  [31, "SystemMetadataRequestType", "SystemMetadata", true],
  [32, "ServiceVirtualIPRequestType", "ServiceVirtualIP", true],
  [33, "FreeVirtualIPRequestType", "FreeVirtualIP", true],
  [34, "KindServiceNamesType", "KindServiceName", false],
  [35, "PeeringWriteType", "Peering", true],
  [36, "PeeringDeleteType", "PeeringDelete", false],
  [37, "PeeringTerminateByIDType", "", false], // String() has no case: prints Unknown(37)
  [38, "PeeringTrustBundleWriteType", "PeeringTrustBundle", true],
  [39, "PeeringTrustBundleDeleteType", "PeeringTrustBundleDelete", false],
  [40, "PeeringSecretsWriteType", "PeeringSecret", true],
  [41, "RaftLogVerifierCheckpoint", "RaftLogVerifierCheckpoint", false],
  [42, "ResourceOperationType", "Resource", true],
  [43, "UpdateVirtualIPRequestType", "UpdateManualVirtualIPRequestType", false],
  [44, "CensusRequestType", "Census", false],
];

const BY_TYPE = new Map<number, MessageTypeInfo>(
  TABLE.map(([type, constant, name, inSnapshots]) => [
    type,
    { type, constant, name: name === "" ? unknownName(type) : name, inSnapshots },
  ]),
);

/** Every CE message type, ascending. */
export const MESSAGE_TYPES: readonly MessageTypeInfo[] = [...BY_TYPE.values()];

/** The type bytes cairn reads and writes with typed codecs (records.ts); the rest stay opaque bytes. */
export const MessageType = {
  Register: 0,
  KVS: 2,
  Session: 3,
  Tombstone: 5,
  CoordinateBatchUpdate: 6,
  Autopilot: 9,
  Index: 16,
  ACLToken: 17,
  ACLPolicy: 19,
  ChunkingState: 29,
} as const;

/** Enterprise types live in [64, 128): their names are known only to Consul Enterprise. */
export const ENTERPRISE_TYPE_MIN = 64;
/** Raft-log-only flag: a log entry with it may be skipped when unknown; snapshots never interpret it. */
export const IGNORE_UNKNOWN_TYPE_FLAG = 128;

export function isEnterpriseType(type: number): boolean {
  return type >= ENTERPRISE_TYPE_MIN && type < IGNORE_UNKNOWN_TYPE_FLAG;
}

function unknownName(type: number): string {
  return `Unknown(${type})`;
}

/** MessageType.String() as Consul CE prints it: `Unknown(<n>)` for anything it has no name for. */
export function messageTypeName(type: number): string {
  return BY_TYPE.get(type)?.name ?? unknownName(type);
}

export function messageTypeInfo(type: number): MessageTypeInfo | undefined {
  return BY_TYPE.get(type);
}
