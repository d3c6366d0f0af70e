// Every failure in words: the JSON error's own message (which names the
// field where there is one), never a stack trace or a status code alone.

import { ApiError } from "../client/index.js";
import { h } from "./dom.js";

export function errorText(err: unknown): string {
  if (typeof err === "string") return err;
  if (err instanceof ApiError) {
    const message = err.message.charAt(0).toUpperCase() + err.message.slice(1);
    return message.endsWith(".") ? message : `${message}.`;
  }
  return `Something went wrong in this page: ${String(err)}`;
}

/** A live region that shows the outcome of an action (success or error) to everyone, screen readers included. */
export function notice(): { element: HTMLElement; ok(text: string): void; fail(err: unknown): void } {
  const element = h("p", { class: "notice", role: "status", "aria-live": "polite" });
  return {
    element,
    ok(text) {
      element.className = "notice ok";
      element.setAttribute("role", "status");
      element.textContent = text;
    },
    fail(err) {
      element.className = "notice error";
      element.setAttribute("role", "alert");
      element.textContent = errorText(err);
    },
  };
}
