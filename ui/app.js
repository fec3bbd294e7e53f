/**
 * The UI's shell: the views by hash route (#/ the overview, #/kv/… the KV browser), the navigation, the ACL token
 * field and the connection line. A view is a module exporting `route` (a RegExp on the hash) and
 * `create(match, ctx)` → { template(), stop() }; adding one is adding it to VIEWS.
 */

import { setToken, token, UnreachableError } from "./api.js";
import { html, render } from "./vendor/lit-html.js";
import * as kv from "./views/kv.js";
import * as overview from "./views/overview.js";

const VIEWS = [overview, kv];

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
    html`<a href="#/" aria-current=${name === "overview" ? "page" : "false"}>Overview</a>
      <a href="#/kv/" aria-current=${name === "kv" ? "page" : "false"}>Key/Value</a>`,
    navEl,
  );
}

function route() {
  const hash = location.hash === "" ? "#/" : location.hash;
  current?.view.stop();
  current = null;
  for (const module of VIEWS) {
    const match = module.route.exec(hash);
    if (match === null) continue;
    current = { name: module.name, view: module.create(match, ctx) };
    break;
  }
  renderNav(current?.name);
  if (current === null) {
    render(html`<h1>Not found</h1><p>No view at ${hash}. <a href="#/">Go to the overview</a>.</p>`, viewEl);
    return;
  }
  ctx.update();
  // Focus follows navigation, so a keyboard or screen reader user lands on the new view.
  viewEl.focus({ preventScroll: true });
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
window.addEventListener("hashchange", route);
route();
