import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import * as packet from "dns-packet";
import { MemoryServer } from "../api/memory-server.js";
import { parseRegister } from "../http/catalog-body.js";
import { DnsAnswerer } from "./answer.js";
import { DNS_DEFAULTS, type DnsConfig, serviceTtlOf } from "./config.js";
import { ipToHex, parseName } from "./names.js";
import { type RunningDns, startDnsServer } from "./server.js";

const body = (v: object): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** A node with one instance of `service`, its check in `status` (none when null), as a client registers it. */
async function register(
  api: MemoryServer,
  node: string,
  address: string,
  service: string,
  status: string | null,
  extra: { id?: string; tags?: string[]; port?: number; serviceAddress?: string; weights?: object } = {},
): Promise<void> {
  const id = extra.id ?? service;
  await api.catalogRegister(
    parseRegister(
      body({
        Node: node,
        Address: address,
        Service: {
          ID: id,
          Service: service,
          Tags: extra.tags ?? [],
          Port: extra.port ?? 8080,
          Address: extra.serviceAddress ?? "",
          ...(extra.weights === undefined ? {} : { Weights: extra.weights }),
        },
        ...(status === null
          ? {}
          : { Check: { CheckID: `check-${id}`, Name: "c", Status: status, ServiceID: id } }),
      }),
    ),
  );
}

async function serve(api: MemoryServer, cfg: Partial<DnsConfig> = {}): Promise<RunningDns> {
  return startDnsServer("127.0.0.1", 0, { api, config: { ...DNS_DEFAULTS, ...cfg } });
}

function resolverFor(dns: RunningDns): Resolver {
  // One try, a bounded timeout: a lost datagram fails the test rather than hanging it.
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`127.0.0.1:${dns.port}`]);
  return r;
}

/** One query over UDP, as the raw response (so flags, rcode and sections can be checked). */
function udpQuery(port: number, q: packet.Packet): Promise<packet.Packet> {
  return new Promise((resolve, reject) => {
    const sock = createSocket("udp4");
    const t = setTimeout(() => {
      sock.close();
      reject(new Error("no UDP answer within 2 s"));
    }, 2000);
    sock.once("message", (msg) => {
      clearTimeout(t);
      sock.close();
      resolve(packet.decode(msg));
    });
    sock.send(packet.encode(q), port, "127.0.0.1");
  });
}

/** One query over TCP (2-byte length framing). */
function tcpQuery(port: number, q: packet.Packet): Promise<packet.Packet> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error("no TCP answer within 2 s"));
    }, 2000);
    sock.on("error", reject);
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(t);
        sock.destroy();
        resolve(packet.streamDecode(buf));
      }
    });
    sock.write(packet.streamEncode(q));
  });
}

const query = (name: string, type: packet.RecordType, edns?: number): packet.Packet => ({
  id: 4242,
  type: "query",
  flags: packet.RECURSION_DESIRED,
  questions: [{ name, type }],
  ...(edns === undefined
    ? {}
    : { additionals: [{ type: "OPT", name: ".", udpPayloadSize: edns, ...EDNS0 }] }),
});

/** The OPT record's other fields, all zero: EDNS version 0, no flags, no options. */
const EDNS0 = { extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };

const sorted = (xs: readonly string[]) => [...xs].sort();
const rcodeOf = (p: packet.Packet) => (p.flags ?? 0) & 0xf;

describe("DNS interface", () => {
  const api = new MemoryServer();
  let dns: RunningDns;
  let r: Resolver;

  before(async () => {
    await register(api, "n1", "10.0.0.1", "web", "passing", { tags: ["v1"], port: 8081 });
    await register(api, "n2", "10.0.0.2", "web", "warning", { tags: ["v2"], port: 8082 });
    await register(api, "n3", "10.0.0.3", "web", "critical", { tags: ["v1"], port: 8083 });
    await register(api, "n4", "10.0.0.4", "web", "passing", {
      id: "web-own",
      port: 9090,
      serviceAddress: "10.1.0.5",
      weights: { Passing: 7, Warning: 2 },
    });
    await register(api, "n6", "fd00::6", "db", null, { port: 5432 });
    dns = await serve(api);
    r = resolverFor(dns);
  });
  after(() => dns.close());

  it("A: the instances without a critical check (passing and warning), each address once", async () => {
    assert.deepEqual(sorted(await r.resolve4("web.service.consul")), ["10.0.0.1", "10.0.0.2", "10.1.0.5"]);
  });

  it("AAAA of an IPv6 instance", async () => {
    assert.deepEqual(await r.resolve6("db.service.consul"), ["fd00::6"]);
  });

  it("SRV: node targets, or the hex .addr target of an instance's own address; weights", async () => {
    const srv = await r.resolveSrv("web.service.consul");
    const by = Object.fromEntries(srv.map((s) => [s.port, s]));
    assert.deepEqual(Object.keys(by).sort(), ["8081", "8082", "9090"]);
    assert.equal(by[8081]!.name, "n1.node.dc1.consul");
    assert.equal(by[8082]!.name, "n2.node.dc1.consul");
    assert.equal(by[9090]!.name, "0a010005.addr.dc1.consul");
    assert.equal(by[8081]!.priority, 1);
    assert.equal(by[9090]!.weight, 7);
    assert.deepEqual(await r.resolve4("0a010005.addr.dc1.consul"), ["10.1.0.5"]);
  });

  it("SRV answers carry the targets' addresses in the additional section", async () => {
    const res = await udpQuery(dns.port, query("web.service.consul", "SRV", 4096));
    const extra = (res.additionals ?? []).filter((a) => a.type === "A");
    assert.deepEqual(sorted(extra.map((a) => `${a.name} ${a.type === "A" ? a.data : ""}`)), [
      "0a010005.addr.dc1.consul 10.1.0.5",
      "n1.node.dc1.consul 10.0.0.1",
      "n2.node.dc1.consul 10.0.0.2",
    ]);
  });

  it("tags: <tag>.<service>, RFC 2782 _<service>._<tag> and _<service>._tcp", async () => {
    assert.deepEqual(await r.resolve4("v1.web.service.consul"), ["10.0.0.1"]);
    assert.deepEqual(
      (await r.resolveSrv("_web._v2.service.consul")).map((s) => s.port),
      [8082],
    );
    assert.equal((await r.resolveSrv("_web._tcp.service.consul")).length, 3);
  });

  it("the datacenter in the name, and case-insensitive names", async () => {
    assert.equal((await r.resolve4("web.service.dc1.consul")).length, 3);
    assert.equal((await r.resolve4("WEB.Service.DC1.Consul")).length, 3);
    assert.deepEqual(await r.resolve4("N1.node.consul"), ["10.0.0.1"]);
    assert.deepEqual(await r.resolve4("n2.node.dc1.consul"), ["10.0.0.2"]);
  });

  it("unknown names are NXDOMAIN with Consul's SOA in the authority section", async () => {
    await assert.rejects(r.resolve4("nope.service.consul"), { code: "ENOTFOUND" });
    await assert.rejects(r.resolve4("web.service.dc2.consul"), { code: "ENOTFOUND" });
    await assert.rejects(r.resolve4("ghost.node.consul"), { code: "ENOTFOUND" });
    await assert.rejects(r.resolve4("a.b.c.service.consul"), { code: "ENOTFOUND" });
    const res = await udpQuery(dns.port, query("nope.service.consul", "A"));
    assert.equal(res.id, 4242);
    assert.equal(rcodeOf(res), 3);
    assert.ok((res.flags ?? 0) & packet.AUTHORITATIVE_ANSWER);
    assert.ok((res.flags ?? 0) & packet.RECURSION_DESIRED, "RD is echoed");
    assert.deepEqual(res.answers, []);
    const soa = res.authorities?.[0];
    assert.ok(soa?.type === "SOA");
    assert.equal(soa.name, "consul");
    assert.equal(soa.ttl, 0);
    const { serial, ...rest } = soa.data;
    assert.ok((serial ?? 0) > 1_600_000_000, `serial ${serial} is the time of the answer`);
    assert.deepEqual(rest, {
      mname: "ns.consul",
      rname: "hostmaster.consul",
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 0,
    });
  });

  it("an only-critical service is NXDOMAIN; a known name without the asked type is NOERROR, empty", async () => {
    await register(api, "n7", "10.0.0.7", "down", "critical");
    await assert.rejects(r.resolve4("down.service.consul"), { code: "ENOTFOUND" });
    const res = await udpQuery(dns.port, query("web.service.consul", "AAAA"));
    assert.equal(rcodeOf(res), 0);
    assert.deepEqual(res.answers, []);
    assert.equal(res.authorities?.[0]?.type, "SOA");
  });

  it("a message that does not decode is FORMERR with its id", async () => {
    const res = await new Promise<Buffer>((resolve, reject) => {
      const sock = createSocket("udp4");
      const t = setTimeout(() => reject(new Error("no answer")), 2000);
      sock.once("message", (m) => {
        clearTimeout(t);
        sock.close();
        resolve(m);
      });
      sock.send(Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01]), dns.port, "127.0.0.1");
    });
    const p = packet.decode(res);
    assert.equal(p.id, 0x1234);
    assert.equal(rcodeOf(p), 1);
  });

  it("a host-name address is a CNAME, and an SRV target without glue", async () => {
    await register(api, "n8", "10.0.0.8", "ext", "passing", { serviceAddress: "db.example.com", port: 5433 });
    const a = await udpQuery(dns.port, query("ext.service.consul", "A"));
    assert.deepEqual(
      a.answers?.map((x) => [x.type, x.type === "CNAME" ? x.data : ""]),
      [["CNAME", "db.example.com"]],
    );
    const srv = await udpQuery(dns.port, query("ext.service.consul", "SRV"));
    assert.deepEqual(
      srv.answers?.map((x) => (x.type === "SRV" ? x.data : null)),
      [{ priority: 1, weight: 1, port: 5433, target: "db.example.com" }],
    );
    assert.deepEqual(srv.additionals, []);
  });

  it("an address that is not an IP is a CNAME, as Go's net.ParseIP decides", async () => {
    await register(api, "n9", "999.1.1.1", "odd", "passing");
    const res = await udpQuery(dns.port, query("odd.service.consul", "A"));
    assert.deepEqual(
      res.answers?.map((x) => [x.type, x.type === "CNAME" ? x.data : ""]),
      [["CNAME", "999.1.1.1"]],
    );
  });

  it("a failed read is SERVFAIL, and the server goes on answering", async () => {
    api.failNext = new Error("No cluster leader");
    await assert.rejects(r.resolve4("web.service.consul"), { code: "ESERVFAIL" });
    assert.equal((await r.resolve4("web.service.consul")).length, 3);
  });

  it("node metadata as RFC 1464 TXT records: answers for TXT, additional records for A and SRV", async () => {
    await api.catalogRegister(
      parseRegister(
        body({
          Node: "m1",
          Address: "10.0.0.21",
          NodeMeta: { rack: "r1", "rfc1035-raw": "as is", "a=b": "v`" },
          Service: { Service: "meta", Port: 1 },
        }),
      ),
    );
    const txt = await r.resolveTxt("m1.node.consul");
    assert.deepEqual(txt.map((t) => t.join("")).sort(), ["a`=b=v``", "as is", "rack=r1"]);
    const a = await udpQuery(dns.port, query("m1.node.consul", "A"));
    assert.deepEqual(
      a.answers?.map((x) => x.type),
      ["A"],
    );
    assert.equal(a.additionals?.filter((x) => x.type === "TXT").length, 3);
    const srv = await udpQuery(dns.port, query("meta.service.consul", "SRV"));
    assert.deepEqual(srv.additionals?.map((x) => `${x.name} ${x.type}`).sort(), [
      "m1.node.dc1.consul A",
      "m1.node.dc1.consul TXT",
      "m1.node.dc1.consul TXT",
      "m1.node.dc1.consul TXT",
    ]);
  });

  it("EDNS0: the answer carries an OPT record with the client's payload size", async () => {
    const res = await udpQuery(dns.port, query("web.service.consul", "A", 1400));
    const opt = res.additionals?.find((x) => x.type === "OPT");
    assert.equal(opt?.type === "OPT" ? opt.udpPayloadSize : undefined, 1400);
  });

  it("SOA and NS questions: the zone's SOA, and the healthy servers as name servers with glue", async () => {
    await register(api, "srv1", "10.0.0.50", "consul", "passing", { port: 8300 });
    await register(api, "srv2", "10.0.0.51", "consul", "critical", { port: 8300 });
    const ns = await udpQuery(dns.port, query("consul", "NS"));
    assert.equal(rcodeOf(ns), 0);
    assert.deepEqual(
      ns.answers?.map((x) => [x.name, x.type, x.type === "NS" ? x.data : ""]),
      [["consul", "NS", "srv1.node.dc1.consul"]],
    );
    assert.deepEqual(
      ns.additionals?.map((x) => [x.name, x.type === "A" ? x.data : ""]),
      [["srv1.node.dc1.consul", "10.0.0.50"]],
    );
    assert.deepEqual(await r.resolveNs("consul"), ["srv1.node.dc1.consul"]);
    // Any name of the domain: the zone's SOA in the answer, its name servers in the authority section.
    const soa = await udpQuery(dns.port, query("web.service.consul", "SOA"));
    assert.deepEqual(
      soa.answers?.map((x) => [x.name, x.type]),
      [["consul", "SOA"]],
    );
    assert.deepEqual(
      soa.authorities?.map((x) => x.type),
      ["NS"],
    );
    assert.equal((await r.resolveSoa("consul")).hostmaster, "hostmaster.consul");
  });

  it("the domain itself is NXDOMAIN for other types; AXFR is NOTIMP; other domains are REFUSED", async () => {
    const apex = await udpQuery(dns.port, query("consul", "A"));
    assert.equal(rcodeOf(apex), 3);
    const axfr = await tcpQuery(dns.port, query("consul", "AXFR"));
    assert.equal(rcodeOf(axfr), 4);
    const other = await udpQuery(dns.port, query("example.com", "A"));
    assert.equal(rcodeOf(other), 5);
    assert.equal((other.flags ?? 0) & packet.AUTHORITATIVE_ANSWER, 0, "a refusal is not authoritative");
    assert.deepEqual(other.authorities, []);
    await assert.rejects(r.resolve4("example.com"), { code: "EREFUSED" });
  });

  it("TCP answers too", async () => {
    const res = await tcpQuery(dns.port, query("web.service.consul", "A"));
    assert.equal(res.answers?.length, 3);
  });
});

describe("DNS interface: dns_config", () => {
  it("only_passing drops instances with a warning check", async () => {
    const api = new MemoryServer();
    await register(api, "n1", "10.0.0.1", "web", "passing");
    await register(api, "n2", "10.0.0.2", "web", "warning");
    const dns = await serve(api, { onlyPassing: true });
    try {
      assert.deepEqual(await resolverFor(dns).resolve4("web.service.consul"), ["10.0.0.1"]);
    } finally {
      await dns.close();
    }
  });

  it("service_ttl (exact, prefix*, *) and node_ttl; -domain", async () => {
    const api = new MemoryServer();
    await register(api, "n1", "10.0.0.1", "web", "passing");
    await register(api, "n2", "10.0.0.2", "webapp", "passing");
    await register(api, "n3", "10.0.0.3", "db", "passing");
    const cfg = { serviceTtl: { web: 30, "web*": 20, "*": 5 }, nodeTtl: 9, domain: "cairn.example" };
    const dns = await serve(api, cfg);
    try {
      const r = resolverFor(dns);
      const ttl = async (name: string) => (await r.resolve4(name, { ttl: true }))[0]?.ttl;
      assert.equal(await ttl("web.service.cairn.example"), 30);
      assert.equal(await ttl("webapp.service.cairn.example"), 20);
      assert.equal(await ttl("db.service.cairn.example"), 5);
      assert.equal(await ttl("n1.node.cairn.example"), 9);
      // `consul` is now outside the domain.
      await assert.rejects(r.resolve4("web.service.consul"), { code: "EREFUSED" });
    } finally {
      await dns.close();
    }
    assert.equal(serviceTtlOf({ ...DNS_DEFAULTS }, "web"), 0);
  });

  it("UDP: at most udp_answer_limit records without EDNS0, cut to the EDNS0 size with it; TCP has all", async () => {
    const api = new MemoryServer();
    for (let i = 1; i <= 60; i++) await register(api, `n${i}`, `10.0.1.${i}`, "big", "passing");
    const plain = await serve(api);
    const truncating = await serve(api, { enableTruncate: true });
    try {
      const cut = await udpQuery(plain.port, query("big.service.consul", "A"));
      assert.equal(cut.answers?.length, 3);
      assert.equal((cut.flags ?? 0) & packet.TRUNCATED_RESPONSE, 0, "Consul cuts silently by default");
      const edns = await udpQuery(plain.port, query("big.service.consul", "A", 1232));
      const n = edns.answers?.length ?? 0;
      assert.ok(n > 3 && n < 60, `${n} records fit 1232 bytes`);
      assert.ok(packet.encode(edns).length <= 1232);
      assert.equal((await tcpQuery(plain.port, query("big.service.consul", "A"))).answers?.length, 60);

      const tc = await udpQuery(truncating.port, query("big.service.consul", "A"));
      assert.equal(tc.answers?.length, 3);
      assert.ok((tc.flags ?? 0) & packet.TRUNCATED_RESPONSE, "enable_truncate sets TC");
      // The TC bit sends a resolver to TCP, which carries all 60.
      assert.equal((await resolverFor(truncating).resolve4("big.service.consul")).length, 60);
      assert.ok((await resolverFor(plain).resolve4("big.service.consul")).length < 60);
    } finally {
      await plain.close();
      await truncating.close();
    }
  });

  it("instances are shuffled: the answer is in the order the shuffle leaves", async () => {
    const api = new MemoryServer();
    for (let i = 1; i <= 5; i++) await register(api, `n${i}`, `10.0.2.${i}`, "web", "passing");
    const order = async (shuffle: <T>(xs: T[]) => void) => {
      const a = new DnsAnswerer(api, DNS_DEFAULTS, () => 0, shuffle);
      const reply = await a.answer({ name: "web.service.consul", type: "A" });
      return reply.answers.map((x) => (x.type === "A" ? x.data : ""));
    };
    const asIs = await order(() => undefined);
    const reversed = await order((xs) => xs.reverse());
    assert.equal(asIs.length, 5);
    assert.deepEqual(reversed, [...asIs].reverse());
  });
});

describe("DNS names", () => {
  it("parses Consul's name forms", () => {
    assert.deepEqual(parseName("web.service.consul", "A", "consul", "dc1"), {
      kind: "service",
      service: "web",
      tag: "",
      datacenter: "dc1",
    });
    assert.deepEqual(parseName("_Web._V1.service.East.consul.", "A", "consul", "dc1"), {
      kind: "service",
      service: "web",
      tag: "v1",
      datacenter: "east",
    });
    assert.deepEqual(parseName("a.b.node.consul", "A", "consul", "dc1"), {
      kind: "node",
      node: "a.b",
      datacenter: "dc1",
    });
    assert.equal(parseName("web.service.example", "A", "consul", "dc1"), null);
    assert.equal(parseName("service.consul", "A", "consul", "dc1"), null);
    assert.equal(parseName("zz.addr.consul", "A", "consul", "dc1"), null);
    const svc = (name: string, qtype = "A") => {
      const l = parseName(name, qtype, "consul", "dc1");
      return l?.kind === "service" ? [l.tag, l.service, l.datacenter] : l;
    };
    // RFC 2782 without the `service` label, for SRV questions only.
    assert.deepEqual(svc("_web._tcp.consul", "SRV"), ["", "web", "dc1"]);
    assert.deepEqual(svc("_web._v2.dc2.consul", "SRV"), ["v2", "web", "dc2"]);
    assert.equal(svc("_web._tcp.consul", "A"), null);
    // `<dc>.dc`, and tags with dots (every label before the service).
    assert.deepEqual(svc("web.service.dc2.dc.consul"), ["", "web", "dc2"]);
    assert.deepEqual(svc("a.b.web.service.consul"), ["a.b", "web", "dc1"]);
    // One datacenter label at most.
    assert.equal(svc("web.service.dc1.x.consul"), null);
    assert.equal(svc("dc1.consul"), null);
  });

  it("hex addresses both ways", () => {
    assert.equal(ipToHex("10.1.0.5"), "0a010005");
    assert.equal(ipToHex("fd00::6"), "fd000000000000000000000000000006");
    assert.deepEqual(parseName("fd000000000000000000000000000006.addr.consul", "A", "consul", "dc1"), {
      kind: "addr",
      ip: "fd00:0:0:0:0:0:0:6",
      datacenter: "dc1",
    });
  });
});

describe("DNS and ACLs", () => {
  /** ACLs on with default deny; `defaultRules` (if any) is the agent's default token's one policy. */
  async function aclServer(defaultRules: string | null): Promise<MemoryServer> {
    const secret = "9f4a6e1c-3b2d-4c5e-8f70-1a2b3c4d5e6f";
    const api = new MemoryServer({
      acl: {
        enabled: true,
        defaultPolicy: "deny",
        downPolicy: "extend-cache",
        tokens: { initialManagement: "root", ...(defaultRules === null ? {} : { default: secret }) },
      },
    });
    await api.aclReady;
    if (defaultRules !== null) {
      const p = await api.acl.aclPolicyCreate({ Name: "dns", Rules: defaultRules });
      await api.acl.aclTokenCreate({ SecretID: secret, Policies: [{ ID: p.ID }] });
    }
    await register(api, "n1", "10.0.0.1", "web", "passing");
    await register(api, "n2", "10.0.0.2", "web", "passing");
    return api;
  }

  it("answers nothing the default (or anonymous) token may not read: NXDOMAIN under default deny", async () => {
    const api = await aclServer(null);
    const a = new DnsAnswerer(
      api,
      DNS_DEFAULTS,
      () => 0,
      () => {},
    );
    assert.equal((await a.answer({ name: "web.service.consul", type: "A" })).rcode, "NXDOMAIN");
    assert.equal((await a.answer({ name: "n1.node.consul", type: "A" })).rcode, "NXDOMAIN");
  });

  it("answers what the agent's default token may read: its nodes' instances of its services", async () => {
    const api = await aclServer('service "web" { policy = "read" }\nnode "n2" { policy = "read" }');
    const a = new DnsAnswerer(
      api,
      DNS_DEFAULTS,
      () => 0,
      () => {},
    );
    const web = await a.answer({ name: "web.service.consul", type: "A" });
    assert.deepEqual(
      web.answers.map((x) => (x as { data: unknown }).data),
      ["10.0.0.2"],
    );
    assert.equal((await a.answer({ name: "n1.node.consul", type: "A" })).rcode, "NXDOMAIN");
    assert.equal((await a.answer({ name: "n2.node.consul", type: "A" })).rcode, "NOERROR");
  });
});
