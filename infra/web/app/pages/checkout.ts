import type { Checkout } from "../../client/index.js";
import { h, show } from "../dom.js";
import { errorText } from "../errors.js";
import { money } from "../format.js";
import type { Page } from "../main.js";
import { client } from "../session.js";

const POLL_MS = 2000;
const GIVE_UP_MS = 3 * 60 * 1000;

const words: Record<Checkout["status"], string> = {
  awaiting_payment: "Waiting for the payment to be confirmed…",
  payment_pending: "Your payment is on its way (a bank payment can take a few days). Your lessons are held and will be booked when it arrives.",
  confirmed: "Paid and booked.",
  expired: "This checkout expired before it was paid; nothing was charged.",
  failed: "The payment did not go through; nothing was charged.",
  refunded: "The lessons were taken before your payment arrived, so it was refunded in full.",
  partially_refunded: "Some lessons were taken before your payment arrived; those were refunded and the others booked.",
  needs_attention: "Something needs a person's attention; we will be in touch. Your money is safe.",
};

export const checkoutSuccessPage: Page = {
  title: "Payment",
  async render(main, params) {
    const id = params.get("checkout_id");
    const state = h("p", { role: "status", "aria-live": "polite", "data-status": "" });
    const more = h("div");
    show(main, h("h1", {}, "Your payment"), state, more);
    if (!id) {
      state.textContent = "No checkout to look at: this page needs ?checkout_id=.";
      return;
    }
    const started = Date.now();
    // Reload or open this page in another tab: the id in the URL is all it needs.
    for (;;) {
      try {
        const checkout = await client().getCheckout(id);
        state.textContent = checkout.status === "confirmed" && checkout.package ? "Paid: your credits are ready." : checkout.pay_with === "credits" ? "Booked with your credits." : words[checkout.status];
        state.dataset.status = checkout.status;
        if (checkout.package) {
          const p = checkout.package;
          const bought = `${p.lessons} credits for ${p.duration_minutes}-minute lessons with ${p.teacher_name}, ${money(checkout.amount_total, checkout.currency)}, valid ${p.valid_days} days from the payment. `;
          show(more, h("p", {}, bought, h("a", { href: "/credits" }, "See my credits"), " · ", h("a", { href: `/teachers/${p.teacher_id}?duration=${p.duration_minutes}` }, "Pick lessons")));
        } else if (checkout.pay_with === "credits") {
          const booked = checkout.booking_ids.length;
          show(more, h("p", {}, `${booked} lesson${booked === 1 ? "" : "s"} booked, one credit each. `, h("a", { href: "/lessons" }, "See my lessons"), " · ", h("a", { href: "/credits" }, "See my credits")));
        } else if (checkout.status === "confirmed" || checkout.status === "partially_refunded") {
          const booked = checkout.booking_ids.length;
          show(more, h("p", {}, `${booked} lesson${booked === 1 ? "" : "s"} booked, ${money(checkout.amount_total, checkout.currency)}. `, h("a", { href: "/lessons" }, "See my lessons")));
        }
        if (!["awaiting_payment", "payment_pending"].includes(checkout.status)) return;
      } catch (err) {
        state.textContent = errorText(err);
      }
      // Stop when the person has moved on to another page.
      if (Date.now() - started > GIVE_UP_MS || !state.isConnected) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  },
};

export const checkoutCancelPage: Page = {
  title: "Payment cancelled",
  async render(main, params) {
    const id = params.get("checkout_id");
    if (id) await client().abandonCheckout(id);
    show(main, h("h1", {}, "Payment cancelled"), h("p", {}, "Nothing was charged, and the slots were released. Your cart still holds the lessons."), h("p", {}, h("a", { href: "/cart" }, "Back to the cart")));
  },
};
