/** Pieces of markup more than one view uses. */
import { html, nothing } from "./vendor/lit-html.js";

/** A failure as the agent worded it (a 403's reason included), announced to screen readers; nothing for null. */
export function errorAlert(error) {
  return error === null ? nothing : html`<p class="alert error" role="alert">${error.message}</p>`;
}
