/**
 * Answers one question from the catalog and health reads of a ServerApi, as Consul's DNS server does
 * (agent/dns.go; docs services/discovery/dns-static-lookups): service lookups return the instances without a
 * critical check (with `only_passing`, without a warning one either), shuffled; SRV targets are
 * `<node>.node.<dc>.<domain>` (or `<hex>.addr.<dc>.<domain>` for an instance's own address) with the addresses in
 * the additional section; an unknown name is NXDOMAIN with the zone's SOA in the authority section.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { Answer, Question, SrvData } from "dns-packet";
import type { QueryOptions, ServerApi } from "../api/types.js";
import type { ServiceEntryJson } from "../fsm/catalog-types.js";
import { type DnsConfig, serviceTtlOf } from "./config.js";
import { ipToHex, type Lookup, parseName } from "./names.js";

export type Rcode = "NOERROR" | "FORMERR" | "SERVFAIL" | "NXDOMAIN" | "NOTIMP" | "REFUSED";

export interface Reply {
  readonly rcode: Rcode;
  readonly answers: Answer[];
  readonly authorities: Answer[];
  readonly additionals: Answer[];
}

/** An answer with nothing but its rcode. */
export const bare = (rcode: Rcode): Reply => ({ rcode, answers: [], authorities: [], additionals: [] });

/** Consul's SOA defaults (dns_config.soa: refresh 3600, retry 600, expire 86400, min_ttl 0). */
const SOA = { refresh: 3600, retry: 600, expire: 86400, minimum: 0 };

export class DnsAnswerer {
  constructor(
    private readonly api: ServerApi,
    private readonly cfg: DnsConfig,
    /** Unix seconds, for the SOA serial (Consul uses the time of the answer). */
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
    /** Shuffles the instances of a service answer in place. */
    private readonly shuffle: <T>(xs: T[]) => void = fisherYates,
  ) {}

  async answer(q: Question): Promise<Reply> {
    const name = q.name.toLowerCase().replace(/\.$/, "");
    const d = this.cfg.domain;
    // Outside the domain, with no recursors: REFUSED, as Consul's router answers unmatched queries.
    if (name !== d && !name.endsWith(`.${d}`)) return bare("REFUSED");
    if ((q.class ?? "IN") !== "IN" && q.class !== "ANY") return this.nxdomain();
    // Consul's handleQuery answers SOA and NS questions for any name of the domain with the zone's own records.
    if (q.type === "SOA") {
      const ns = await this.nameservers();
      return { rcode: "NOERROR", answers: [this.soa()], authorities: ns.ns, additionals: ns.glue };
    }
    if (q.type === "NS") {
      const ns = await this.nameservers();
      return { rcode: "NOERROR", answers: ns.ns, authorities: [], additionals: ns.glue };
    }
    if (q.type === "AXFR") return bare("NOTIMP");
    const lookup = parseName(q.name, q.type, d, this.api.datacenter);
    if (lookup === null) return this.nxdomain();
    if (lookup.datacenter !== this.api.datacenter) return this.nxdomain();
    switch (lookup.kind) {
      case "addr":
        return this.addr(q, lookup.ip);
      case "node":
        return this.node(q, lookup.node);
      case "service":
        return this.service(q, lookup);
    }
  }

  /** Up to 3 servers (the `consul` service's healthy instances, shuffled) as NS records, their addresses as glue. */
  private async nameservers(): Promise<{ ns: Answer[]; glue: Answer[] }> {
    const got = await this.api.healthService("consul", [], false, this.query());
    const see = await this.visible();
    const servers = got.value.filter((e) => healthy(e, false) && see.instance(e));
    this.shuffle(servers);
    const ns: Answer[] = [];
    const glue: Answer[] = [];
    for (const e of servers.slice(0, 3)) {
      const fqdn = `${e.Node.Node}.node.${this.api.datacenter}.${this.cfg.domain}`.toLowerCase();
      ns.push({ name: this.cfg.domain, type: "NS", ttl: this.cfg.nodeTtl, data: fqdn });
      const rr = addressRecord(fqdn, e.Node.Address, this.cfg.nodeTtl);
      if (rr !== null) glue.push(rr);
    }
    return { ns, glue };
  }

  /**
   * What DNS may answer: Consul's DNS server asks its RPCs with the agent's default token (else the anonymous
   * token), whose results are ACL-filtered like any read: a node needs node:read, an instance its node's and its
   * service's read. With default_policy deny and no such grant, names are NXDOMAIN.
   */
  private async visible(): Promise<{ node(name: string): boolean; instance(e: ServiceEntryJson): boolean }> {
    const { authorizer } = this.api.acl.resolve(undefined);
    const node = (name: string) => authorizer.check("node", "read", name) === "allow";
    return {
      node,
      instance: (e) =>
        node(e.Node.Node) && authorizer.check("service", "read", e.Service.Service) === "allow",
    };
  }

  soa(): Answer {
    const d = this.cfg.domain;
    return {
      name: d,
      type: "SOA",
      ttl: SOA.minimum,
      data: { mname: `ns.${d}`, rname: `hostmaster.${d}`, serial: this.nowSeconds() >>> 0, ...SOA },
    };
  }

  private nxdomain(): Reply {
    return { rcode: "NXDOMAIN", answers: [], authorities: [this.soa()], additionals: [] };
  }

  /** A name that exists without records of the asked type: NOERROR, no answers, the SOA for negative caching. */
  private empty(): Reply {
    return { rcode: "NOERROR", answers: [], authorities: [this.soa()], additionals: [] };
  }

  private addr(q: Question, ip: string): Reply {
    const rr = addressRecord(q.name, ip, this.cfg.nodeTtl);
    return rr !== null && wants(q.type, rr.type)
      ? { rcode: "NOERROR", answers: [rr], authorities: [], additionals: [] }
      : this.empty();
  }

  /**
   * A node's address, and its metadata as TXT records (RFC 1464): in the answer for TXT and ANY questions, else in
   * the additional section (`enable_additional_node_meta_txt`, default true), as Consul's nodeLookup.
   */
  private async node(q: Question, name: string): Promise<Reply> {
    const got = await this.api.catalogNodeServices(name, this.query());
    const node = got.value?.Node;
    if (node === undefined || !(await this.visible()).node(node.Node)) return this.nxdomain();
    const ttl = this.cfg.nodeTtl;
    const rr = addressRecord(q.name, node.Address, ttl);
    const answers = rr !== null && wants(q.type, rr.type) ? [rr] : [];
    const meta = metaTxt(q.name, node.Meta, ttl);
    // dns-packet decodes qtype 255 as "ANY", which its RecordType does not list.
    const qtype: string = q.type;
    const metaInAnswer = qtype === "TXT" || qtype === "ANY";
    if (metaInAnswer) answers.push(...meta);
    if (answers.length === 0) return this.empty();
    const additionals = !metaInAnswer && this.cfg.nodeMetaTxt ? meta : [];
    return { rcode: "NOERROR", answers, authorities: [], additionals };
  }

  private async service(q: Question, l: Extract<Lookup, { kind: "service" }>): Promise<Reply> {
    const tags = l.tag === "" ? [] : [l.tag];
    const got = await this.api.healthService(l.service, tags, this.cfg.onlyPassing, this.query());
    const see = await this.visible();
    const entries = got.value.filter((e) => healthy(e, this.cfg.onlyPassing) && see.instance(e));
    if (entries.length === 0) return this.nxdomain();
    this.shuffle(entries);
    const ttl = serviceTtlOf(this.cfg, l.service);
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      const address = e.Service.Address === "" ? e.Node.Address : e.Service.Address;
      if (q.type === "SRV") {
        const target = this.srvTarget(e, address);
        answers.push({ name: q.name, type: "SRV", ttl, data: srvData(e, target) });
        // A host-name target is resolved by the client itself: no glue for it.
        const rr = addressRecord(target, address, ttl);
        if (rr !== null && rr.type !== "CNAME" && !seen.has(target)) {
          additionals.push(rr);
          // A node target carries its node's metadata too, as Consul's serviceSRVRecords.
          if (this.cfg.nodeMetaTxt && address === e.Node.Address) {
            additionals.push(...metaTxt(target, e.Node.Meta, ttl));
          }
        }
        seen.add(target);
        continue;
      }
      const rr = addressRecord(q.name, address, ttl);
      // Consul answers each distinct address once (instances on one node share it).
      if (rr !== null && wants(q.type, rr.type) && !seen.has(address)) answers.push(rr);
      seen.add(address);
    }
    if (answers.length === 0) return this.empty();
    return { rcode: "NOERROR", answers, authorities: [], additionals };
  }

  private srvTarget(e: ServiceEntryJson, address: string): string {
    const dc = this.api.datacenter;
    const hex = address !== e.Node.Address ? ipToHex(address) : null;
    if (hex !== null) return `${hex}.addr.${dc}.${this.cfg.domain}`;
    if (address !== e.Node.Address) return address;
    return `${e.Node.Node}.node.${dc}.${this.cfg.domain}`;
  }

  private query(): QueryOptions {
    return { consistency: this.cfg.allowStale ? "stale" : "default", minIndex: 0, waitMs: 0 };
  }
}

/** Consul's CheckServiceNodes.Filter: critical (and maintenance) always out; warning out with only_passing. */
function healthy(e: ServiceEntryJson, onlyPassing: boolean): boolean {
  return e.Checks.every((c) => c.Status === "passing" || (!onlyPassing && c.Status === "warning"));
}

/** Consul's findWeight: Weights.Warning when the checks' aggregate is warning, else Weights.Passing. */
function srvData(e: ServiceEntryJson, target: string): SrvData {
  const warning = e.Checks.some((c) => c.Status === "warning");
  const w = e.Service.Weights;
  return { priority: 1, weight: warning ? w.Warning : w.Passing, port: e.Service.Port, target };
}

/** A, AAAA, or for anything that is not an IP address (Go's net.ParseIP) a CNAME, as Consul answers an address. */
function addressRecord(name: string, address: string, ttl: number): Answer | null {
  if (address === "") return null;
  if (isIPv4(address)) return { name, type: "A", ttl, data: address };
  if (isIPv6(address)) return { name, type: "AAAA", ttl, data: address };
  return { name, type: "CNAME", ttl, data: address };
}

/**
 * Node metadata as TXT records, by Consul's encodeKVasRFC1464: `key=value` with the key's backquotes, `=` and edge
 * spaces escaped; a `rfc1035-` key gives the value alone.
 */
export function metaTxt(name: string, meta: Readonly<Record<string, string>>, ttl: number): Answer[] {
  return Object.entries(meta).map(([key, value]) => {
    const txt = key.toLowerCase().startsWith("rfc1035-")
      ? value
      : `${rfc1464Key(key)}=${value.replaceAll("`", "``")}`;
    return { name, type: "TXT", ttl, data: txt };
  });
}

function rfc1464Key(key: string): string {
  const k = key.replaceAll("`", "``").replaceAll("=", "`=");
  return k.replace(/^ +/, (sp) => "` ".repeat(sp.length)).replace(/ +$/, (sp) => "` ".repeat(sp.length));
}

/** Whether an `rrtype` record answers a `qtype` question; a CNAME answers the types Consul's formatNodeRecord lists. */
function wants(qtype: string, rrtype: string): boolean {
  if (qtype === rrtype || qtype === "ANY") return true;
  return rrtype === "CNAME" && (qtype === "A" || qtype === "AAAA" || qtype === "TXT");
}

function fisherYates<T>(xs: T[]): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}
