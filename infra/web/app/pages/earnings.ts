import type { PayoutsView } from "../../client/index.js";
import { action, h, show } from "../dom.js";
import { notice } from "../errors.js";
import { money, when } from "../format.js";
import type { Page } from "../main.js";
import { client } from "../session.js";

type Earning = PayoutsView["earnings"][number];

const accountStates: Record<PayoutsView["account"]["status"], string> = {
  not_started: "Payouts are not set up yet. Your earnings are kept and go out once you finish Stripe's onboarding.",
  details_due: "Stripe still needs some details from you before it can pay you.",
  restricted: "Stripe cannot pay you at the moment. Open Stripe's onboarding again to see what it needs.",
  active: "Payouts are active: each lesson's earning goes to your Stripe account once its claim window has passed.",
};

const statuses: Record<Earning["status"], string> = { pending: "In the claim window", due: "Due", transferred: "Paid", none: "Nothing earned", failed: "Held by an operator" };

const bases: Record<Earning["basis"], string> = { completed: "Lesson taught", student_no_show: "Student did not come", late_cancel: "Late cancellation", teacher_no_show: "You did not come", credits_expired: "Package credits expired unused" };

export const earningsPage: Page = {
  title: "Earnings",
  async render(main, params) {
    const api = client();
    const status = notice();
    // Stripe sends the teacher back here: `refresh` when the link was used or
    // expired (a new one is made at once), `done` when they finished.
    if (params.get("onboarding") === "refresh") {
      const link = await api.startOnboarding();
      location.assign(link.url);
      return;
    }
    const view = await api.payouts({ limit: 50 });
    if (params.get("onboarding") === "done") {
      status.ok(view.account.status === "active" ? "Stripe has your details: payouts are active." : "Thank you. Stripe is checking your details; this page shows when payouts are active.");
    }
    const onboard = action(view.account.status === "not_started" ? "Set up payouts with Stripe" : "Continue with Stripe", async () => {
      const link = await api.startOnboarding();
      location.assign(link.url);
    });
    const account = h(
      "section",
      { "aria-labelledby": "account-heading" },
      h("h2", { id: "account-heading" }, "Your payout account"),
      h("p", { "data-account-status": view.account.status }, accountStates[view.account.status]),
      view.account.on_hold ? h("p", { class: "notice error" }, "An operator has paused your payouts. What you earned stays due.") : null,
      view.account.currently_due.length > 0 ? h("p", { class: "small" }, `Stripe asks for: ${view.account.currently_due.join(", ")}.`) : null,
      view.account.status === "active" ? null : onboard,
      h("p", { class: "small" }, `The platform keeps ${view.commission_percent}% of what each lesson earned; a lesson is paid ${view.hold_hours} hours after it ends.`),
    );
    const totals = Object.entries(view.totals).map(([currency, t]) =>
      h("li", {}, `${currency.toUpperCase()}: ${money(t.pending, currency)} in the claim window, ${money(t.due, currency)} due, ${money(t.transferred, currency)} paid`, t.reversed > 0 ? `, ${money(t.reversed, currency)} taken back after refunds` : ""),
    );
    const rows = view.earnings.map((e) =>
      h(
        "tr",
        { "data-booking": e.booking_id, "data-status": e.status },
        h("td", {}, when(e.lesson_end)),
        h("td", {}, bases[e.basis]),
        h("td", {}, statuses[e.status], e.status === "due" && e.waiting ? h("span", { class: "small" }, ` (${e.waiting})`) : null, e.status === "pending" ? h("span", { class: "small" }, ` until ${when(e.transferable_at)}`) : null),
        h("td", { class: "amount" }, money(e.amount, e.currency), e.reversed > 0 ? h("span", { class: "small" }, ` (${money(e.reversed, e.currency)} taken back)`) : null),
        h("td", {}, e.transfer_id ? h("code", {}, e.transfer_id) : "–"),
      ),
    );
    show(
      main,
      h("h1", {}, "Earnings"),
      status.element,
      account,
      h(
        "section",
        { "aria-labelledby": "earnings-heading" },
        h("h2", { id: "earnings-heading" }, "Lessons"),
        totals.length > 0 ? h("ul", { class: "totals" }, ...totals) : null,
        rows.length > 0
          ? h("div", { class: "ledger", tabindex: 0, role: "region", "aria-label": "What each lesson earned you" }, h("table", {}, h("caption", {}, "What each lesson earned you"), h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Lesson ended"), h("th", { scope: "col" }, "Why"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Amount"), h("th", { scope: "col" }, "Stripe transfer"))), h("tbody", {}, ...rows)))
          : h("p", {}, "No lesson has earned anything yet: a lesson earns once it has taken place."),
      ),
    );
  },
};
