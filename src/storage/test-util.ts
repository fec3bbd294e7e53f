/** Helpers for this folder's tests: every test gets its own temp dir, removed afterwards. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Collects log lines so tests can assert on recovery warnings. */
export function collectLog(): { readonly lines: string[]; readonly log: (msg: string) => void } {
  const lines: string[] = [];
  return { lines, log: (msg) => lines.push(msg) };
}

/** Whether this process ignores file permissions (root), where chmod cannot make a dir read-only. */
export function ignoresPermissions(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}
