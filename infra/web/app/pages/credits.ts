import type { Grant } from "../../client/index.js";
import { action, h, show } from "../dom.js";
import { notice } from "../errors.js";
import { money, when } from "../format.js";
import type { Page } from "../main.js";
import { client } from "../session.js";

const words: Record<Grant["status"], string> = {
  active: "Active",
  used_up: "All used",
  expired: "Expired",
  refunded: "Unused credits refunded",
  revoked: "Taken back with the payment",
};

/** The student's packages: what is left of each, until when, and its history. */
export const creditsPage: Page = {
  title: "My credits",
  async render(main) {
    const api = client();
    const status = notice();
    const body = h("div");
    const draw = async () => {
      const { grants } = await api.credits();
      const refund = (g: Grant) => async () => {
        try {
          const done = await api.refundCredits(g.grant_id);
          await draw();
          status.ok(`Refunded ${money(done.refund?.amount ?? 0, done.currency)} for ${g.remaining} unused credit${g.remaining === 1 ? "" : "s"} (${done.refund?.status ?? "pending"}).`);
        } catch (err) {
          status.fail(err);
        }
      };
      const line = (g: Grant) =>
        h(
          "li",
          { class: "grant", "data-grant": g.grant_id, "data-remaining": g.remaining, "data-status": g.status },
          h("h2", {}, `${g.credits} × ${g.duration_minutes} min with ${g.teacher_name}`),
          h("p", {}, h("strong", {}, `${g.remaining} of ${g.credits} left`), ` · ${words[g.status]} · bought ${when(g.created_at)} for ${money(g.price, g.currency)}`),
          g.status === "active" ? h("p", {}, `Use them by ${when(g.expires_at)}; unused credits go to your teacher then.`) : null,
          g.status === "active" ? h("p", {}, h("a", { href: `/teachers/${g.teacher_id}?duration=${g.duration_minutes}`, class: "button" }, "Pick lessons")) : null,
          g.refund ? h("p", { class: "small" }, `Refund of ${money(g.refund.amount, g.currency)}: ${g.refund.status}.`) : null,
          g.status === "active" && new Date(g.refundable_until) > new Date() && g.refundable_amount > 0
            ? h(
                "p",
                { class: "small" },
                `Changed your mind? Until ${when(g.refundable_until)} the unused credits can be refunded (${money(g.refundable_amount, g.currency)}). `,
                action("Refund unused credits", refund(g)),
              )
            : null,
          h(
            "details",
            {},
            h("summary", {}, "History"),
            h("ul", { class: "history" }, ...g.history.map((e) => h("li", {}, `${when(e.at)}: ${e.what} ${e.credits} credit${e.credits === 1 ? "" : "s"}${e.booking_id ? ` (${e.booking_id})` : ""}`))),
          ),
        );
      show(body, grants.length ? h("ul", { class: "grants" }, ...grants.map(line)) : h("p", {}, "No credits yet. A teacher's page offers their lesson packages. ", h("a", { href: "/teachers" }, "Find a teacher")));
    };
    show(main, h("h1", {}, "My credits"), status.element, body);
    await draw();
  },
};
