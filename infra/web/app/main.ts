// The reference web app: a router over a few pages, each calling only the
// documented function URLs through the generated client.

import { h, onActionFailure, show } from "./dom.js";
import { current, loadConfig, signOut, type Role } from "./session.js";
import { errorText } from "./errors.js";
import { signInPage } from "./pages/signin.js";
import { directoryPage } from "./pages/directory.js";
import { teacherWeekPage } from "./pages/week.js";
import { cartPage } from "./pages/cart.js";
import { checkoutCancelPage, checkoutSuccessPage } from "./pages/checkout.js";
import { lessonsPage } from "./pages/lessons.js";
import { availabilityPage } from "./pages/availability.js";
import { earningsPage } from "./pages/earnings.js";
import { creditsPage } from "./pages/credits.js";

export interface Page {
  title: string;
  render(main: HTMLElement, params: URLSearchParams, match: string[]): Promise<void>;
}

const routes: [RegExp, Role[] | "anyone", Page][] = [
  [/^\/$/, "anyone", signInPage],
  [/^\/teachers$/, ["student", "admin"], directoryPage],
  [/^\/teachers\/([a-z][a-z0-9_-]*)$/, ["student"], teacherWeekPage],
  [/^\/cart$/, ["student"], cartPage],
  [/^\/checkout\/success$/, ["student"], checkoutSuccessPage],
  [/^\/checkout\/cancel$/, ["student"], checkoutCancelPage],
  [/^\/lessons$/, ["student", "teacher"], lessonsPage],
  [/^\/availability$/, ["teacher"], availabilityPage],
  [/^\/earnings$/, ["teacher"], earningsPage],
  [/^\/credits$/, ["student"], creditsPage],
  [/^\/admin\/teachers\/([a-z][a-z0-9_-]*)$/, ["admin"], availabilityPage],
];

const home: Record<Role, string> = { student: "/teachers", teacher: "/lessons", admin: "/teachers" };

export function navigate(path: string): void {
  history.pushState(null, "", path);
  void render();
}

function nav(role: Role | undefined): HTMLElement {
  const link = (path: string, label: string) => h("a", { href: path, "aria-current": location.pathname === path ? "page" : undefined }, label);
  const links: Record<Role, HTMLElement[]> = {
    student: [link("/teachers", "Teachers"), link("/cart", "Cart"), link("/lessons", "My lessons"), link("/credits", "My credits")],
    teacher: [link("/lessons", "My lessons"), link("/availability", "Availability"), link("/earnings", "Earnings")],
    admin: [link("/teachers", "Teachers")],
  };
  const user = current();
  return h(
    "nav",
    { "aria-label": "Main" },
    h("a", { href: user ? home[user.role] : "/", class: "brand" }, "Lessons"),
    ...(role ? links[role] : []),
    user ? h("span", { class: "who" }, `${user.name} (${user.role})`) : null,
    user ? h("button", { type: "button", class: "link", onclick: () => { signOut(); navigate("/"); } }, "Sign out") : null,
  );
}

async function render(): Promise<void> {
  const header = document.querySelector("header")!;
  const main = document.querySelector("main")!;
  const user = current();
  const found = routes.map(([pattern, roles, page]) => ({ match: pattern.exec(location.pathname), roles, page })).find((r) => r.match);
  show(header, nav(user?.role));
  failure.className = "notice";
  failure.textContent = "";
  if (!found) {
    document.title = "Not found · Lessons";
    show(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/" }, "Start again")));
    return;
  }
  if (found.roles !== "anyone" && (!user || !found.roles.includes(user.role))) {
    // Keep where the person was going (the success page after a sign-in, say).
    sessionStorage.setItem("lessons.after-sign-in", location.pathname + location.search);
    history.replaceState(null, "", "/");
    return render();
  }
  document.title = `${found.page.title} · Lessons`;
  // Each page draws into its own view: one still loading when the person moves on
  // draws into a view no longer shown, never over the page they moved to.
  const view = h("div", {}, h("p", { class: "loading" }, "Loading…"));
  show(main, view);
  try {
    await found.page.render(view, new URLSearchParams(location.search), found.match!.slice(1));
  } catch (err) {
    show(view, h("h1", {}, found.page.title), h("p", { role: "alert", class: "error" }, errorText(err)));
  }
  // A new page is announced by moving focus to its heading, as a page load would.
  const heading = view.querySelector("h1");
  if (heading && view.isConnected && !view.contains(document.activeElement)) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// What an action fails with, when its page does not say it itself.
const failure = document.getElementById("failure")!;
onActionFailure((err) => {
  failure.className = "notice error";
  failure.textContent = errorText(err);
});

document.addEventListener("click", (event) => {
  const link = (event.target as Element).closest("a");
  if (link && link.origin === location.origin && !link.target && !event.metaKey && !event.ctrlKey) {
    event.preventDefault();
    navigate(link.pathname + link.search);
  }
});
window.addEventListener("popstate", () => void render());
void loadConfig().then(render, (err) => show(document.querySelector("main")!, h("p", { role: "alert", class: "error" }, errorText(err))));
