/**
 * Object names in the object stores (Azure Blob, Google Cloud Storage): a backup `name` is stored under the key
 * `<prefix>/<name>`, and a listing maps keys back to names. Both services cap a key at 1024 bytes of UTF-8 and
 * treat `/` as an ordinary character, so the checks here are the ones that keep a name unambiguous and printable.
 */
import type { StoredObject } from "./store.js";

/** The longest key both Azure Blob Storage and Google Cloud Storage accept, in bytes of UTF-8. */
const MAX_KEY_BYTES = 1024;

/** Objects asked for per listing page: the most both services return in one page. */
export const LIST_PAGE_SIZE = 1000;

/**
 * The most objects a listing returns before it gives up: a prefix holding more is not a backup location cairn
 * wrote (retention keeps far fewer), and a bound keeps memory and time finite.
 */
const MAX_LISTED_OBJECTS = 100_000;
/** Enough pages for MAX_LISTED_OBJECTS, with room for a service's short pages. */
const MAX_LIST_PAGES = (2 * MAX_LISTED_OBJECTS) / LIST_PAGE_SIZE;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The prefix without slashes at either end ("" for none); refuses control characters and empty segments. */
export function normalizePrefix(prefix: string, what: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  if (CONTROL.test(trimmed))
    throw new Error(`${what}: control characters are not allowed: ${JSON.stringify(prefix)}`);
  if (trimmed.includes("//")) throw new Error(`${what}: empty path segment in ${JSON.stringify(prefix)}`);
  if (Buffer.byteLength(trimmed) >= MAX_KEY_BYTES)
    throw new Error(`${what}: longer than ${MAX_KEY_BYTES} bytes`);
  return trimmed;
}

/** The key of `name` under `prefix`, after checking the name: non-empty, relative, no `.`/`..` or empty segment. */
export function objectKey(prefix: string, name: string): string {
  if (name === "") throw new Error("object name is empty");
  if (CONTROL.test(name))
    throw new Error(`object name ${JSON.stringify(name)}: control characters are not allowed`);
  for (const segment of name.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      throw new Error(`object name ${JSON.stringify(name)}: empty, "." or ".." path segment`);
    }
  }
  const key = keyOf(prefix, name);
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new Error(`object name ${JSON.stringify(name)}: key longer than ${MAX_KEY_BYTES} bytes`);
  }
  return key;
}

/** The key prefix that lists the names starting with `startsWith` ("" lists everything under the prefix). */
export function listKeyPrefix(prefix: string, startsWith: string): string {
  if (CONTROL.test(startsWith)) {
    throw new Error(`list prefix ${JSON.stringify(startsWith)}: control characters are not allowed`);
  }
  return prefix === "" ? startsWith : `${prefix}/${startsWith}`;
}

/** The name of a listed key, or null for a key outside the prefix (which a listing by prefix never returns). */
function nameOfKey(prefix: string, key: string): string | null {
  if (prefix === "") return key === "" ? null : key;
  const head = `${prefix}/`;
  return key.startsWith(head) && key.length > head.length ? key.slice(head.length) : null;
}

function keyOf(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}/${name}`;
}

/**
 * The objects of a listing by key prefix, page by page, in name order whatever order the service used; keys
 * outside `prefix` are passed over. Throws past MAX_LISTED_OBJECTS objects or MAX_LIST_PAGES pages.
 */
export async function collectListing<T>(
  prefix: string,
  pages: AsyncIterable<readonly T[]>,
  keyOf: (item: T) => string,
  storedOf: (name: string, item: T) => StoredObject,
): Promise<StoredObject[]> {
  const found: StoredObject[] = [];
  let pageCount = 0;
  for await (const page of pages) {
    if (++pageCount > MAX_LIST_PAGES) throw new Error(`more than ${MAX_LIST_PAGES} listing pages`);
    for (const item of page) {
      const name = nameOfKey(prefix, keyOf(item));
      if (name === null) continue;
      if (found.length === MAX_LISTED_OBJECTS) throw new Error(`more than ${MAX_LISTED_OBJECTS} objects`);
      found.push(storedOf(name, item));
    }
  }
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
