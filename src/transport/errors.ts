/**
 * Operating errors of the server-to-server transport. Each is an expected condition a caller handles: raft
 * tolerates lost messages, and the server layer maps request failures to retries or client errors.
 */
import { CairnError } from "../util/errors.js";

/** Bytes from the network that do not decode: the connection carrying them is closed, the process goes on. */
export class CodecError extends CairnError {
  readonly code = "transport_codec";
  override name = "CodecError";
}

/** A frame header announces more than `frameBytesMax`: refused before anything is allocated. */
export class FrameTooLargeError extends CairnError {
  readonly code = "transport_frame_too_large";
  override name = "FrameTooLargeError";
  readonly bytes: number;
  constructor(bytes: number, frameBytesMax: number) {
    super(`refusing frame of ${bytes} bytes: exceeds frameBytesMax ${frameBytesMax}`);
    this.bytes = bytes;
  }
}

/** The handshake failed: the other side is from another datacenter, is not the node we dialed, or spoke garbage. */
export class HandshakeError extends CairnError {
  readonly code = "transport_handshake";
  override name = "HandshakeError";
}

/** The peer could not be reached (no address, connection refused or lost, queue full): the outcome is unknown. */
export class UnreachableError extends CairnError {
  readonly code = "transport_unreachable";
  override name = "UnreachableError";
  readonly peer: number;
  constructor(peer: number, why: string) {
    super(`cannot reach node ${peer}: ${why}`);
    this.peer = peer;
  }
}

/** A request got no response within its timeout; it may still run on the remote side. */
export class RequestTimeoutError extends CairnError {
  readonly code = "transport_timeout";
  override name = "RequestTimeoutError";
  constructor(peer: number, method: string, timeoutMs: number) {
    super(`request "${method}" to node ${peer} timed out after ${timeoutMs} ms`);
  }
}

/** The remote handler failed (threw, or no handler for the method); `remoteMessage` is its error text. */
export class RemoteError extends CairnError {
  readonly code = "transport_remote";
  override name = "RemoteError";
  readonly remoteMessage: string;
  constructor(peer: number, method: string, remoteMessage: string) {
    super(`request "${method}" failed on node ${peer}: ${remoteMessage}`);
    this.remoteMessage = remoteMessage;
  }
}

/** A snapshot stream did not complete: the receiver refused it, its hash did not verify, or the connection broke. */
export class SnapshotTransferError extends CairnError {
  readonly code = "transport_snapshot";
  override name = "SnapshotTransferError";
}

/** The transport was closed while the operation was pending. */
export class TransportClosedError extends CairnError {
  readonly code = "transport_closed";
  override name = "TransportClosedError";
  constructor() {
    super("transport is closed");
  }
}

/** A peer address that is not "host:port" with a port in [1, 65536). */
export class AddressError extends CairnError {
  readonly code = "transport_address";
  override name = "AddressError";
}
