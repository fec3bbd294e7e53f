/**
 * `cairn snapshot agent`: reads the configuration (refusing a bad one before anything runs), builds the client,
 * the stores, the metrics and the agent's own listener, then runs one shot (interval 0) or the daemon until
 * SIGINT/SIGTERM. Exit codes: 0 done, 1 bad configuration or a failed one-shot backup.
 */
import { ConsulClient } from "../client/index.js";
import { readKeyFile } from "../snapshot/index.js";
import { errorText } from "../util/errors.js";
import { makeLogger } from "../util/logger.js";
import { SnapshotAgent } from "./agent.js";
import {
  clientConfigOf,
  HelpRequested,
  parseSnapshotAgentArgs,
  type SnapshotAgentConfig,
  SnapshotAgentConfigError,
  snapshotAgentUsage,
} from "./config.js";
import { createAgentMetrics } from "./metrics.js";
import { healthOf, serveStatus } from "./status.js";
import { targetsOf } from "./targets.js";

export interface AgentIO {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
}

export async function runSnapshotAgent(argv: readonly string[], io: AgentIO): Promise<number> {
  let config: SnapshotAgentConfig;
  try {
    config = parseSnapshotAgentArgs(argv, io.env);
  } catch (e) {
    if (e instanceof HelpRequested) {
      io.stdout.write(`${snapshotAgentUsage()}\n`);
      return 0;
    }
    if (e instanceof SnapshotAgentConfigError) {
      io.stderr.write(`==> ${e.message}\n${e.showUsage ? `\n${snapshotAgentUsage()}\n` : ""}`);
      return 1;
    }
    throw e;
  }
  const log = makeLogger({ level: config.logLevel, json: config.logJson, component: "snapshot-agent" });
  let encryptionKey: Uint8Array | null = null;
  if (config.encryptionKeyFile !== "") {
    try {
      const k = await readKeyFile(config.encryptionKeyFile);
      if (k.warning !== null) log.warn(k.warning);
      encryptionKey = k.key;
    } catch (e) {
      io.stderr.write(`==> encryption_key_file: ${errorText(e)}\n`);
      return 1;
    }
  }
  let client: ConsulClient;
  try {
    client = new ConsulClient(clientConfigOf(config.http));
  } catch (e) {
    io.stderr.write(`==> ${errorText(e)}\n`);
    return 1;
  }
  const metrics = createAgentMetrics();
  try {
    const targets = await targetsOf(config, io.env);
    const agent = new SnapshotAgent({ config, client, targets, encryptionKey, metrics, log });
    if (config.intervalMs === 0) return await agent.runOnce();
    const stop = new AbortController();
    const onSignal = (sig: string) => () => {
      log.info(`Caught signal: ${sig}`);
      stop.abort();
    };
    process.once("SIGINT", onSignal("interrupt"));
    process.once("SIGTERM", onSignal("terminated"));
    const status =
      config.listen === ""
        ? null
        : await serveStatus(config.listen, metrics, () =>
            healthOf(agent.health(), config.intervalMs, Date.now()),
          );
    if (status !== null) log.info(`Serving /metrics and /health on http://${status.address}`);
    try {
      return await agent.run(stop.signal);
    } finally {
      status?.server.close();
      status?.server.closeAllConnections();
    }
  } catch (e) {
    io.stderr.write(`==> ${errorText(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}
