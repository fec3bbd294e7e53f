/**
 * The part of dns-packet 5.x (mafintosh/dns-packet, CommonJS, no bundled types) that src/dns uses, as its README
 * documents it: names without the trailing dot, record data per type, and the 2-byte length framing of TCP.
 */
declare module "dns-packet" {
  export interface Question {
    readonly name: string;
    readonly type: string;
    readonly class?: string;
  }
  export interface SoaData {
    readonly mname: string;
    readonly rname: string;
    readonly serial: number;
    readonly refresh: number;
    readonly retry: number;
    readonly expire: number;
    readonly minimum: number;
  }
  export interface SrvData {
    readonly priority: number;
    readonly weight: number;
    readonly port: number;
    readonly target: string;
  }
  interface Base {
    readonly name: string;
    readonly ttl?: number;
    readonly class?: string;
  }
  export type Answer =
    | (Base & { readonly type: "A" | "AAAA" | "CNAME" | "NS"; readonly data: string })
    | (Base & { readonly type: "SRV"; readonly data: SrvData })
    | (Base & { readonly type: "SOA"; readonly data: SoaData })
    | (Base & { readonly type: "TXT"; readonly data: string | Buffer | (string | Buffer)[] })
    | {
        readonly type: "OPT";
        readonly name: string;
        readonly udpPayloadSize?: number;
        readonly extendedRcode?: number;
        readonly flags?: number;
        readonly options?: readonly unknown[];
      };
  export interface Packet {
    readonly id?: number;
    readonly type?: "query" | "response";
    readonly flags?: number;
    readonly rcode?: string;
    readonly questions?: readonly Question[];
    readonly answers?: readonly Answer[];
    readonly authorities?: readonly Answer[];
    readonly additionals?: readonly Answer[];
  }
  export const AUTHORITATIVE_ANSWER: number;
  export const TRUNCATED_RESPONSE: number;
  export const RECURSION_DESIRED: number;
  export function encode(p: Packet): Buffer;
  export function decode(buf: Uint8Array): Packet;
  export function encodingLength(p: Packet): number;
  /** The message behind its 2-byte big-endian length, as DNS over TCP carries it. */
  export function streamEncode(p: Packet): Buffer;
  export function streamDecode(buf: Uint8Array): Packet;
}
