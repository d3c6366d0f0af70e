import { ApiError, type Cart, type CartItem, type Grant, type LessonPick } from "../../client/index.js";
import { action, h, show } from "../dom.js";
import { notice } from "../errors.js";
import { money, viewerZone, when } from "../format.js";
import { navigate, type Page } from "../main.js";
import { cartRefusal, unavailable } from "../reasons.js";
import { client } from "../session.js";

/** A 412 in the page's words (the cart on screen is not the cart any more); anything else as it is. */
const changedElsewhere = (err: unknown, outcome: string): unknown =>
  err instanceof ApiError && err.status === 412 ? `Your cart changed in another tab or on another device${outcome}` : err;

/** Whether the student's credits pay for every available item: one credit of its
 *  teacher and duration each, from grants that last past its start. */
function coveredByCredits(items: CartItem[], grants: Grant[]): boolean {
  const wanted = items.filter((i) => i.available);
  if (!wanted.length || wanted.some((i) => i.trial)) return false;
  const left = new Map(grants.filter((g) => g.status === "active").map((g) => [g.grant_id, g.remaining]));
  // Earliest lesson first, each from the grant expiring first: as the server assigns them.
  const byExpiry = grants.filter((g) => g.status === "active").sort((a, b) => a.expires_at.localeCompare(b.expires_at));
  for (const item of [...wanted].sort((a, b) => a.start.localeCompare(b.start))) {
    const grant = byExpiry.find((g) => g.teacher_id === item.teacher_id && g.duration_minutes === item.duration_minutes && g.expires_at > item.start && (left.get(g.grant_id) ?? 0) > 0);
    if (!grant) return false;
    left.set(grant.grant_id, (left.get(grant.grant_id) ?? 0) - 1);
  }
  return true;
}

export const cartPage: Page = {
  title: "Cart",
  async render(main) {
    const api = client();
    const status = notice();
    const body = h("div");
    let grants: Grant[] = [];
    const draw = (cart: Cart) => {
      const remove = (gone: CartItem) => async () => {
        try {
          // Removes this item from the cart as stored: what another tab added since stays.
          const same = (p: LessonPick) => p.teacher_id === gone.teacher_id && p.start === gone.start;
          let there = true;
          draw(await api.updateCart((items) => ((there = items.some(same)) ? items.filter((p) => !same(p)) : undefined), cart));
          status.ok(there ? `Removed ${when(gone.start)} from the cart.` : `${when(gone.start)} had already left the cart (another tab or device).`);
        } catch (err) {
          status.fail(cartRefusal(err));
          // The cart may have changed elsewhere (bought in another tab): show it as it is.
          draw(await api.readCart());
        }
      };
      const row = (item: CartItem) =>
        h(
          "li",
          { class: item.available ? "item" : "item unavailable" },
          h("span", { class: "what" }, `${item.teacher_name ?? item.teacher_id}: ${item.trial ? "trial, " : ""}${item.duration_minutes} min, ${when(item.start)}`),
          h("span", { class: "price" }, item.price !== null && cart.currency ? money(item.price, cart.currency) : ""),
          item.available ? null : h("span", { class: "reason" }, (item.reason && unavailable[item.reason]) || `Not available: ${item.message}`),
          action("Remove", remove(item), { "aria-label": `Remove ${when(item.start)} from the cart` }),
        );
      const checkout = action("Check out", async () => {
        try {
          const origin = location.origin;
          const created = await api.initiateCheckout({
            from_cart: true,
            // Exactly what this page shows: a cart changed in another tab since is a 412, not bought unseen.
            cart_version: cart.version,
            success_url: `${origin}/checkout/success?checkout_id={CHECKOUT_ID}`,
            cancel_url: `${origin}/checkout/cancel?checkout_id={CHECKOUT_ID}`,
            // The student's notices give times in their own zone.
            timezone: viewerZone,
          });
          if (created.checkout_url) location.assign(created.checkout_url);
          else navigate(`/checkout/success?checkout_id=${created.checkout_id}`);
        } catch (err) {
          status.fail(changedElsewhere(err, " since this page showed it, so nothing was bought. This is the cart now; check it and check out again."));
          // What changed since (a slot taken in another tab) is flagged on a fresh read.
          draw(await api.readCart());
        }
      });
      const withCredits = action("Book with credits", async () => {
        try {
          const booked = await api.initiateCheckout({ from_cart: true, cart_version: cart.version, pay_with: "credits", timezone: viewerZone });
          navigate(`/checkout/success?checkout_id=${booked.checkout_id}`);
        } catch (err) {
          status.fail(changedElsewhere(err, " since this page showed it, so nothing was booked. This is the cart now; check it and book again."));
          grants = (await api.credits()).grants;
          draw(await api.readCart());
        }
      });
      const credits = coveredByCredits(cart.items, grants);
      // Only the cart the student is looking at: what another tab added since is theirs to see first.
      const empty = async () => {
        try {
          draw(await api.clearCart(cart.version));
          status.ok("The cart is empty.");
        } catch (err) {
          status.fail(changedElsewhere(err, ", so nothing was removed. This is the cart now; empty it again if you still want to."));
          draw(await api.readCart());
        }
      };
      const available = cart.items.filter((i) => i.available).length;
      show(
        body,
        cart.items.length ? h("ul", { class: "cart" }, ...cart.items.map(row)) : h("p", {}, "Your cart is empty. ", h("a", { href: "/teachers" }, "Find a teacher")),
        cart.items.length ? h("p", { class: "total" }, `Total for ${available} lesson${available === 1 ? "" : "s"}: ${cart.currency ? money(cart.total, cart.currency) : "—"}`) : null,
        cart.items.length ? h("div", { class: "actions" }, credits ? withCredits : null, checkout, action("Empty the cart", empty)) : null,
        credits ? h("p", { class: "small" }, "Your package credits cover these lessons: booking with them takes one credit each, with no payment.") : null,
        cart.expires_at ? h("p", { class: "small" }, `Kept until ${when(cart.expires_at)} unless you change it.`) : null,
      );
    };
    show(main, h("h1", {}, "Cart"), status.element, body);
    const [cart, held] = await Promise.all([api.readCart(), api.credits()]);
    grants = held.grants;
    draw(cart);
  },
};
