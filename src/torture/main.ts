import { FAULT_KINDS, type FaultKind } from "./faults.js";
import { runTorture, TORTURE_BUGS, type TortureBug } from "./run.js";

/**
 * `npm run torture -- --servers 3|5 --minutes N --faults kill,pause,partition,clock,disk [--seed S] [--workers W]`: a real
 * datacenter of cairn processes under faults while clients write and read; exit 0 on a pass, 1 on a failure
 * (with its reproducer), 2 on bad flags.
 */
interface Args {
  servers: number;
  minutes: number;
  faults: FaultKind[];
  seed: number;
  workers: number;
  bug?: TortureBug;
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: torture --servers 3|5 --minutes N --faults ${FAULT_KINDS.join(",")} [--seed S] [--workers W] [--bug ${TORTURE_BUGS.join("|")}]\n`,
  );
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    servers: 3,
    minutes: 1,
    faults: [...FAULT_KINDS],
    seed: Date.now() % 1_000_000,
    workers: 6,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`flag needs an argument: ${flag}`);
      return v;
    };
    const int = (min: number, max: number): number => {
      const v = value();
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < min || n > max)
        usage(`invalid value "${v}" for ${flag}: must be an integer from ${min} to ${max}`);
      return n;
    };
    if (flag === "--servers") {
      a.servers = int(3, 5);
      if (a.servers === 4) usage('invalid value "4" for --servers: must be 3 or 5');
    } else if (flag === "--minutes") {
      const v = value();
      a.minutes = Number(v);
      if (!(a.minutes > 0 && a.minutes <= 24 * 60))
        usage(`invalid value "${v}" for --minutes: must be a number of minutes above 0, at most 1440`);
    } else if (flag === "--faults") {
      const v = value();
      const kinds = v === "" || v === "none" ? [] : v.split(",");
      for (const k of kinds) {
        if (!(FAULT_KINDS as readonly string[]).includes(k))
          usage(`unknown fault "${k}" in --faults: the faults are ${FAULT_KINDS.join(", ")}`);
      }
      a.faults = kinds as FaultKind[];
    } else if (flag === "--seed") a.seed = int(0, Number.MAX_SAFE_INTEGER);
    else if (flag === "--workers") a.workers = int(1, 64);
    else if (flag === "--bug") {
      const v = value();
      const bug = TORTURE_BUGS.find((b) => b === v);
      if (bug === undefined) usage(`unknown bug "${v}": the bugs are ${TORTURE_BUGS.join(", ")}`);
      else a.bug = bug;
    } else usage(`unknown flag "${flag}"`);
  }
  return a;
}

const args = parseArgs(process.argv.slice(2));
// exit runs the datacenter's exit hook, which kills every agent this run started.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
const report = await runTorture({ ...args, progress: (line) => process.stderr.write(`${line}\n`) });
process.stdout.write(`${report.text}\n`);
// Exit now: nothing of the run may keep the process alive (its agents are already gone).
process.exit(report.passed ? 0 : 1);
