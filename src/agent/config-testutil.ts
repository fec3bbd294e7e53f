/**
 * Helpers of the agent-configuration tests (config.test.ts, config-file.test.ts): a machine without disk or
 * network, and the table-driven check of parseAgentArgs both files' cases run through.
 */
import assert from "node:assert/strict";
import type { NetworkInterfaceInfo } from "node:os";
import { type AgentConfig, AgentConfigError, type AgentHost, parseAgentArgs } from "./config.js";

const lo: NetworkInterfaceInfo = {
  address: "127.0.0.1",
  netmask: "255.0.0.0",
  family: "IPv4",
  mac: "00:00:00:00:00:00",
  internal: true,
  cidr: "127.0.0.1/8",
};
const eth6: NetworkInterfaceInfo = {
  address: "fe80::1",
  netmask: "ffff:ffff:ffff:ffff::",
  family: "IPv6",
  mac: "02:00:00:00:00:01",
  internal: false,
  cidr: "fe80::1/64",
  scopeid: 2,
};
const eth4: NetworkInterfaceInfo = { ...lo, address: "10.1.2.3", internal: false, cidr: "10.1.2.3/24" };

export interface World {
  readonly files?: Readonly<Record<string, string>>;
  readonly dirs?: Readonly<Record<string, readonly string[]>>;
  readonly loopbackOnly?: boolean;
}

/** A machine without disk or network: files and directories from the table, a fixed hostname and interfaces. */
export function fakeHost(w: World): AgentHost {
  return {
    readFile(path) {
      const text = w.files?.[path];
      if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return text;
    },
    readDir(path) {
      const names = w.dirs?.[path];
      if (names === undefined) throw new Error(`ENOENT: no such file or directory, scandir '${path}'`);
      return [...names];
    },
    hostname: () => "testhost",
    networkInterfaces: () => (w.loopbackOnly ? { lo: [lo] } : { lo: [lo], eth0: [eth6, eth4] }),
    tmpdir: () => "/tmp",
  };
}

export interface Case {
  readonly name: string;
  readonly argv: readonly string[];
  readonly world?: World;
  readonly env?: Readonly<Record<string, string>>;
  readonly want?: Partial<AgentConfig>;
  /** Exact message of the AgentConfigError. */
  readonly err?: string;
}

export const DD = ["-data-dir", "/d"];

export const E = (name: string, argv: readonly string[], err: string, world?: World): Case =>
  world === undefined ? { name, argv, err } : { name, argv, err, world };
export const file = (text: string): World => ({ files: { "/f.json": text } });
export const F = ["-config-file=/f.json"];

export function check(c: Case): void {
  const host = fakeHost(c.world ?? {});
  if (c.err !== undefined) {
    assert.throws(
      () => parseAgentArgs(c.argv, c.env ?? {}, host),
      (e: unknown) => {
        assert.ok(e instanceof AgentConfigError, `not an AgentConfigError: ${String(e)}`);
        assert.equal(e.message, c.err);
        assert.equal(e.code, "agent_config");
        return true;
      },
    );
    return;
  }
  const got = parseAgentArgs(c.argv, c.env ?? {}, host);
  const picked = Object.fromEntries(Object.keys(c.want ?? {}).map((k) => [k, got[k as keyof AgentConfig]]));
  assert.deepEqual(picked, c.want);
}
