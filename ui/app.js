/**
 * The UI's shell: the views by hash route (#/ the overview, #/kv/… the KV browser, #/services/… the services,
 * #/snapshots the snapshots, #/backups the snapshot agent's history), the navigation, the ACL token field and the connection line. A view is a module
 * exporting `create(match, ctx)` → { template(), stop() }; adding one is adding a row to VIEWS. Views are
 * imported when first shown, so the first page carries only its own (a charting view's library is not paid for
 * by the overview).
 */

import { setToken, token, UnreachableError } from "./api.js";
import { html, render } from "./vendor/lit-html.js";

/** name, the hash it answers (its groups are the view's `match`), the navigation label, and its module. */
const VIEWS = [
  { name: "overview", route: /^#\/?$/, nav: ["#/", "Overview"], load: () => import("./views/overview.js") },
  { name: "kv", route: /^#\/kv\/(.*)$/, nav: ["#/kv/", "Key/Value"], load: () => import("./views/kv.js") },
  {
    name: "services",
    route: /^#\/services\/?(.*)$/,
    nav: ["#/services/", "Services"],
    load: () => import("./views/services.js"),
  },
  {
    name: "snapshots",
    route: /^#\/snapshots\/?$/,
    nav: ["#/snapshots", "Snapshots"],
    load: () => import("./views/snapshots.js"),
  },
  {
    name: "backups",
    route: /^#\/backups\/?(.*)$/,
    nav: ["#/backups", "Backups"],
    load: () => import("./views/backups.js"),
  },
];

const viewEl = document.getElementById("view");
const navEl = document.getElementById("nav");
const connectionEl = document.getElementById("connection");
const tokenForm = document.getElementById("token-form");
const tokenInput = document.getElementById("token");

let current = null;

/** What every view is given: re-render, report reachability, and navigate. */
const ctx = {
  update: () => {
    if (current !== null) render(current.view.template(), viewEl);
  },
  /** Any answer from the agent, errors included, means it is reachable again. */
  reached: () => {
    connectionEl.textContent = "";
  },
  /** A failure: a dead agent is shown once, on the connection line; other errors are the view's to show. */
  failed: (e) => {
    if (e instanceof UnreachableError) connectionEl.textContent = `Reconnecting to the agent… (${e.message})`;
    else ctx.reached();
  },
  /**
   * The onData/onError of a follow or poll that keep the latest answer in `live.data` (or the failure in
   * `live.error`), report reachability and re-render.
   */
  track: (live, toData = (d) => d) => ({
    onData: (d) => {
      live.data = toData(d);
      live.error = null;
      ctx.reached();
      ctx.update();
    },
    onError: (e) => {
      live.error = e;
      ctx.failed(e);
      ctx.update();
    },
  }),
  go: (hash) => {
    location.hash = hash;
  },
};

function renderNav(name) {
  render(
    VIEWS.map(
      (v) => html`<a href=${v.nav[0]} aria-current=${v.name === name ? "page" : "false"}>${v.nav[1]}</a>`,
    ),
    navEl,
  );
}

/** Bumped by every navigation, so a view whose module arrives after the user moved on is not shown. */
let navigation = 0;

async function route() {
  const hash = location.hash === "" ? "#/" : location.hash;
  const seq = ++navigation;
  current?.view.stop();
  current = null;
  const entry = VIEWS.find((v) => v.route.test(hash));
  renderNav(entry?.name);
  if (entry !== undefined) {
    let module;
    try {
      module = await entry.load();
    } catch (e) {
      if (seq !== navigation) return;
      render(html`<h1>Unavailable</h1><p class="alert error" role="alert">${e.message}</p>`, viewEl);
      return;
    }
    if (seq !== navigation) return;
    current = { name: entry.name, view: module.create(entry.route.exec(hash), ctx) };
  }
  if (current === null) {
    render(html`<h1>Not found</h1><p>No view at ${hash}. <a href="#/">Go to the overview</a>.</p>`, viewEl);
    return;
  }
  ctx.update();
  // Focus follows navigation, so a keyboard or screen reader user lands on the new view; a fresh load starts
  // at the top of the page as usual (the skip link first).
  if (seq > 1) viewEl.focus({ preventScroll: true });
}

tokenInput.value = token();
tokenForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  setToken(tokenInput.value.trim());
  route();
});
document.getElementById("token-clear").addEventListener("click", () => {
  tokenInput.value = "";
  setToken("");
  route();
});
// The skip link's "#view" would be taken for a route: it moves focus instead.
document.querySelector("a.skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  viewEl.focus();
});
window.addEventListener("hashchange", route);
route();
