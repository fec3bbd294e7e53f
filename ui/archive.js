/**
 * Reading a snapshot archive in the browser: gzip(tar(meta.json, state.bin, SHA256SUMS)), Consul's format. The
 * browser's DecompressionStream undoes the gzip and a small streaming tar reader picks the entries out, so a
 * restore can show the archive's index and term before anything is sent (reading only as far as meta.json), and a
 * download can be verified whole (both SHA-256 sums) before it is offered. The agent verifies again on restore:
 * this is for the operator's eyes, not a gate.
 */

const BLOCK = 512;
/** meta.json is ~250 bytes plus ~100 per server; anything past this is not a snapshot's. */
const META_MAX = 1 << 20;
const SUMS_MAX = 4096;

function ascii(bytes, from, to) {
  let s = "";
  for (let i = from; i < to && bytes[i] !== 0; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** A header's octal size field (the only form sizes under 8 GiB take; larger ones are not snapshots we read). */
function octal(bytes, from, to) {
  const text = ascii(bytes, from, to).trim();
  if (!/^[0-7]+$/.test(text)) throw new Error(`not a snapshot archive: a tar header has size "${text}"`);
  return Number.parseInt(text, 8);
}

/**
 * Reads the tar inside the gzip stream of `blob` and returns the entries named in `keep` (name → bytes), each
 * at most `limits[name]` bytes (unbounded when absent). Stops reading as soon as every kept entry is in, so
 * finding meta.json at the start of a large archive reads a few KB.
 */
async function readEntries(blob, keep, limits = {}) {
  const reader = blob.stream().pipeThrough(new DecompressionStream("gzip")).getReader();
  const found = new Map();
  let buf = new Uint8Array(0);
  /** The entry whose data is being read: name, bytes left, parts kept (null when skipped), padding after. */
  let entry = null;
  let ended = false;
  try {
    while (found.size < keep.length && !ended) {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        throw new Error(`not a snapshot archive: the gzip stream is broken (${e.message})`);
      }
      if (r.done) break;
      const joined = new Uint8Array(buf.length + r.value.length);
      joined.set(buf);
      joined.set(r.value, buf.length);
      buf = joined;
      let at = 0;
      for (;;) {
        if (entry !== null) {
          const take = Math.min(entry.left, buf.length - at);
          if (entry.parts !== null) entry.parts.push(buf.slice(at, at + take));
          entry.left -= take;
          at += take;
          if (entry.left > 0) break;
          if (buf.length - at < entry.pad) break;
          at += entry.pad;
          if (entry.parts !== null) found.set(entry.name, concat(entry.parts));
          entry = null;
          if (found.size === keep.length) break;
        }
        if (buf.length - at < BLOCK) break;
        const header = buf.subarray(at, at + BLOCK);
        at += BLOCK;
        if (header.every((b) => b === 0)) {
          ended = true;
          break;
        }
        const name = ascii(header, 0, 100);
        const size = octal(header, 124, 136);
        const wanted = keep.includes(name) && (header[156] === 0x30 || header[156] === 0);
        if (wanted && limits[name] !== undefined && size > limits[name]) {
          throw new Error(`not a snapshot archive: ${name} is ${size} bytes`);
        }
        entry = { name, left: size, parts: wanted ? [] : null, pad: (BLOCK - (size % BLOCK)) % BLOCK };
      }
      buf = buf.slice(at);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const missing = keep.filter((n) => !found.has(n));
  if (missing.length > 0) throw new Error(`not a snapshot archive: no ${missing.join(", ")} in it`);
  return found;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function parseMeta(bytes) {
  let meta;
  try {
    meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`not a snapshot archive: meta.json is not JSON (${e.message})`);
  }
  if (typeof meta?.Index !== "number" || typeof meta?.Term !== "number") {
    throw new Error("not a snapshot archive: meta.json has no Index and Term");
  }
  return meta;
}

/** meta.json of the archive in `blob` (Index, Term, ID, Size, Version…), reading no further than it. */
export async function archiveMeta(blob) {
  const entries = await readEntries(blob, ["meta.json"], { "meta.json": META_MAX });
  return parseMeta(entries.get("meta.json"));
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads the whole archive and checks SHA256SUMS against meta.json and state.bin; returns meta.json, or throws
 * saying what is wrong. Needs crypto.subtle, which a browser offers only in a secure context (https, or an
 * agent on loopback): elsewhere the result says it could not check.
 */
export async function verifyArchive(blob) {
  const entries = await readEntries(blob, ["meta.json", "state.bin", "SHA256SUMS"], {
    "meta.json": META_MAX,
    SHA256SUMS: SUMS_MAX,
  });
  const meta = parseMeta(entries.get("meta.json"));
  if (globalThis.crypto?.subtle === undefined) return { meta, verified: false };
  // As Consul's reader: every line names a file of the archive, and both files are listed.
  const sums = new Map();
  for (const line of new TextDecoder().decode(entries.get("SHA256SUMS")).split("\n")) {
    if (line === "") continue;
    const m = /^([0-9a-f]{64}) {1,2}(\S+)$/.exec(line);
    if (m === null) throw new Error(`not a verified archive: SHA256SUMS has a bad line "${line}"`);
    if (!entries.has(m[2]) || m[2] === "SHA256SUMS") {
      throw new Error(`not a verified archive: SHA256SUMS lists ${m[2]}, which the archive does not hold`);
    }
    sums.set(m[2], m[1]);
  }
  for (const name of ["meta.json", "state.bin"]) {
    const want = sums.get(name);
    if (want === undefined) throw new Error(`not a verified archive: SHA256SUMS lists no ${name}`);
    if ((await sha256Hex(entries.get(name))) !== want) {
      throw new Error(`not a verified archive: ${name} does not match its SHA-256 sum`);
    }
  }
  return { meta, verified: true };
}
