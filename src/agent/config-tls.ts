/**
 * The agent's `tls` stanza, as Consul's (agent/config/builder.go, tlsutil/config.go): `tls.defaults` applies to
 * each protocol, `tls.https` and `tls.internal_rpc` override it key by key; `verify_server_hostname` (internal RPC
 * only) implies `verify_outgoing`. The files are read and checked at start, so a missing file, a key that is not
 * its certificate's or a verification without a CA stops the agent with a clear error instead of failing each
 * connection later.
 *
 * cairn's one difference: a server's internal RPC listener does not accept plain and TLS connections side by side
 * (Consul tells them apart by a first byte). Internal RPC is TLS, both ways, exactly when `verify_incoming` or
 * `verify_outgoing` (after defaults) is on; every server of a datacenter must agree.
 */
import { createPrivateKey, X509Certificate as NodeX509Certificate } from "node:crypto";
import { join } from "node:path";
import { errorText } from "../util/errors.js";
import { AgentConfigError, type AgentHost, type Layer } from "./config-types.js";

/** Where a protocol's certificates come from, and what it verifies. Paths are as configured ("" = not set). */
export interface TlsProtocol {
  readonly caFile: string;
  readonly caPath: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly verifyIncoming: boolean;
  readonly verifyOutgoing: boolean;
  /** The PEM of every CA certificate (ca_file, or each file of ca_path); empty when neither is set. */
  readonly ca: readonly string[];
  /** The certificate and its key, PEM; absent when cert_file and key_file are not set. */
  readonly pair?: { readonly cert: string; readonly key: string };
}

export interface AgentTls {
  readonly https: TlsProtocol;
  readonly internalRpc: TlsProtocol & { readonly verifyServerHostname: boolean };
}

const SECTIONS = ["defaults", "https", "internal_rpc"] as const;
const FILE_KEYS = ["ca_file", "ca_path", "cert_file", "key_file"] as const;
const BOOL_KEYS = ["verify_incoming", "verify_outgoing"] as const;

/**
 * Consul's top-level keys from before the `tls` stanza (deprecated in 1.12, still read), and the key each stands
 * for; the stanza's own key, or its `defaults` key, wins when set (builder.go's deprecated-key mapping).
 */
const LEGACY: Readonly<Record<string, string>> = {
  ca_file: "tls.defaults.ca_file",
  ca_path: "tls.defaults.ca_path",
  cert_file: "tls.defaults.cert_file",
  key_file: "tls.defaults.key_file",
  verify_incoming: "tls.defaults.verify_incoming",
  verify_outgoing: "tls.defaults.verify_outgoing",
  verify_server_hostname: "tls.internal_rpc.verify_server_hostname",
  verify_incoming_rpc: "tls.internal_rpc.verify_incoming",
  verify_incoming_https: "tls.https.verify_incoming",
};

/** The config-file keys of the `tls` stanza and their legacy top-level names, each read into Layer.tls by path. */
export function tlsFileSchema<F>(entry: (kind: "bool" | "string") => F): Record<string, F> {
  const schema: Record<string, F> = {};
  for (const s of SECTIONS) {
    for (const k of FILE_KEYS) schema[`tls.${s}.${k}`] = entry("string");
    for (const k of BOOL_KEYS) schema[`tls.${s}.${k}`] = entry("bool");
  }
  schema["tls.internal_rpc.verify_server_hostname"] = entry("bool");
  for (const [legacy, path] of Object.entries(LEGACY)) {
    schema[legacy] = entry(path.endsWith("_file") || path.endsWith("_path") ? "string" : "bool");
  }
  return schema;
}

type Settings = Readonly<Record<string, string | boolean>>;

/** The value at a `tls.…` path, else at the legacy key that stands for it. */
function setting(t: Settings, path: string): string | boolean | undefined {
  const legacy = Object.keys(LEGACY).find((k) => LEGACY[k] === path);
  return t[path] ?? (legacy === undefined ? undefined : t[legacy]);
}

/** A protocol's value of `key`: its own if set, else the defaults' (Consul's builder mapping). */
function pick(t: Settings, section: "https" | "internal_rpc", key: string): string | boolean | undefined {
  return setting(t, `tls.${section}.${key}`) ?? setting(t, `tls.defaults.${key}`);
}

/** Resolves and loads the `tls` stanza. Throws AgentConfigError naming the setting and file at fault. */
export function resolveTls(l: Layer, host: AgentHost): AgentTls {
  const t: Settings = l.tls ?? {};
  const https = protocol(t, "https", host, false);
  const verifyServerHostname = setting(t, "tls.internal_rpc.verify_server_hostname") === true;
  const internalRpc = { ...protocol(t, "internal_rpc", host, verifyServerHostname), verifyServerHostname };
  if ((internalRpc.verifyIncoming || internalRpc.verifyOutgoing) && internalRpc.pair === undefined) {
    // Consul can dial out with TLS and no certificate; cairn's servers verify each other both ways.
    throw new AgentConfigError(
      "tls.internal_rpc: verify_incoming or verify_outgoing is set, and no Cert/Key pair provided! " +
        "(servers speak mutual TLS to each other: set cert_file and key_file)",
    );
  }
  return { https, internalRpc };
}

function protocol(
  t: Settings,
  section: "https" | "internal_rpc",
  host: AgentHost,
  impliesOutgoing: boolean,
): TlsProtocol {
  const str = (k: string): string => {
    const v = pick(t, section, k);
    return typeof v === "string" ? v : "";
  };
  const caFile = str("ca_file");
  const caPath = str("ca_path");
  const certFile = str("cert_file");
  const keyFile = str("key_file");
  const verifyIncoming = pick(t, section, "verify_incoming") === true;
  const verifyOutgoing = pick(t, section, "verify_outgoing") === true || impliesOutgoing;
  const at = `tls.${section}`;
  const ca = loadCa(at, caFile, caPath, host);
  const pair = loadPair(at, certFile, keyFile, host);
  // Consul's texts (tlsutil/config.go check), after the protocol's name.
  if (verifyOutgoing && ca.length === 0) {
    throw new AgentConfigError(`${at}: VerifyOutgoing set, and no CA certificate provided!`);
  }
  if (verifyIncoming && ca.length === 0) {
    throw new AgentConfigError(`${at}: VerifyIncoming set, and no CA certificate provided!`);
  }
  if (verifyIncoming && pair === undefined) {
    throw new AgentConfigError(`${at}: VerifyIncoming set, and no Cert/Key pair provided!`);
  }
  const base = { caFile, caPath, certFile, keyFile, verifyIncoming, verifyOutgoing, ca };
  return pair === undefined ? base : { ...base, pair };
}

function readPem(at: string, key: string, path: string, host: AgentHost): string {
  try {
    return host.readFile(path);
  } catch (e) {
    throw new AgentConfigError(`${at}.${key}: cannot read ${path}: ${errorText(e)}`);
  }
}

/** ca_file wins over ca_path, as Consul's rootcerts; each must hold at least one certificate. */
function loadCa(at: string, caFile: string, caPath: string, host: AgentHost): string[] {
  const files: [string, string][] = [];
  if (caFile !== "") files.push(["ca_file", caFile]);
  else if (caPath !== "") {
    let names: string[];
    try {
      names = host.readDir(caPath);
    } catch (e) {
      throw new AgentConfigError(`${at}.ca_path: cannot read ${caPath}: ${errorText(e)}`);
    }
    for (const n of [...names].sort())
      if (n.endsWith(".pem") || n.endsWith(".crt")) files.push(["ca_path", join(caPath, n)]);
    if (files.length === 0)
      throw new AgentConfigError(`${at}.ca_path: no certificate file (.pem, .crt) in ${caPath}`);
  }
  return files.map(([key, path]) => {
    const pem = readPem(at, key, path, host);
    try {
      new NodeX509Certificate(pem);
    } catch (e) {
      throw new AgentConfigError(`${at}.${key}: ${path} is not a PEM certificate: ${errorText(e)}`);
    }
    return pem;
  });
}

/** Go's tls.LoadX509KeyPair, with Consul's prefix: both files, a certificate, and the key that is its own. */
function loadPair(
  at: string,
  certFile: string,
  keyFile: string,
  host: AgentHost,
): { cert: string; key: string } | undefined {
  if (certFile === "" && keyFile === "") return undefined;
  if (certFile === "" || keyFile === "") {
    throw new AgentConfigError(`${at}: cert_file and key_file must be set together`);
  }
  const cert = readPem(at, "cert_file", certFile, host);
  const key = readPem(at, "key_file", keyFile, host);
  const failed = (why: string) => new AgentConfigError(`${at}: Failed to load cert/key pair: ${why}`);
  let x: NodeX509Certificate;
  try {
    x = new NodeX509Certificate(cert);
  } catch (e) {
    throw failed(`${certFile}: ${errorText(e)}`);
  }
  let match: boolean;
  try {
    match = x.checkPrivateKey(createPrivateKey(key));
  } catch (e) {
    throw failed(`${keyFile}: ${errorText(e)}`);
  }
  if (!match) throw failed("tls: private key does not match public key");
  return { cert, key };
}
