import type { PackageCard, TeacherCard } from "../../client/index.js";
import { action, h, show } from "../dom.js";
import { notice } from "../errors.js";
import { localDate, money, viewerZone, when } from "../format.js";
import { navigate, type Page } from "../main.js";
import { cartRefusal } from "../reasons.js";
import { client } from "../session.js";
import { week } from "../slots.js";
import { offers, policyText } from "./directory.js";

export const teacherWeekPage: Page = {
  title: "Open slots",
  async render(main, params, [teacherId]) {
    const api = client();
    const card = (await api.getTeachers({ teacher_id: teacherId })) as TeacherCard;
    const choices = [...card.lessons.map((l) => ({ value: String(l.duration_minutes), label: `${l.duration_minutes} minutes, ${money(l.price, card.currency)}` }))];
    if (card.trial) choices.push({ value: "trial", label: `Trial, ${card.trial.duration_minutes} minutes, ${money(card.trial.price, card.currency)}` });
    const chosen = params.get("duration") ?? choices[0]?.value ?? "60";
    const select = h("select", { id: "duration", onchange: () => navigate(`/teachers/${teacherId}?duration=${select.value}`) }, ...choices.map((c) => h("option", { value: c.value, selected: c.value === chosen }, c.label)));
    const status = notice();
    const slots = h("div");
    const trial = chosen === "trial";
    const minutes = trial ? card.trial!.duration_minutes : Number(chosen);
    // A package is bought on its own, straight to Stripe's page; its credits then book lessons from the cart.
    const buy = (p: PackageCard) => async () => {
      try {
        const origin = location.origin;
        const created = await api.initiateCheckout({
          package: { teacher_id: teacherId, lessons: p.lessons, duration_minutes: p.duration_minutes },
          success_url: `${origin}/checkout/success?checkout_id={CHECKOUT_ID}`,
          cancel_url: `${origin}/checkout/cancel?checkout_id={CHECKOUT_ID}`,
          timezone: viewerZone,
        });
        if (created.checkout_url) location.assign(created.checkout_url);
      } catch (err) {
        status.fail(err);
      }
    };
    const packages = card.packages.length
      ? h(
          "section",
          { class: "packages", "aria-labelledby": "packages" },
          h("h2", { id: "packages" }, "Lesson packages"),
          h("p", { class: "small" }, `Pay once, book later: each lesson takes a credit. Credits last ${card.package_valid_days} days from the payment; unused ones go to the teacher when they expire.`),
          h(
            "ul",
            { class: "offers" },
            ...card.packages.map((p) =>
              h(
                "li",
                {},
                h("span", {}, `${p.lessons} lessons of ${p.duration_minutes} min: ${money(p.price, card.currency)}${p.discount_percent ? ` (${p.discount_percent}% off)` : ""}`),
                action(`Buy ${p.lessons} lessons`, buy(p), { "aria-label": `Buy ${p.lessons} lessons of ${p.duration_minutes} minutes` }),
              ),
            ),
          ),
        )
      : null;
    show(
      main,
      h("h1", {}, card.name),
      h("p", {}, `${offers(card)}. ${policyText(card)}`),
      packages,
      h("p", {}, h("label", { for: "duration" }, "Lesson "), select),
      status.element,
      slots,
    );
    const addToCart = async (start: string) => {
      try {
        // Applied to the cart as stored, again if another tab changed it meanwhile.
        let already = false;
        const updated = await api.updateCart((items) => {
          already = items.some((item) => item.teacher_id === teacherId && item.start === start);
          return already ? undefined : [...items, { teacher_id: teacherId, start, duration_minutes: minutes, trial }];
        });
        if (already) return status.ok(`${when(start)} is already in your cart.`);
        status.ok(`Added ${when(start)} to your cart (${updated.items.length} in the cart, ${money(updated.total, updated.currency ?? card.currency)}).`);
      } catch (err) {
        status.fail(cartRefusal(err));
      }
    };
    await week(slots, {
      teacherId,
      duration: trial ? "trial" : minutes,
      from: params.get("from") ?? localDate(new Date()),
      pick: (slot) => addToCart(slot.start),
      label: (slot) => `Add ${when(slot.start)} to the cart`,
    });
  },
};
