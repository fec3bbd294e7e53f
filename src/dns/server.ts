/**
 * The DNS interface's listeners: UDP and TCP on one port (Consul's -dns-port, default 8600). Each message is
 * decoded with dns-packet, answered by DnsAnswerer, and encoded back; UDP answers are trimmed as Consul's
 * trimUDPResponse does (agent/dns.go): to udp_answer_limit records without EDNS0, then to the size the client
 * allows (512 bytes, or EDNS0's payload size), the TC bit set only with enable_truncate. TCP carries any size.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { createServer, type Server, type Socket as TcpSocket } from "node:net";
import * as packet from "dns-packet";
import type { ServerApi } from "../api/types.js";
import { errorText } from "../util/errors.js";
import { bare, DnsAnswerer, type Rcode, type Reply } from "./answer.js";
import type { DnsConfig } from "./config.js";

const RCODES: Readonly<Record<Rcode, number>> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};
const DEFAULT_UDP_SIZE = 512;
/** Consul caps udp_answer_limit at this many records. */
const MAX_UDP_ANSWER_LIMIT = 8;
/** The largest DNS message (its length is 16 bits). */
const MAX_MESSAGE = 65535;
/** Consul's trimTCPResponse limit: 64 KiB less the DNS overhead. */
const TCP_MESSAGE_MAX = 65523;
/** A TCP client may not make the server buffer more than one maximal message plus its length prefix. */
const TCP_BUFFER_MAX = MAX_MESSAGE + 2;

export interface DnsServerOptions {
  readonly api: ServerApi;
  readonly config: DnsConfig;
  readonly log?: (level: "warn" | "debug", msg: string) => void;
}

export interface RunningDns {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The encoded response to one query message (over TCP behind its 2-byte length), or null for a message that is not
 * a query. Never throws: a bad message is FORMERR; a failed read, or a record that cannot be encoded (a malformed
 * address in the catalog), SERVFAIL. Over UDP it is trimmed to what the client takes; over TCP to 64 KiB.
 */
export async function handleMessage(
  answerer: DnsAnswerer,
  cfg: DnsConfig,
  raw: Buffer,
  transport: "udp" | "tcp",
  log?: DnsServerOptions["log"],
): Promise<Buffer | null> {
  const res = await respond(answerer, cfg, raw, transport, log);
  if (res === null) return null;
  const encode = transport === "tcp" ? packet.streamEncode : packet.encode;
  try {
    return encode(res);
  } catch (e) {
    log?.("warn", `dns: encoding the answer to ${res.questions?.[0]?.name ?? "?"}: ${errorText(e)}`);
    const flags = ((res.flags ?? 0) & ~0xf) | RCODES.SERVFAIL;
    return encode({ id: res.id ?? 0, type: "response", flags, questions: res.questions ?? [] });
  }
}

async function respond(
  answerer: DnsAnswerer,
  cfg: DnsConfig,
  raw: Buffer,
  transport: "udp" | "tcp",
  log?: DnsServerOptions["log"],
): Promise<packet.Packet | null> {
  let req: packet.Packet;
  try {
    req = packet.decode(raw);
  } catch {
    if (raw.length < 2) return null;
    // The id is all that can be echoed from a message that does not decode.
    const id = (raw[0]! << 8) | raw[1]!;
    return { id, type: "response", flags: RCODES.FORMERR };
  }
  if (req.type !== "query") return null;
  const q = req.questions?.[0];
  const opcode = ((req.flags ?? 0) >> 11) & 0xf;
  const opt = req.additionals?.find((a) => a.type === "OPT");
  let reply: Reply;
  if (q === undefined || (req.questions?.length ?? 0) > 1) reply = bare("FORMERR");
  else if (opcode !== 0) reply = bare("NOTIMP");
  else {
    try {
      reply = await answerer.answer(q);
    } catch (e) {
      log?.("warn", `dns: answering ${q.name} ${q.type}: ${errorText(e)}`);
      reply = bare("SERVFAIL");
    }
  }
  const flags =
    // A refusal (a name outside the domain) is not an authoritative answer.
    (reply.rcode === "REFUSED" ? 0 : packet.AUTHORITATIVE_ANSWER) |
    (opcode << 11) |
    ((req.flags ?? 0) & packet.RECURSION_DESIRED) |
    RCODES[reply.rcode];
  // Consul's setEDNS answers with the client's own payload size.
  const optOut: packet.Answer[] =
    opt?.type === "OPT"
      ? [
          {
            type: "OPT",
            name: ".",
            udpPayloadSize: opt.udpPayloadSize ?? DEFAULT_UDP_SIZE,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ]
      : [];
  const res = {
    id: req.id ?? 0,
    type: "response" as const,
    flags,
    questions: q === undefined ? [] : [q],
    answers: reply.answers,
    authorities: reply.authorities,
    additionals: [...reply.additionals, ...optOut],
  };
  if (transport === "tcp") {
    // Consul's trimTCPResponse: at most 4096 records (1024 SRV), within 64 KiB less its overhead.
    const cap = q?.type === "SRV" ? 1024 : 4096;
    if (res.answers.length > cap) res.answers = res.answers.slice(0, cap);
    trimToSize(res, TCP_MESSAGE_MAX);
    return res;
  }
  const udpSize = opt?.type === "OPT" ? (opt.udpPayloadSize ?? 0) : 0;
  const trimmed = trimUdp(
    res,
    Math.max(DEFAULT_UDP_SIZE, Math.min(udpSize, MAX_MESSAGE)),
    cfg.udpAnswerLimit,
  );
  if (trimmed && cfg.enableTruncate) res.flags |= packet.TRUNCATED_RESPONSE;
  return res;
}

interface Mutable {
  flags: number;
  answers: packet.Answer[];
  authorities: packet.Answer[];
  additionals: packet.Answer[];
}

/**
 * Consul's trimUDPResponse: without EDNS0 at most min(udp_answer_limit, 8) answers; then drop answers (and the
 * additional records only they needed) until the message fits `maxSize`, keeping at least one. True when answers
 * were dropped.
 */
export function trimUdp(res: Mutable & packet.Packet, maxSize: number, udpAnswerLimit: number): boolean {
  const before = res.answers.length;
  const limit = Math.min(MAX_UDP_ANSWER_LIMIT, udpAnswerLimit);
  if (maxSize === DEFAULT_UDP_SIZE && res.answers.length > limit) {
    res.answers = res.answers.slice(0, limit);
    syncExtra(res);
  }
  trimToSize(res, maxSize);
  return res.answers.length < before;
}

/** Drops answers from the end until the message fits, keeping at least one (Consul sends a lone big one anyway). */
function trimToSize(res: Mutable & packet.Packet, maxSize: number): void {
  if (packet.encodingLength(res) <= maxSize) return;
  // The most answers that fit, by binary search, as Consul's dnsBinaryTruncate.
  const all = res.answers;
  let lo = 1;
  let hi = all.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    res.answers = all.slice(0, mid);
    syncExtra(res);
    if (packet.encodingLength(res) <= maxSize) lo = mid;
    else hi = mid - 1;
  }
  res.answers = all.slice(0, lo);
  syncExtra(res);
}

/** Keeps the additional records that a remaining SRV answer points at (and the OPT record). */
function syncExtra(res: Mutable): void {
  const targets = new Set(
    res.answers.flatMap((a) => (a.type === "SRV" ? [a.data.target.toLowerCase()] : [])),
  );
  res.additionals = res.additionals.filter((a) => a.type === "OPT" || targets.has(a.name.toLowerCase()));
}

/** Listens for DNS over UDP and TCP on host:port (0 = a free port, the same for both). */
export async function startDnsServer(
  host: string,
  port: number,
  opts: DnsServerOptions,
): Promise<RunningDns> {
  const answerer = new DnsAnswerer(opts.api, opts.config);
  const conns = new Set<TcpSocket>();
  const tcp = createServer((sock) => {
    conns.add(sock);
    sock.once("close", () => conns.delete(sock));
    serveTcp(sock, answerer, opts);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, host, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const bound = (tcp.address() as { port: number }).port;
  const udp = createSocket(host.includes(":") ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(bound, host, () => {
        udp.off("error", reject);
        resolve();
      });
    });
  } catch (e) {
    tcp.close();
    throw e;
  }
  udp.on("message", (msg: Buffer, from: RemoteInfo) => void serveUdp(udp, msg, from, answerer, opts));
  udp.on("error", (e) => opts.log?.("warn", `dns: UDP: ${errorText(e)}`));
  return { port: bound, close: () => closeBoth(tcp, udp, conns) };
}

async function serveUdp(
  udp: Socket,
  msg: Buffer,
  from: RemoteInfo,
  answerer: DnsAnswerer,
  opts: DnsServerOptions,
): Promise<void> {
  const out = await handleMessage(answerer, opts.config, msg, "udp", opts.log);
  if (out !== null) udp.send(out, from.port, from.address, () => undefined);
}

/** DNS over TCP: messages behind a 2-byte length, several per connection, answered in order. */
function serveTcp(sock: TcpSocket, answerer: DnsAnswerer, opts: DnsServerOptions): void {
  let buf = Buffer.alloc(0);
  let chain = Promise.resolve();
  sock.on("error", () => sock.destroy());
  sock.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length > TCP_BUFFER_MAX) {
      sock.destroy();
      return;
    }
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const msg = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      chain = chain.then(async () => {
        const out = await handleMessage(answerer, opts.config, msg, "tcp", opts.log);
        if (out !== null && !sock.destroyed) sock.write(out);
      });
    }
  });
}

function closeBoth(tcp: Server, udp: Socket, conns: ReadonlySet<TcpSocket>): Promise<void> {
  return new Promise<void>((resolve) => {
    udp.close(() => {
      tcp.close(() => resolve());
      // TCP clients that keep a connection open must not hold the agent's shutdown.
      for (const c of conns) c.destroy();
    });
  });
}
