/**
 * Loading a datacenter with many keys before a snapshot benchmark: keys `bench/k0` … of VALUE_BYTES random bytes,
 * in chunks that are put again whole when a put fails, so one election does not throw away minutes of loading.
 */
import { randomBytes } from "node:crypto";
import { LoadError, type PutLoadOptions, runPutLoad } from "./load.js";

export const VALUE_BYTES = 256;
export const CLIENTS = 64;
export const KEY_PREFIX = "bench/k";
const LOAD_CHUNK_KEYS = 50_000;
const LOAD_RETRIES = 5;

/**
 * Loads keys [0, keys) in chunks of LOAD_CHUNK_KEYS. On a loaded machine a leader change now and then fails
 * a put with 500; a failed chunk is put again whole (the same keys: idempotent), at most LOAD_RETRIES times in
 * all. The retries are in the time. `progress` gets a line after each chunk.
 */
export async function loadKeys(
  engine: string,
  make: (first: number, count: number) => PutLoadOptions,
  keys: number,
  progress: (line: string) => void,
): Promise<{ ms: number; perSec: number; retries: number }> {
  const t0 = performance.now();
  let retries = 0;
  for (let first = 0; first < keys; ) {
    try {
      await runPutLoad(make(first, Math.min(LOAD_CHUNK_KEYS, keys - first)));
      first += LOAD_CHUNK_KEYS;
      const perSec = (Math.min(first, keys) / (performance.now() - t0)) * 1000;
      progress(`${engine}: ${Math.min(first, keys)} of ${keys} keys loaded (${perSec.toFixed(0)} keys/s)`);
    } catch (e) {
      if (!(e instanceof LoadError) || ++retries > LOAD_RETRIES) throw e;
      progress(`${engine}: load of keys from ${first} failed, putting them again: ${e.message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const ms = performance.now() - t0;
  return { ms, perSec: (keys / ms) * 1000, retries };
}

/** Bulk load of cairn: one PUT /v1/kv per key, requests round-robin over the servers. */
export const cairnBulk =
  (endpoints: readonly string[]) =>
  (first: number, count: number): PutLoadOptions => ({
    method: "PUT",
    clients: CLIENTS,
    total: count,
    url: (i) => `${endpoints[(first + i) % endpoints.length]}/v1/kv/${KEY_PREFIX}${first + i}`,
    body: () => randomBytes(VALUE_BYTES),
  });

/** Puts per transaction of a txn load: under both engines' limit of 128 ops (cairn's TXN_OPS_MAX, etcd's default
 * --max-txn-ops) and, at 256 B values, well under cairn's 512 KiB txn body. */
export const TXN_PUTS = 100;

const b64 = (b: string | Uint8Array) => Buffer.from(b).toString("base64");

/** The keys [first, first + count) as loads of TXN_PUTS puts each: request i holds keys from `first + i * TXN_PUTS`. */
function txnLoad(
  first: number,
  count: number,
  request: (i: number) => string,
  body: (keys: readonly string[]) => string,
  extra: Pick<PutLoadOptions, "method" | "headers">,
): PutLoadOptions {
  return {
    ...extra,
    clients: 16,
    total: Math.ceil(count / TXN_PUTS),
    url: request,
    body: (i) => {
      const from = first + i * TXN_PUTS;
      const n = Math.min(TXN_PUTS, first + count - from);
      return body(Array.from({ length: n }, (_, j) => `${KEY_PREFIX}${from + j}`));
    },
  };
}

/**
 * Bulk load of cairn through PUT /v1/txn, TXN_PUTS `set` ops each, round-robin over the servers: a preload of
 * 1 M keys in about as many Raft entries as 10 k single puts, so the figures measured after it are not those
 * of a server still busy snapshotting the load.
 */
export const cairnTxnBulk =
  (endpoints: readonly string[]) =>
  (first: number, count: number): PutLoadOptions =>
    txnLoad(
      first,
      count,
      (i) => `${endpoints[i % endpoints.length]}/v1/txn`,
      (keys) =>
        JSON.stringify(
          keys.map((Key) => ({ KV: { Verb: "set", Key, Value: b64(randomBytes(VALUE_BYTES)) } })),
        ),
      { method: "PUT" },
    );

/** The same keys and values into etcd: POST /v3/kv/txn of TXN_PUTS requestPut, round-robin over the members. */
export const etcdTxnBulk =
  (endpoints: readonly string[]) =>
  (first: number, count: number): PutLoadOptions =>
    txnLoad(
      first,
      count,
      (i) => `${endpoints[i % endpoints.length]}/v3/kv/txn`,
      (keys) =>
        JSON.stringify({
          success: keys.map((k) => ({ requestPut: { key: b64(k), value: b64(randomBytes(VALUE_BYTES)) } })),
        }),
      { method: "POST", headers: { "content-type": "application/json" } },
    );
