/**
 * `tls ca create` and `tls cert create`: as `consul tls …` (command/tls/ca/create, command/tls/cert/create), they
 * write a CA or a certificate and its key into the current directory under Consul's file names, never over an
 * existing file, keys 0600. Texts are Consul's, word for word.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { goFileError } from "../../client/index.js";
import { errorText } from "../../util/errors.js";
import { flag } from "../../util/flags.js";
import type { CertKind, PemPair } from "../../util/tls-generate.js";
import { type Command, type CommandIO, err, out, parseOrExit, usage } from "../command.js";

const caFlags = {
  days: flag.int(1825, "Provide number of days the CA is valid for from now on. Defaults to 5 years."),
  "name-constraint": flag.bool(
    false,
    "Add name constraints for the CA. Results in rejecting certificates for other DNS than specified. If turned " +
      "on localhost and -domain will be added to the allowed DNS. If the UI is going to be served over HTTPS its " +
      "DNS has to be added with -additional-constraint. It is not possible to add that after the fact! Defaults " +
      "to false.",
  ),
  domain: flag.string(
    "consul",
    "Domain of consul cluster. Only used in combination with -name-constraint. Defaults to consul.",
  ),
  "additional-name-constraint": flag.list(
    "Add name constraints for the CA. Results in rejecting certificates for other DNS than specified. Can be " +
      "used multiple times. Only used in combination with -name-constraint.",
  ),
  "common-name": flag.string("", "Common Name of CA. Defaults to Consul Agent CA."),
} as const;

const caHelp = usage(
  `Usage: cairn tls ca create [options]

  Create a new consul CA:

  $ cairn tls ca create
  ==> Saved consul-agent-ca.pem
  ==> Saved consul-agent-ca-key.pem`,
  caFlags,
);

/** Loaded on use: X.509 and its reflect-metadata polyfill would add to every other command's start-up. */
const generator = () => import("../../util/tls-generate.js");

/** The directory a command writes into: the process's working directory, as Consul's relative file names. */
const here = (): string => process.cwd();

export const tlsCaCreate: Command = {
  help: caHelp,
  async run(argv, io) {
    const parsed = parseOrExit(caFlags, argv, io, caHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.days <= 0) {
      err(io, "Please provide a positive number of -days");
      return 1;
    }
    const g = await generator();
    const names = g.caFileNames(v.domain);
    for (const f of [names.cert, names.key]) {
      if (existsSync(join(here(), f))) {
        err(io, `${f} already exists.`);
        return 1;
      }
    }
    const constraints = v["name-constraint"]
      ? [...v["additional-name-constraint"], v.domain, "localhost"]
      : [];
    try {
      const ca = await g.generateCa({
        days: v.days,
        permittedDnsDomains: constraints,
        commonName: v["common-name"],
      });
      await savePair(io, names, ca);
    } catch (e) {
      err(io, existsText(e) ?? errorText(e));
      return 1;
    }
    return 0;
  },
};

const certFlags = {
  ca: flag.string("#DOMAIN#-agent-ca.pem", "Provide path to the ca. Defaults to #DOMAIN#-agent-ca.pem."),
  key: flag.string(
    "#DOMAIN#-agent-ca-key.pem",
    "Provide path to the key. Defaults to #DOMAIN#-agent-ca-key.pem.",
  ),
  server: flag.bool(false, "Generate server certificate."),
  client: flag.bool(false, "Generate client certificate."),
  cli: flag.bool(false, "Generate cli certificate."),
  node: flag.string(
    "",
    "When generating a server cert and this is set an additional dns name is included of the form " +
      "<node>.server.<datacenter>.<domain>.",
  ),
  days: flag.int(365, "Provide number of days the certificate is valid for from now on. Defaults to 1 year."),
  dc: flag.string("dc1", "Provide the datacenter. Matters only for -server certificates. Defaults to dc1."),
  domain: flag.string("consul", "Provide the domain. Matters only for -server certificates."),
  "additional-dnsname": flag.list(
    "Provide an additional dnsname for Subject Alternative Names. localhost is always included. This flag may " +
      "be provided multiple times.",
  ),
  "additional-ipaddress": flag.list(
    "Provide an additional ipaddress for Subject Alternative Names. 127.0.0.1 is always included. This flag " +
      "may be provided multiple times.",
  ),
} as const;

const certHelp = usage(
  `Usage: cairn tls cert create [options]

  Create a new certificate

  $ cairn tls cert create -server
  ==> WARNING: Server Certificates grants authority to become a
      server and access all state in the cluster including root keys
      and all ACL tokens. Do not distribute them to production hosts
      that are not server nodes. Store them as securely as CA keys.
  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
  ==> Saved dc1-server-consul-0.pem
  ==> Saved dc1-server-consul-0-key.pem
  $ cairn tls cert create -client
  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
  ==> Saved dc1-client-consul-0.pem
  ==> Saved dc1-client-consul-0-key.pem`,
  certFlags,
);

const SERVER_WARNING = `==> WARNING: Server Certificates grants authority to become a
    server and access all state in the cluster including root keys
    and all ACL tokens. Do not distribute them to production hosts
    that are not server nodes. Store them as securely as CA keys.`;

/** The first `<prefix>-<n>.pem` whose certificate and key names are both free (Consul's search, up to 10000). */
function freeCertNames(prefix: string, max: number): { cert: string; key: string } | undefined {
  for (let i = 0; i <= max; i++) {
    const cert = `${prefix}-${i}.pem`;
    const key = `${prefix}-${i}-key.pem`;
    if (!existsSync(join(here(), cert)) && !existsSync(join(here(), key))) return { cert, key };
  }
  return undefined;
}

export const tlsCertCreate: Command = {
  help: certHelp,
  async run(argv, io) {
    const parsed = parseOrExit(certFlags, argv, io, certHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.ca === "") {
      err(io, "Please provide the ca");
      return 1;
    }
    if (v.key === "") {
      err(io, "Please provide the key");
      return 1;
    }
    const kinds: CertKind[] = [];
    if (v.server) kinds.push("server");
    if (v.client) kinds.push("client");
    if (v.cli) kinds.push("cli");
    const kind = kinds.length === 1 ? kinds[0] : undefined;
    if (kind === undefined) {
      err(io, "Please provide either -server, -client, or -cli");
      return 1;
    }
    if (v.node !== "" && kind !== "server") {
      err(io, "-node requires -server");
      return 1;
    }
    if (v.days <= 0) {
      err(io, "Please provide a positive number of -days");
      return 1;
    }
    const g = await generator();
    const names = freeCertNames(g.certFilePrefix(kind, v.dc, v.domain), g.CERT_NUMBER_MAX);
    if (names === undefined) {
      err(io, "Could not find a filename that doesn't already exist");
      return 1;
    }
    const caFile = v.ca.replace("#DOMAIN#", v.domain);
    const keyFile = v.key.replace("#DOMAIN#", v.domain);
    let caPem: string;
    let caKeyPem: string;
    try {
      caPem = readFileSync(join(here(), caFile), "utf8");
    } catch (e) {
      err(io, `Error reading CA: ${goFileError(caFile, e)}`);
      return 1;
    }
    try {
      caKeyPem = readFileSync(join(here(), keyFile), "utf8");
    } catch (e) {
      err(io, `Error reading CA key: ${goFileError(keyFile, e)}`);
      return 1;
    }
    if (kind === "server") out(io, SERVER_WARNING);
    out(io, `==> Using ${caFile} and ${keyFile}`);
    try {
      const issued = await g.generateCert({
        kind,
        datacenter: v.dc,
        domain: v.domain,
        days: v.days,
        node: v.node,
        additionalDnsNames: v["additional-dnsname"],
        additionalIpAddresses: v["additional-ipaddress"],
        ca: { certPem: caPem, keyPem: caKeyPem },
      });
      await savePair(io, names, issued);
    } catch (e) {
      err(io, existsText(e) ?? errorText(e));
      return 1;
    }
    return 0;
  },
};

/** The certificate, then its key (0600), each announced as Consul's `==> Saved <name>`. */
async function savePair(io: CommandIO, names: { cert: string; key: string }, pair: PemPair): Promise<void> {
  const { writeNewFile } = await generator();
  await writeNewFile(join(here(), names.cert), pair.certPem, 0o644);
  out(io, `==> Saved ${names.cert}`);
  await writeNewFile(join(here(), names.key), pair.keyPem, 0o600);
  out(io, `==> Saved ${names.key}`);
}

/** A file that appeared between the check and the write (another process): Consul's "already exists." text. */
function existsText(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null || (e as { code?: unknown }).code !== "EEXIST") return undefined;
  const dest = (e as { dest?: unknown }).dest;
  return typeof dest === "string" ? `${dest.slice(here().length + 1)} already exists.` : undefined;
}
