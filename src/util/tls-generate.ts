/**
 * The certificates of `cairn tls ca create` and `cairn tls cert create`, made as Consul's tlsutil/generate.go makes
 * them: ECDSA P-256 keys written as SEC1 `EC PRIVATE KEY` PEM, a self-signed CA (key usages cert sign, CRL sign and
 * digital signature; optional critical DNS name constraints), and leaf certificates with digital signature and key
 * encipherment, Consul's extended key usages and its Subject Alternative Names. X.509 encoding is @peculiar/x509
 * over node:crypto's WebCrypto; PEM key conversion is node:crypto's KeyObject.
 *
 * Files are written into a directory without ever replacing one: each goes to a temp name, is fsynced, then linked
 * to its final name (link fails with EEXIST where rename would overwrite), so a name that exists is always complete.
 */
import "reflect-metadata";
import {
  createPrivateKey,
  X509Certificate as NodeX509Certificate,
  randomBytes,
  webcrypto,
} from "node:crypto";
import { existsSync } from "node:fs";
import { type FileHandle, link, open, unlink } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

// The cast: @peculiar/x509 types its provider with the DOM's Crypto, which this project's lib (es2023, no DOM) lacks;
// node:crypto's webcrypto is that same Web Crypto API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** Bad input to the generator (an unreadable CA or key); `message` is Consul's text where it has one. */
export class TlsGenerateError extends Error {
  override name = "TlsGenerateError";
}

export interface CaOptions {
  /** Validity from now, in days (Consul's default 1825). */
  readonly days: number;
  /** Permitted DNS domains, when name constraints are asked for (Consul: the additional ones, domain, localhost). */
  readonly permittedDnsDomains?: readonly string[];
  /** Consul's default: "Consul Agent CA <serial>". */
  readonly commonName?: string;
}

export type CertKind = "server" | "client" | "cli";

export interface CertOptions {
  readonly kind: CertKind;
  readonly datacenter: string;
  readonly domain: string;
  readonly days: number;
  /** With a server certificate: adds `<node>.server.<dc>.<domain>`. */
  readonly node?: string;
  readonly additionalDnsNames?: readonly string[];
  readonly additionalIpAddresses?: readonly string[];
  readonly ca: PemPair;
}

export interface IssuedCert extends PemPair {
  /** The certificate's common name: `server.<dc>.<domain>`, `client.…` or `cli.…`. */
  readonly name: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/** A positive serial below 2^127 (Consul draws below 2^128; the top bit clear keeps the DER integer positive). */
function serial(): { hex: string; decimal: string } {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  const hex = b.toString("hex");
  return { hex, decimal: BigInt(`0x${hex}`).toString(10) };
}

async function newKeyPair(): Promise<{ keys: webcrypto.CryptoKeyPair; pem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const pem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({
    type: "sec1",
    format: "pem",
  });
  return { keys, pem: String(pem) };
}

/** Consul's ParseSigner: the first PEM block must be an `EC PRIVATE KEY`. */
async function parseSigner(pem: string): Promise<webcrypto.CryptoKey> {
  const block = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem);
  if (block === null) throw new TlsGenerateError("no PEM-encoded data found");
  if (block[1] !== "EC PRIVATE KEY") {
    throw new TlsGenerateError(`unknown PEM block type for signing key: ${block[1]}`);
  }
  let pkcs8: Buffer;
  try {
    pkcs8 = createPrivateKey(pem).export({ type: "pkcs8", format: "der" });
  } catch (e) {
    throw new TlsGenerateError(`cannot parse the CA key: ${e instanceof Error ? e.message : String(e)}`);
  }
  return webcrypto.subtle.importKey("pkcs8", pkcs8, EC_P256, false, ["sign"]);
}

/** Consul's parseCert: the first PEM block must be a CERTIFICATE. */
function parseCert(pem: string): x509.X509Certificate {
  const block = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem);
  if (block === null) throw new TlsGenerateError("no PEM-encoded data found");
  if (block[1] !== "CERTIFICATE") throw new TlsGenerateError("first PEM-block should be CERTIFICATE type");
  try {
    return new x509.X509Certificate(pem);
  } catch (e) {
    throw new TlsGenerateError(
      `cannot parse the CA certificate: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** DER of NameConstraints { permittedSubtrees [0] { GeneralSubtree { dNSName } … } } (RFC 5280 §4.2.1.10). */
function nameConstraintsDer(domains: readonly string[]): Uint8Array {
  const tlv = (tag: number, body: Uint8Array): Uint8Array => {
    const n = body.length;
    const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
    return Uint8Array.from([tag, ...len, ...body]);
  };
  const concat = (parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
  const subtrees = domains.map((d) => tlv(0x30, tlv(0x82, new TextEncoder().encode(d))));
  return tlv(0x30, tlv(0xa0, concat(subtrees)));
}

/** A self-signed CA as Consul's GenerateCA makes it. */
export async function generateCa(o: CaOptions): Promise<PemPair> {
  const { keys, pem } = await newKeyPair();
  const sn = serial();
  const now = Date.now();
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    ski,
    new x509.AuthorityKeyIdentifierExtension(ski.keyId),
  ];
  const permitted = o.permittedDnsDomains ?? [];
  if (permitted.length > 0) {
    extensions.push(new x509.Extension("2.5.29.30", true, nameConstraintsDer(permitted)));
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: sn.hex,
    name: [{ CN: [o.commonName || `Consul Agent CA ${sn.decimal}`] }],
    notBefore: new Date(now),
    notAfter: new Date(now + o.days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions,
  });
  return { certPem: cert.toString("pem"), keyPem: pem };
}

/** The common name and SANs Consul's `tls cert create` gives each kind (command/tls/cert/create). */
export function certNames(o: Omit<CertOptions, "ca" | "days">): {
  name: string;
  dnsNames: string[];
  ipAddresses: string[];
  extKeyUsages: x509.ExtendedKeyUsage[];
} {
  const dnsNames = (o.additionalDnsNames ?? []).filter((d) => d !== "").map((d) => d.trim());
  const ipAddresses = (o.additionalIpAddresses ?? []).filter((i) => i !== "").map((i) => i.trim());
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) throw new TlsGenerateError(`invalid IP address: ${ip}`);
  }
  const name = `${o.kind}.${o.datacenter}.${o.domain}`;
  const { serverAuth, clientAuth } = x509.ExtendedKeyUsage;
  if (o.kind === "server") {
    if (o.node !== undefined && o.node !== "") dnsNames.push(`${o.node}.server.${o.datacenter}.${o.domain}`);
    dnsNames.push(name, "localhost");
    ipAddresses.push("127.0.0.1");
    return { name, dnsNames, ipAddresses, extKeyUsages: [serverAuth, clientAuth] };
  }
  if (o.kind === "client") {
    dnsNames.push(name, "localhost");
    ipAddresses.push("127.0.0.1");
    return { name, dnsNames, ipAddresses, extKeyUsages: [clientAuth, serverAuth] };
  }
  // Consul's -cli certificate: its name and localhost only, no IP, no extended key usage.
  return { name, dnsNames: [name, "localhost"], ipAddresses: [], extKeyUsages: [] };
}

/** A certificate signed by the CA, as Consul's GenerateCert, then checked against the CA as Consul's Verify. */
export async function generateCert(o: CertOptions): Promise<IssuedCert> {
  const caCert = parseCert(o.ca.certPem);
  const signingKey = await parseSigner(o.ca.keyPem);
  const { name, dnsNames, ipAddresses, extKeyUsages } = certNames(o);
  const { keys, pem } = await newKeyPair();
  const now = Date.now();
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (caSki !== null) extensions.push(new x509.AuthorityKeyIdentifierExtension(caSki.keyId));
  if (extKeyUsages.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(extKeyUsages));
  const sans = [
    ...dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial().hex,
    subject: [{ CN: [name] }],
    issuer: caCert.subject,
    notBefore: new Date(now),
    notAfter: new Date(now + o.days * DAY_MS),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: SIGNING,
    extensions,
  });
  const certPem = cert.toString("pem");
  verifyIssued(caCert, o.ca.certPem, certPem, dnsNames);
  return { certPem, keyPem: pem, name, dnsNames, ipAddresses };
}

/**
 * Consul's Verify: the new certificate chains to the CA, carries its name, and every DNS name is one the CA's
 * name constraints permit (node:crypto checks neither constraints nor chains, so they are checked here).
 */
function verifyIssued(
  caCert: x509.X509Certificate,
  caPem: string,
  certPem: string,
  names: readonly string[],
): void {
  const ca = new NodeX509Certificate(caPem);
  const cert = new NodeX509Certificate(certPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new TlsGenerateError("x509: certificate signed by unknown authority");
  }
  const constraints = caCert.getExtension("2.5.29.30");
  if (constraints === null) return;
  const permitted = permittedDnsDomains(new Uint8Array(constraints.value));
  for (const n of names) {
    const ok = permitted.some((d) => n === d || n.endsWith(`.${d.replace(/^\./, "")}`));
    if (!ok) {
      throw new TlsGenerateError(
        `x509: a root or intermediate certificate is not authorized to sign for this name: DNS name "${n}" is not permitted by any constraint`,
      );
    }
  }
}

/** The dNSName entries of NameConstraints' permittedSubtrees (the form generateCa writes; other forms ignored). */
function permittedDnsDomains(der: Uint8Array): string[] {
  /** One TLV at `at`: its tag, and where its body starts and ends. */
  const tlv = (at: number): { tag: number; start: number; end: number } => {
    const tag = der[at] ?? 0;
    let len = der[at + 1] ?? 0;
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | (der[start + i] ?? 0);
      start += n;
    }
    return { tag, start, end: start + len };
  };
  const out: string[] = [];
  const seq = tlv(0);
  for (let at = seq.start; at < seq.end; ) {
    const part = tlv(at);
    if (part.tag === 0xa0) {
      for (let s = part.start; s < part.end; ) {
        const subtree = tlv(s);
        const base = tlv(subtree.start);
        if (base.tag === 0x82) out.push(new TextDecoder().decode(der.subarray(base.start, base.end)));
        s = subtree.end;
      }
    }
    at = part.end;
  }
  return out;
}

/** Consul's file names: `<domain>-agent-ca.pem` and its `-key.pem`. */
export function caFileNames(domain: string): { cert: string; key: string } {
  return { cert: `${domain}-agent-ca.pem`, key: `${domain}-agent-ca-key.pem` };
}

/** Consul's prefix of a certificate's files: `<dc>-<kind>-<domain>`, then `-<n>.pem` and `-<n>-key.pem`. */
export function certFilePrefix(kind: CertKind, datacenter: string, domain: string): string {
  return `${datacenter}-${kind}-${domain}`;
}

/** Consul's bound on the number searched for a free certificate name. */
export const CERT_NUMBER_MAX = 10_000;

/**
 * Writes `data` as `path` (mode `mode`), never replacing a file: EEXIST if `path` exists, and `path` appears only
 * complete and fsynced.
 */
export async function writeNewFile(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, "wx", mode);
    await fh.chmod(mode); // the umask may have taken bits off; a key must be exactly 0600
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await link(tmp, path);
  } finally {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
  }
}

/** Where `writeTlsSetup` put its files, as absolute paths. */
export interface TlsSetupFiles {
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
}

/**
 * A CA, one server certificate and one client certificate in `dir`, named as `cairn tls ca create`, `tls cert
 * create -server` and `-client` name them (what `npm start -- --secure` and the tests need). Refuses, changing
 * nothing more, if any of those files exists.
 */
export async function writeTlsSetup(
  dir: string,
  o: { datacenter?: string; domain?: string; days?: number; additionalDnsNames?: readonly string[] } = {},
): Promise<TlsSetupFiles> {
  const datacenter = o.datacenter ?? "dc1";
  const domain = o.domain ?? "consul";
  const days = o.days ?? 365;
  const ca = await generateCa({ days: 1825 });
  const server = await generateCert({
    kind: "server",
    datacenter,
    domain,
    days,
    ca,
    additionalDnsNames: o.additionalDnsNames ?? [],
  });
  const client = await generateCert({ kind: "client", datacenter, domain, days, ca });
  const caNames = caFileNames(domain);
  const files: TlsSetupFiles = {
    caFile: join(dir, caNames.cert),
    caKeyFile: join(dir, caNames.key),
    certFile: join(dir, `${certFilePrefix("server", datacenter, domain)}-0.pem`),
    keyFile: join(dir, `${certFilePrefix("server", datacenter, domain)}-0-key.pem`),
    clientCertFile: join(dir, `${certFilePrefix("client", datacenter, domain)}-0.pem`),
    clientKeyFile: join(dir, `${certFilePrefix("client", datacenter, domain)}-0-key.pem`),
  };
  const taken = Object.values(files).find((f) => existsSync(f));
  if (taken !== undefined) throw new TlsGenerateError(`${taken} already exists.`);
  await writeNewFile(files.caFile, ca.certPem, 0o644);
  await writeNewFile(files.caKeyFile, ca.keyPem, 0o600);
  await writeNewFile(files.certFile, server.certPem, 0o644);
  await writeNewFile(files.keyFile, server.keyPem, 0o600);
  await writeNewFile(files.clientCertFile, client.certPem, 0o644);
  await writeNewFile(files.clientKeyFile, client.keyPem, 0o600);
  return files;
}
