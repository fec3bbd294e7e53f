/**
 * src/transport: server-to-server RPC over TCP (default port 8300). The only public entry of the folder.
 * Imports: util, raft (types), node:net, node:crypto (SHA-256 of snapshot streams).
 */
export { CODEC_VERSION, decodeMessage, encodeMessage, messageBytes } from "./codec.js";
export { formatAddress, type HostPort, parseAddress } from "./dial.js";
export {
  AddressError,
  CodecError,
  FrameTooLargeError,
  HandshakeError,
  RemoteError,
  RequestTimeoutError,
  SnapshotTransferError,
  TransportClosedError,
  UnreachableError,
} from "./errors.js";
export { FRAME_BYTES_MAX_DEFAULT } from "./frame.js";
export { MemoryNetwork, MemoryTransport } from "./memory-transport.js";
export type { Log, LogLevel } from "./peer-link.js";
export { probe } from "./probe.js";
export { RAFT_PORT_DEFAULT, TcpTransport, type TcpTransportOptions } from "./tcp-transport.js";
export { type MutualTlsSettings, type TransportTls, transportTls } from "./tls.js";
export type {
  MessageHandler,
  NodeIdentity,
  PeerTransport,
  ReleaseAnswer,
  RequestHandler,
  SnapshotHandler,
  Transport,
} from "./transport.js";
