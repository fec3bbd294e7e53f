/**
 * The `cairn` command tree and its dispatcher, mirroring the `consul` CLI's layout. Unknown or missing
 * subcommands print the group's usage on stderr with exit 1 (Consul exits 127 for an unknown top-level command;
 * cairn keeps every usage error at 1). `-h`/`-help`/`--help` in place of a subcommand prints the usage on stdout.
 *
 * The tree is the one list of commands. Each leaf holds its synopsis (for the group's usage) and a loader: a
 * command's module, and the libraries it needs, are imported only when that command runs, so `cairn version` or
 * `cairn kv get` does not pay for the snapshot agent, its metrics and the rest at every start.
 */
import { type Command, type CommandIO, err, out } from "./command.js";

interface Group {
  readonly synopsis: string;
  readonly usageLine: string;
  readonly children: Readonly<Record<string, Node>>;
}
/** A runnable command: its synopsis, and its module, imported when it runs. */
interface Leaf {
  readonly synopsis: string;
  readonly load: () => Promise<Command>;
}
type Node = Leaf | Group;

function leaf(synopsis: string, load: () => Promise<Command>): Leaf {
  return { synopsis, load };
}

/** A hook for a command that arrives with other work: says so and fails. */
function notYet(name: string, synopsis: string): Leaf {
  return leaf(synopsis, async () => ({
    help: `Usage: cairn ${name} [options]\n\n  ${synopsis} (not yet implemented).`,
    async run(_argv, io) {
      err(io, `cairn ${name}: not yet implemented`);
      return 1;
    },
  }));
}

/** `cairn version`, also run for `cairn --version`. */
async function loadVersion(): Promise<Command> {
  return (await import("./commands/version.js")).version;
}

const TREE: Group = {
  synopsis: "cairn: a Consul-compatible datacenter",
  usageLine: "Usage: cairn [--version] [--help] <command> [<args>]",
  children: {
    acl: {
      synopsis: "Interact with Consul's ACLs",
      usageLine: "Usage: cairn acl <subcommand> [options] [args]",
      children: {
        bootstrap: leaf(
          "Bootstrap Consul's ACL system",
          async () => (await import("./commands/acl.js")).aclBootstrap,
        ),
        policy: {
          synopsis: "Manage Consul's ACL policies",
          usageLine: "Usage: cairn acl policy <subcommand> [options] [args]",
          children: {
            create: leaf(
              "Create an ACL policy",
              async () => (await import("./commands/acl-policy.js")).aclPolicyCreate,
            ),
            delete: leaf(
              "Delete an ACL policy",
              async () => (await import("./commands/acl-policy.js")).aclPolicyDelete,
            ),
            list: leaf(
              "Lists ACL policies",
              async () => (await import("./commands/acl-policy.js")).aclPolicyList,
            ),
            read: leaf(
              "Read an ACL policy",
              async () => (await import("./commands/acl-policy.js")).aclPolicyRead,
            ),
            update: leaf(
              "Update an ACL policy",
              async () => (await import("./commands/acl-policy.js")).aclPolicyUpdate,
            ),
          },
        },
        token: {
          synopsis: "Manage Consul's ACL tokens",
          usageLine: "Usage: cairn acl token <subcommand> [options] [args]",
          children: {
            clone: leaf(
              "Clone an ACL token",
              async () => (await import("./commands/acl-token.js")).aclTokenClone,
            ),
            create: leaf(
              "Create an ACL token",
              async () => (await import("./commands/acl-token.js")).aclTokenCreate,
            ),
            delete: leaf(
              "Delete an ACL token",
              async () => (await import("./commands/acl-token.js")).aclTokenDelete,
            ),
            list: leaf("List ACL tokens", async () => (await import("./commands/acl-token.js")).aclTokenList),
            read: leaf(
              "Read an ACL token",
              async () => (await import("./commands/acl-token.js")).aclTokenRead,
            ),
            update: leaf(
              "Update an ACL token",
              async () => (await import("./commands/acl-token.js")).aclTokenUpdate,
            ),
          },
        },
      },
    },
    agent: notYet("agent", "Runs a cairn agent"),
    catalog: {
      synopsis: "Interact with the catalog",
      usageLine: "Usage: cairn catalog <subcommand> [options] [args]",
      children: {
        datacenters: leaf(
          "Lists all known datacenters",
          async () => (await import("./commands/catalog.js")).catalogDatacenters,
        ),
        nodes: leaf(
          "Lists all nodes in the given datacenter",
          async () => (await import("./commands/catalog.js")).catalogNodes,
        ),
        services: leaf(
          "Lists all registered services in a datacenter",
          async () => (await import("./commands/catalog.js")).catalogServices,
        ),
      },
    },
    "force-leave": leaf(
      'Forces a member of the cluster to enter the "left" state',
      async () => (await import("./commands/force-leave.js")).forceLeave,
    ),
    info: leaf(
      "Provides debugging information for operators.",
      async () => (await import("./commands/info.js")).info,
    ),
    join: leaf("Tell Consul agent to join cluster", async () => (await import("./commands/join.js")).join),
    kv: {
      synopsis: "Interact with the key-value store",
      usageLine: "Usage: cairn kv <subcommand> [options] [args]",
      children: {
        delete: leaf(
          "Removes data from the KV store",
          async () => (await import("./commands/kv.js")).kvDelete,
        ),
        export: leaf(
          "Exports a tree from the KV store as JSON",
          async () => (await import("./commands/kv-impexp.js")).kvExport,
        ),
        get: leaf(
          "Retrieves or lists data from the KV store",
          async () => (await import("./commands/kv.js")).kvGet,
        ),
        import: leaf(
          "Imports a tree stored as JSON to the KV store",
          async () => (await import("./commands/kv-impexp.js")).kvImport,
        ),
        put: leaf(
          "Sets or updates data in the KV store",
          async () => (await import("./commands/kv.js")).kvPut,
        ),
      },
    },
    leave: leaf(
      "Gracefully leaves the datacenter and shuts down",
      async () => (await import("./commands/leave.js")).leave,
    ),
    lock: leaf("Execute a command holding a lock", async () => (await import("./commands/lock.js")).lock),
    members: leaf(
      "Lists the members of a cluster",
      async () => (await import("./commands/members.js")).members,
    ),
    operator: {
      synopsis: "Provides cluster-level tools for operators",
      usageLine: "Usage: cairn operator <subcommand> [options]",
      children: {
        raft: {
          synopsis: "Provides cluster-level tools for Raft",
          usageLine: "Usage: cairn operator raft <subcommand> [options]",
          children: {
            "list-peers": leaf(
              "Display the current Raft peer configuration",
              async () => (await import("./commands/operator-raft.js")).raftListPeers,
            ),
            "remove-peer": leaf(
              "Remove a server from the Raft configuration",
              async () => (await import("./commands/operator-raft.js")).raftRemovePeer,
            ),
            "transfer-leader": leaf(
              "Transfer raft leadership to another node",
              async () => (await import("./commands/operator-raft.js")).raftTransferLeader,
            ),
          },
        },
      },
    },
    reload: leaf(
      "Triggers the agent to reload configuration files",
      async () => (await import("./commands/reload.js")).reload,
    ),
    services: {
      synopsis: "Interact with services",
      usageLine: "Usage: cairn services <subcommand> [options] [args]",
      children: {
        deregister: leaf(
          "Deregister services with the local agent",
          async () => (await import("./commands/services.js")).servicesDeregister,
        ),
        register: leaf(
          "Register services with the local agent",
          async () => (await import("./commands/services.js")).servicesRegister,
        ),
      },
    },
    snapshot: {
      synopsis: "Saves, restores and inspects snapshots of Consul server state",
      usageLine: "Usage: cairn snapshot <subcommand> [options] [args]",
      children: {
        agent: leaf(
          "Periodic snapshots of Consul server state, to local disk, S3, Azure Blob or GCS",
          async () => (await import("./commands/snapshot-agent.js")).snapshotAgent,
        ),
        decode: leaf(
          "Decodes a Consul snapshot file to JSON lines",
          async () => (await import("./commands/snapshot-offline.js")).snapshotDecode,
        ),
        diff: leaf(
          "Compares the KV keys and record counts of two snapshot files",
          async () => (await import("./commands/snapshot-diff.js")).snapshotDiff,
        ),
        inspect: leaf(
          "Displays information about a Consul snapshot file",
          async () => (await import("./commands/snapshot-offline.js")).snapshotInspect,
        ),
        list: leaf(
          "Lists the backups a snapshot agent keeps (local disk, S3, Azure Blob, GCS)",
          async () => (await import("./commands/snapshot-list.js")).snapshotList,
        ),
        restore: leaf(
          "Restores snapshot of Consul server state",
          async () => (await import("./commands/snapshot.js")).snapshotRestore,
        ),
        save: leaf(
          "Saves snapshot of Consul server state",
          async () => (await import("./commands/snapshot.js")).snapshotSave,
        ),
      },
    },
    tls: {
      synopsis: "Builtin helpers for creating CAs and certificates",
      usageLine: "Usage: cairn tls <subcommand> <subcommand> [options]",
      children: {
        ca: {
          synopsis: "Helpers for CAs",
          usageLine: "Usage: cairn tls ca <subcommand> [options]",
          children: {
            create: leaf(
              "Create a new consul CA",
              async () => (await import("./commands/tls.js")).tlsCaCreate,
            ),
          },
        },
        cert: {
          synopsis: "Helpers for certificates",
          usageLine: "Usage: cairn tls cert <subcommand> [options]",
          children: {
            create: leaf(
              "Create a new certificate",
              async () => (await import("./commands/tls.js")).tlsCertCreate,
            ),
          },
        },
      },
    },
    version: leaf("Prints the cairn version", loadVersion),
    watch: leaf("Watch for changes in Consul", async () => (await import("./commands/watch.js")).watch),
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
  if (VERSION_ARGS.has(argv[0] ?? "")) return (await loadVersion()).run([], io);
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
  return (await node.load()).run(argv.slice(i), io);
}
