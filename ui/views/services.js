/**
 * The services view: the catalog's services (`#/services/`) with each one's worst check state at a glance, and one
 * service's instances (`#/services/<name>`) with node, address:port, tags and every check's status and output.
 * All reads are blocking queries, so the page follows changes without polling; with an ACL token the agent filters
 * what it answers, and the page simply shows fewer.
 */

import { follow } from "../api.js";
import { errorAlert } from "../parts.js";
import { html, nothing } from "../vendor/lit-html.js";

/** Worse states rank higher; the worst of a service's checks is its state. */
const RANK = { passing: 0, warning: 1, critical: 2 };

/** The worst of `statuses`, or "no checks" for none (an unknown status counts as critical: never hide it). */
export function worstState(statuses) {
  let worst = null;
  for (const s of statuses) {
    const r = RANK[s] ?? RANK.critical;
    if (worst === null || r > RANK[worst]) worst = RANK[s] === undefined ? "critical" : s;
  }
  return worst ?? "no checks";
}

function stateBadge(state) {
  const cls = state === "passing" ? "ok" : state === "warning" ? "warn" : state === "critical" ? "bad" : "";
  return html`<span class="badge state ${cls}">${state}</span>`;
}

export function serviceHash(name) {
  return `#/services/${encodeURIComponent(name)}`;
}

export function create(match, ctx) {
  let name = null;
  try {
    name = decodeURIComponent(match[1] ?? "");
  } catch {
    return {
      template: () =>
        html`<h1>Services</h1><p class="alert error" role="alert">Not a valid service name.</p>`,
      stop() {},
    };
  }
  return name === "" ? listView(ctx) : serviceView(name, ctx);
}

function listView(ctx) {
  const controller = new AbortController();
  /** name → tags, from /v1/catalog/services. */
  const services = { data: null, error: null };
  /** Every check with its ServiceName, from /v1/health/state/any: the states shown beside the names. */
  const checks = { data: null, error: null };
  follow("/v1/catalog/services", { signal: controller.signal, ...ctx.track(services, (d) => d ?? {}) });
  follow("/v1/health/state/any", { signal: controller.signal, ...ctx.track(checks, (d) => d ?? []) });

  function stateOf(svc) {
    if (checks.data === null) return html`<span class="muted">loading</span>`;
    const mine = checks.data.filter((c) => c.ServiceName === svc);
    return html`${stateBadge(worstState(mine.map((c) => c.Status)))}
      <span class="muted">${mine.length} check${mine.length === 1 ? "" : "s"}</span>`;
  }

  return {
    template() {
      const names = services.data === null ? [] : Object.keys(services.data).sort();
      return html`<h1>Services</h1>
        ${errorAlert(services.error ?? checks.error)}
        ${
          services.data === null
            ? services.error === null
              ? html`<p class="muted">Loading…</p>`
              : nothing
            : names.length === 0
              ? html`<p class="muted">No services are registered (or the token may read none).</p>`
              : html`<div class="scroll" role="region" aria-label="Services" tabindex="0">
                <table>
                  <caption>Services in the catalog and the worst state of their checks</caption>
                  <thead>
                    <tr><th scope="col">Service</th><th scope="col">State</th><th scope="col">Tags</th></tr>
                  </thead>
                  <tbody>
                    ${names.map(
                      (n) => html`<tr data-service=${n}>
                        <th scope="row"><a href=${serviceHash(n)}>${n}</a></th>
                        <td>${stateOf(n)}</td>
                        <td>${(services.data[n] ?? []).join(", ")}</td>
                      </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }`;
    },
    stop() {
      controller.abort();
    },
  };
}

function serviceView(name, ctx) {
  const controller = new AbortController();
  /** The instances of /v1/health/service/<name>: { Node, Service, Checks } each (node checks included). */
  const live = { data: null, error: null };
  follow(`/v1/health/service/${encodeURIComponent(name)}`, {
    signal: controller.signal,
    ...ctx.track(live, (d) => d ?? []),
  });

  function instance(e) {
    const address = e.Service.Address || e.Node.Address;
    const state = worstState(e.Checks.map((c) => c.Status));
    return html`<tr data-instance=${e.Service.ID} data-state=${state}>
      <th scope="row">${e.Service.ID}</th>
      <td>${e.Node.Node}</td>
      <td>${address}:${e.Service.Port}</td>
      <td>${(e.Service.Tags ?? []).join(", ")}</td>
      <td>${stateBadge(state)}</td>
      <td>
        ${
          e.Checks.length === 0
            ? html`<span class="muted">none</span>`
            : html`<ul class="checks">
              ${e.Checks.map(
                (c) => html`<li>
                  ${stateBadge(c.Status)} <span>${c.Name}</span>
                  ${c.ServiceID === "" ? html`<span class="muted">(node)</span>` : nothing}
                  ${c.Output ? html`<pre class="output">${c.Output}</pre>` : nothing}
                </li>`,
              )}
            </ul>`
        }
      </td>
    </tr>`;
  }

  return {
    template() {
      const all = live.data ?? [];
      return html`<h1>Service: ${name}</h1>
        <p><a href="#/services/">All services</a></p>
        ${errorAlert(live.error)}
        ${
          live.data === null
            ? live.error === null
              ? html`<p class="muted">Loading…</p>`
              : nothing
            : all.length === 0
              ? html`<p class="muted">No instances of ${name} (or the token may read none).</p>`
              : html`<p>State: ${stateBadge(worstState(all.flatMap((e) => e.Checks.map((c) => c.Status))))}</p>
                <div class="scroll" role="region" aria-label="Instances" tabindex="0">
                  <table>
                    <caption>Instances of ${name}, with every check (node checks included)</caption>
                    <thead>
                      <tr>
                        <th scope="col">Instance</th>
                        <th scope="col">Node</th>
                        <th scope="col">Address</th>
                        <th scope="col">Tags</th>
                        <th scope="col">State</th>
                        <th scope="col">Checks</th>
                      </tr>
                    </thead>
                    <tbody>${all.map(instance)}</tbody>
                  </table>
                </div>`
        }`;
    },
    stop() {
      controller.abort();
    },
  };
}
