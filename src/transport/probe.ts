import type { Socket } from "node:net";
import { dial } from "./dial.js";
import { FRAME_BYTES_MAX_DEFAULT } from "./frame.js";
import type { TransportTls } from "./tls.js";
import type { NodeIdentity } from "./transport.js";

/**
 * Asks who listens at `addr` (a server RPC address): connects, handshakes with purpose "probe", returns the
 * listener's identity and closes. This is cairn's discovery in place of gossip: -retry-join and
 * -bootstrap-expect learn the other servers' node and raft ids this way. Rejects with UnreachableError or
 * HandshakeError (e.g. another datacenter).
 */
export async function probe(
  local: NodeIdentity,
  addr: string,
  timeoutMs: number,
  tls?: TransportTls["dial"],
): Promise<NodeIdentity> {
  let sock: Socket | undefined;
  try {
    const d = await dial({
      local,
      addr,
      expectRaftId: 0,
      purpose: "probe",
      frameBytesMax: FRAME_BYTES_MAX_DEFAULT,
      handshakeTimeoutMs: timeoutMs,
      tls,
      track: (s) => {
        sock = s;
      },
    });
    return d.peer;
  } finally {
    sock?.destroy();
  }
}
