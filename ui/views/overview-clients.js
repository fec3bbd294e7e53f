/**
 * The overview's client agents: every node the leader keeps a `serfHealth` check for that is not a server (the
 * rule `members` follows, docs/membership.md: a server runs the `consul` service), with its address, serfHealth's
 * status and output, and its services count. A token that may read nodes but not the `consul` service hides that
 * service, so the servers are also taken from `/v1/agent/members` (role `consul`; it needs node read only).
 *
 * Two blocking queries carry it, whatever the number of clients: the serfHealth checks (`/v1/health/state/any`,
 * filtered to them), which say which agents exist and whether they are alive, and `/v1/catalog/services`, whose
 * index moves when any service is registered or removed. The public API has no read of every node's services at
 * once, so the address and services of each agent node are read (`/v1/catalog/node/<name>`, plain GETs, a few at
 * a time) when the index of one of the two answers moves, never on a timer. Per-node blocking queries would hold
 * one connection each, and a browser opens at most six to the agent: they would starve every other read.
 */

import { ApiError, follow, getJson } from "../api.js";
import { errorAlert } from "../parts.js";
import { html, nothing } from "../vendor/lit-html.js";

const SERF_CHECKS = `/v1/health/state/any?filter=${encodeURIComponent('CheckID == "serfHealth"')}`;
/** Node reads in flight at once during a refresh: leaves the browser's other connections free. */
const NODE_READS_AT_ONCE = 2;

/**
 * One row per client agent, sorted by name: serfHealth checks joined with the nodes' catalog entries (`nodes`:
 * name → { Node, Services }, null when gone, absent until read). A node running `consul` or named in `servers`
 * (the members whose role is `consul`) is a server.
 */
export function clientRows(checks, nodes, servers = new Set()) {
  const rows = [];
  for (const c of checks) {
    if (c.CheckID !== "serfHealth" || servers.has(c.Node)) continue;
    const entry = nodes.get(c.Node);
    // Not read yet (a new agent, listed after its read) or deregistered meanwhile.
    if (entry === undefined || entry === null) continue;
    const services = Object.values(entry.Services ?? {});
    if (services.some((s) => s.Service === "consul")) continue;
    rows.push({
      name: c.Node,
      address: entry.Node.Address,
      // Anything but passing is a failed agent: Consul's members shows a critical serfHealth as failed.
      alive: c.Status === "passing",
      output: c.Output ?? "",
      services: services.length,
    });
  }
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The warning above the table, or null: names up to five failed agents and counts the rest. */
export function clientWarning(rows) {
  const failed = rows.filter((r) => !r.alive).map((r) => r.name);
  if (failed.length === 0) return null;
  const named = failed.slice(0, 5).join(", ") + (failed.length > 5 ? ` and ${failed.length - 5} more` : "");
  return failed.length === 1
    ? `Client agent ${named} has failed: the servers have not heard from it (its serfHealth is critical).`
    : `${failed.length} client agents have failed: ${named} (their serfHealth is critical).`;
}

/**
 * The section's state and loops; `update()` re-renders the page. `template()` draws it; `stop()` ends it.
 * `ctx` is the view's context (its `track` reports reaching and losing the agent).
 */
export function clientsSection(ctx, signal) {
  /** The serfHealth checks of every agent node (servers' included). */
  const checks = { data: null, error: null };
  /** /v1/catalog/services: only its arrival matters (a service somewhere changed). */
  const services = { data: null, error: null };
  /** name → the node's catalog entry ({ Node, Services }), or null when it is gone. */
  const nodes = new Map();
  /** Node names of the members whose role is `consul`, as of the last refresh. */
  let servers = new Set();
  let nodesError = null;
  let refreshing = false;
  let again = false;

  async function readNode(name) {
    const r = await getJson(`/v1/catalog/node/${encodeURIComponent(name)}`, { signal });
    nodes.set(name, r.json);
  }

  /** Reads every agent node once; a change while it runs makes it run once more after, never twice at once. */
  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      do {
        again = false;
        const names = new Set((checks.data ?? []).map((c) => c.Node));
        for (const n of [...nodes.keys()]) if (!names.has(n)) nodes.delete(n);
        try {
          const members = await getJson("/v1/agent/members", { signal }).catch((e) => {
            if (e instanceof ApiError) return { json: null }; // refused: the `consul` service alone tells
            throw e;
          });
          if (members.json !== null) {
            servers = new Set(members.json.filter((m) => m.Tags?.role === "consul").map((m) => m.Name));
          }
          const toRead = [...names].filter((n) => !servers.has(n));
          let next = 0;
          const worker = async () => {
            while (next < toRead.length && !signal.aborted) await readNode(toRead[next++]);
          };
          await Promise.all(Array.from({ length: NODE_READS_AT_ONCE }, worker));
          nodesError = null;
        } catch (e) {
          if (signal.aborted) return;
          // The blocking queries' own retries report the agent's absence; this keeps the last rows shown.
          nodesError = e;
        }
        ctx.update();
      } while (again && !signal.aborted);
    } finally {
      refreshing = false;
    }
  }

  /**
   * Follows `path` into `live`, refreshing the nodes when its index moves: a round that ends at its wait with
   * nothing changed reads nothing more.
   */
  function followAndRefresh(path, live, toData) {
    const tracked = ctx.track(live, toData);
    let last = null;
    follow(path, {
      signal,
      onError: tracked.onError,
      onData: (d, index) => {
        tracked.onData(d);
        if (index === last) return;
        last = index;
        refresh();
      },
    });
  }
  followAndRefresh(SERF_CHECKS, checks, (d) => d ?? []);
  followAndRefresh("/v1/catalog/services", services, (d) => d ?? {});

  function row(r) {
    return html`<tr data-client=${r.name} data-state=${r.alive ? "alive" : "failed"}>
      <th scope="row">${r.name}</th>
      <td>${r.address}</td>
      <td>${r.alive ? html`<span class="badge ok">alive</span>` : html`<span class="badge bad">failed</span>`}</td>
      <td class="wrap">${r.output}</td>
      <td class="num">${r.services}</td>
    </tr>`;
  }

  return {
    template() {
      const error = checks.error ?? services.error ?? nodesError;
      const body =
        checks.data === null
          ? error === null
            ? html`<p class="muted">Loading…</p>`
            : nothing
          : (() => {
              const rows = clientRows(checks.data, nodes, servers);
              const warning = clientWarning(rows);
              return html`${warning === null ? nothing : html`<p class="alert warn" role="alert">${warning}</p>`}
              ${
                rows.length === 0
                  ? html`<p class="muted">No client agents (or the token may read none).</p>`
                  : html`<div class="scroll" role="region" aria-label="Client agents" tabindex="0">
                    <table>
                      <caption>
                        Client agents: ${rows.filter((r) => r.alive).length} alive, ${rows.filter((r) => !r.alive).length}
                        failed
                      </caption>
                      <thead>
                        <tr>
                          <th scope="col">Name</th>
                          <th scope="col">Address</th>
                          <th scope="col">Serf health</th>
                          <th scope="col">Check output</th>
                          <th scope="col" class="num">Services</th>
                        </tr>
                      </thead>
                      <tbody>
                        ${rows.map(row)}
                      </tbody>
                    </table>
                  </div>`
              }`;
            })();
      return html`<section aria-labelledby="clients-heading">
        <h2 id="clients-heading">Client agents</h2>
        ${errorAlert(error)} ${body}
      </section>`;
    },
  };
}
