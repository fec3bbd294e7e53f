/**
 * Mutual TLS between servers (Consul's internal RPC TLS): what the listener and the dialer hand to node:tls. The
 * agent builds both from its `tls.internal_rpc` settings; below the socket nothing changes — the handshake
 * (handshake.ts), frames and messages run inside the TLS stream as they run over plain TCP.
 */
import { type ConnectionOptions, checkServerIdentity, type TlsOptions } from "node:tls";

export interface TransportTls {
  /** The listener's options: key, cert, ca; requestCert and rejectUnauthorized to require a client certificate. */
  readonly listen: TlsOptions;
  /**
   * The dialer's options: key and cert (its client certificate), ca, rejectUnauthorized, and a checkServerIdentity
   * that accepts the peer's name (`server.<dc>.<domain>`) whatever address it was dialed at.
   */
  readonly dial: ConnectionOptions;
}

/** A server's certificate material and what it verifies (Consul's tls.internal_rpc, after defaults). */
export interface MutualTlsSettings {
  /** PEM CA certificates the peers' certificates must chain to. */
  readonly ca: readonly string[];
  readonly cert: string;
  readonly key: string;
  /** Require and check a client certificate from every server that dials in. */
  readonly verifyIncoming: boolean;
  /** Check the certificate of every server dialed. */
  readonly verifyOutgoing: boolean;
  /** verify_server_hostname: the dialed server's certificate must carry one of these names; empty: chain only. */
  readonly serverNames: readonly string[];
}

export function transportTls(s: MutualTlsSettings): TransportTls {
  const ca = [...s.ca];
  return {
    listen: {
      ca,
      cert: s.cert,
      key: s.key,
      requestCert: s.verifyIncoming,
      rejectUnauthorized: s.verifyIncoming,
    },
    dial: {
      ca,
      cert: s.cert,
      key: s.key,
      rejectUnauthorized: s.verifyOutgoing,
      // Servers are dialed by address; the name checked is the datacenter's server name, not the address.
      checkServerIdentity: (_host, peerCert) => {
        if (s.serverNames.length === 0) return undefined;
        for (const name of s.serverNames)
          if (checkServerIdentity(name, peerCert) === undefined) return undefined;
        return new Error(
          `the server's certificate is not valid for any of ${s.serverNames.join(", ")} (verify_server_hostname)`,
        );
      },
    },
  };
}
