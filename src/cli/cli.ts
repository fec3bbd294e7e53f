/**
 * The `cairn` command tree and its dispatcher, mirroring the `consul` CLI's layout. Unknown or missing
 * subcommands print the group's usage on stderr with exit 1 (Consul exits 127 for an unknown top-level command;
 * cairn keeps every usage error at 1). `-h`/`-help`/`--help` in place of a subcommand prints the usage on stdout.
 */
import { type Command, type CommandIO, err, out } from "./command.js";
import { aclBootstrap } from "./commands/acl.js";
import {
  aclPolicyCreate,
  aclPolicyDelete,
  aclPolicyList,
  aclPolicyRead,
  aclPolicyUpdate,
} from "./commands/acl-policy.js";
import {
  aclTokenClone,
  aclTokenCreate,
  aclTokenDelete,
  aclTokenList,
  aclTokenRead,
  aclTokenUpdate,
} from "./commands/acl-token.js";
import { catalogDatacenters, catalogNodes, catalogServices } from "./commands/catalog.js";
import { forceLeave } from "./commands/force-leave.js";
import { info } from "./commands/info.js";
import { join } from "./commands/join.js";
import { kvDelete, kvGet, kvPut } from "./commands/kv.js";
import { kvExport, kvImport } from "./commands/kv-impexp.js";
import { leave } from "./commands/leave.js";
import { lock } from "./commands/lock.js";
import { members } from "./commands/members.js";
import { raftListPeers, raftRemovePeer, raftTransferLeader } from "./commands/operator-raft.js";
import { reload } from "./commands/reload.js";
import { servicesDeregister, servicesRegister } from "./commands/services.js";
import { snapshotRestore, snapshotSave } from "./commands/snapshot.js";
import { snapshotAgent } from "./commands/snapshot-agent.js";
import { snapshotDiff } from "./commands/snapshot-diff.js";
import { snapshotList } from "./commands/snapshot-list.js";
import { snapshotDecode, snapshotInspect } from "./commands/snapshot-offline.js";
import { tlsCaCreate, tlsCertCreate } from "./commands/tls.js";
import { version } from "./commands/version.js";
import { watch } from "./commands/watch.js";

interface Group {
  readonly synopsis: string;
  readonly usageLine: string;
  readonly children: Readonly<Record<string, Node>>;
}
type Node = Command | Group;

/** A hook for a command that arrives with other work: says so and fails. */
function notYet(name: string, synopsis: string): Command {
  return {
    synopsis,
    help: `Usage: cairn ${name} [options]\n\n  ${synopsis} (not yet implemented).`,
    async run(_argv, io) {
      err(io, `cairn ${name}: not yet implemented`);
      return 1;
    },
  };
}

const TREE: Group = {
  synopsis: "cairn: a Consul-compatible datacenter",
  usageLine: "Usage: cairn [--version] [--help] <command> [<args>]",
  children: {
    acl: {
      synopsis: "Interact with Consul's ACLs",
      usageLine: "Usage: cairn acl <subcommand> [options] [args]",
      children: {
        bootstrap: aclBootstrap,
        policy: {
          synopsis: "Manage Consul's ACL policies",
          usageLine: "Usage: cairn acl policy <subcommand> [options] [args]",
          children: {
            create: aclPolicyCreate,
            delete: aclPolicyDelete,
            list: aclPolicyList,
            read: aclPolicyRead,
            update: aclPolicyUpdate,
          },
        },
        token: {
          synopsis: "Manage Consul's ACL tokens",
          usageLine: "Usage: cairn acl token <subcommand> [options] [args]",
          children: {
            clone: aclTokenClone,
            create: aclTokenCreate,
            delete: aclTokenDelete,
            list: aclTokenList,
            read: aclTokenRead,
            update: aclTokenUpdate,
          },
        },
      },
    },
    agent: notYet("agent", "Runs a cairn agent"),
    catalog: {
      synopsis: "Interact with the catalog",
      usageLine: "Usage: cairn catalog <subcommand> [options] [args]",
      children: { datacenters: catalogDatacenters, nodes: catalogNodes, services: catalogServices },
    },
    "force-leave": forceLeave,
    info,
    join,
    kv: {
      synopsis: "Interact with the key-value store",
      usageLine: "Usage: cairn kv <subcommand> [options] [args]",
      children: { delete: kvDelete, export: kvExport, get: kvGet, import: kvImport, put: kvPut },
    },
    leave,
    lock,
    members,
    operator: {
      synopsis: "Provides cluster-level tools for operators",
      usageLine: "Usage: cairn operator <subcommand> [options]",
      children: {
        raft: {
          synopsis: "Provides cluster-level tools for Raft",
          usageLine: "Usage: cairn operator raft <subcommand> [options]",
          children: {
            "list-peers": raftListPeers,
            "remove-peer": raftRemovePeer,
            "transfer-leader": raftTransferLeader,
          },
        },
      },
    },
    reload,
    services: {
      synopsis: "Interact with services",
      usageLine: "Usage: cairn services <subcommand> [options] [args]",
      children: { deregister: servicesDeregister, register: servicesRegister },
    },
    snapshot: {
      synopsis: "Saves, restores and inspects snapshots of Consul server state",
      usageLine: "Usage: cairn snapshot <subcommand> [options] [args]",
      children: {
        agent: snapshotAgent,
        decode: snapshotDecode,
        diff: snapshotDiff,
        inspect: snapshotInspect,
        list: snapshotList,
        restore: snapshotRestore,
        save: snapshotSave,
      },
    },
    tls: {
      synopsis: "Builtin helpers for creating CAs and certificates",
      usageLine: "Usage: cairn tls <subcommand> <subcommand> [options]",
      children: {
        ca: {
          synopsis: "Helpers for CAs",
          usageLine: "Usage: cairn tls ca <subcommand> [options]",
          children: { create: tlsCaCreate },
        },
        cert: {
          synopsis: "Helpers for certificates",
          usageLine: "Usage: cairn tls cert <subcommand> [options]",
          children: { create: tlsCertCreate },
        },
      },
    },
    version,
    watch,
  },
};

function isGroup(n: Node): n is Group {
  return "children" in n;
}

function groupHelp(g: Group): string {
  const names = Object.keys(g.children).sort();
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => `    ${n.padEnd(width)}    ${g.children[n]?.synopsis ?? ""}`);
  return `${g.usageLine}\n\n  ${g.synopsis}\n\nSubcommands:\n${lines.join("\n")}`;
}

/** Every runnable command's words (`["kv", "put"]`, `["version"]`), for tests that walk the whole tree. */
export function commandPaths(): string[][] {
  const walk = (node: Node, prefix: readonly string[]): string[][] =>
    isGroup(node)
      ? Object.keys(node.children)
          .sort()
          .flatMap((name) => {
            const child = node.children[name];
            return child === undefined ? [] : walk(child, [...prefix, name]);
          })
      : [[...prefix]];
  return walk(TREE, []);
}

const HELP_ARGS = new Set(["-h", "-help", "--help"]);
const VERSION_ARGS = new Set(["-v", "-version", "--version"]);

/** Runs `cairn <argv...>`; resolves the exit code. Never writes outside `io`. */
export async function runCli(argv: readonly string[], io: CommandIO): Promise<number> {
  let node: Node = TREE;
  let i = 0;
  if (VERSION_ARGS.has(argv[0] ?? "")) return version.run([], io);
  while (isGroup(node)) {
    const name = argv[i];
    if (name !== undefined && HELP_ARGS.has(name)) {
      out(io, groupHelp(node));
      return 0;
    }
    const next: Node | undefined =
      name === undefined || !Object.hasOwn(node.children, name) ? undefined : node.children[name];
    if (next === undefined) {
      if (name !== undefined && !name.startsWith("-")) err(io, `Unknown command: ${name}\n`);
      err(io, groupHelp(node));
      return 1;
    }
    node = next;
    i++;
  }
  return node.run(argv.slice(i), io);
}
