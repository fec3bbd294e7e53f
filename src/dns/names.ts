/**
 * What a query name asks for, read as Consul's DNS server reads it (agent/dns.go dispatch, and the DNS docs'
 * `services/discovery/dns-static-lookups`): the labels under the domain, right to left, give the lookup type
 * (`service`, `node`, `addr`), optionally followed by a datacenter label. Names are case-insensitive.
 */
import { isIPv4 } from "node:net";

export type Lookup =
  | { readonly kind: "service"; readonly service: string; readonly tag: string; readonly datacenter: string }
  | { readonly kind: "node"; readonly node: string; readonly datacenter: string }
  | { readonly kind: "addr"; readonly ip: string; readonly datacenter: string };

/**
 * The lookup `name` asks for, or null when it is not a name this server answers (NXDOMAIN). As Consul's dispatch:
 * the last label is the lookup type, else it is the datacenter (one label, optionally followed by `dc`, the newer
 * `<dc>.dc` form) and the type is the label before it. For SRV questions the `service` label of an RFC 2782 name is
 * optional (`_web._tcp.consul`).
 */
export function parseName(name: string, qtype: string, domain: string, datacenter: string): Lookup | null {
  const lower = name.toLowerCase().replace(/\.$/, "");
  // The domain itself names nothing (Consul's dispatch: no labels is an invalid name).
  if (!lower.endsWith(`.${domain}`)) return null;
  let labels = lower.slice(0, -(domain.length + 1)).split(".");
  if (labels.some((l) => l === "")) return null;
  let dc = datacenter;
  const withType = (ls: string[]) =>
    qtype === "SRV" && ls.at(-1)?.startsWith("_") ? [...ls, "service"] : ls;
  labels = withType(labels);
  if (!TYPES.has(labels.at(-1)!)) {
    // `<...>.<type>.<dc>` or `<...>.<type>.<dc>.dc`
    const cut = labels.length >= 3 && labels.at(-1) === "dc" && TYPES.has(labels.at(-3)!) ? 2 : 1;
    dc = labels.at(-cut)!;
    labels = withType(labels.slice(0, -cut));
    if (!TYPES.has(labels.at(-1) ?? "")) return null;
  }
  const type = labels.at(-1)!;
  const parts = labels.slice(0, -1);
  if (parts.length === 0) return null;
  return lookupOf(type, parts, dc);
}

const TYPES = new Set(["service", "node", "addr"]);

function lookupOf(type: string, parts: readonly string[], datacenter: string): Lookup | null {
  if (type === "node") return { kind: "node", node: parts.join("."), datacenter };
  if (type === "addr") {
    const ip = parts.length === 1 ? hexToIp(parts[0]!) : null;
    return ip === null ? null : { kind: "addr", ip, datacenter };
  }
  // RFC 2782: _<service>._<protocol or tag>; Consul reads "_tcp" as "any tag".
  if (parts.length === 2 && parts[0]!.startsWith("_") && parts[1]!.startsWith("_")) {
    const tag = parts[1]!.slice(1);
    const service = parts[0]!.slice(1);
    if (service === "" || tag === "") return null;
    return { kind: "service", service, tag: tag === "tcp" ? "" : tag, datacenter };
  }
  // `[<tag>.]<service>`: a tag may itself hold dots (Consul joins every label before the service).
  return { kind: "service", service: parts.at(-1)!, tag: parts.slice(0, -1).join("."), datacenter };
}

/** `<hex>.addr`: 8 hex digits an IPv4 address, 32 an IPv6 one (Consul's SRV targets for service addresses). */
export function ipToHex(ip: string): string | null {
  if (isIPv4(ip)) {
    return ip
      .split(".")
      .map((o) => Number(o).toString(16).padStart(2, "0"))
      .join("");
  }
  const groups = expandIPv6(ip);
  return groups === null ? null : groups.map((g) => g.padStart(4, "0")).join("");
}

function hexToIp(hex: string): string | null {
  if (/^[0-9a-f]{8}$/.test(hex)) {
    return [0, 2, 4, 6].map((i) => String(Number.parseInt(hex.slice(i, i + 2), 16))).join(".");
  }
  if (/^[0-9a-f]{32}$/.test(hex)) {
    return Array.from({ length: 8 }, (_, i) => hex.slice(i * 4, i * 4 + 4).replace(/^0+(?=.)/, "")).join(":");
  }
  return null;
}

function expandIPv6(ip: string): string[] | null {
  if (!ip.includes(":") || ip.includes(".")) return null;
  const [head, tail, ...rest] = ip.split("::");
  if (rest.length > 0) return null;
  const left = head === "" || head === undefined ? [] : head.split(":");
  const right = tail === undefined ? null : tail === "" ? [] : tail.split(":");
  const groups =
    right === null ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.map((g) => g.toLowerCase());
}
