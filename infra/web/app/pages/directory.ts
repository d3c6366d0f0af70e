import type { TeacherCard } from "../../client/index.js";
import { h, show } from "../dom.js";
import { money, when } from "../format.js";
import type { Page } from "../main.js";
import { client, current } from "../session.js";

export function policyText(card: Pick<TeacherCard, "cancellation">): string {
  const p = card.cancellation;
  const late = p.late_cancel_refund_percent > 0 ? `, then ${p.late_cancel_refund_percent}% back until the start` : "";
  return `Free cancellation until ${p.free_cancel_hours} h before${late}. Reschedule until ${p.reschedule_hours} h before, up to ${p.max_reschedules} times.`;
}

export function offers(card: TeacherCard): string {
  const lessons = card.lessons.map((l) => `${l.duration_minutes} min ${money(l.price, card.currency)}`);
  if (card.trial) lessons.push(`trial ${card.trial.duration_minutes} min ${money(card.trial.price, card.currency)}`);
  return lessons.join(" · ");
}

/** "Packages: 5 × 60 min €142.50 (5% off) · …", or nothing when the teacher offers none. */
export function packagesText(card: TeacherCard): string | null {
  if (!card.packages.length) return null;
  return `Packages: ${card.packages.map((p) => `${p.lessons} × ${p.duration_minutes} min ${money(p.price, card.currency)}${p.discount_percent ? ` (${p.discount_percent}% off)` : ""}`).join(" · ")}`;
}

export const directoryPage: Page = {
  title: "Teachers",
  async render(main) {
    const api = client();
    const cards: TeacherCard[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.getTeachers(cursor ? { cursor, limit: 50 } : { limit: 50 });
      if (!("teachers" in page)) break;
      cards.push(...page.teachers);
      cursor = page.next_cursor;
    } while (cursor);
    const admin = current()?.role === "admin";
    const card = (t: TeacherCard) =>
      h(
        "li",
        { class: "card" },
        h("h2", {}, t.name),
        h("p", {}, `Teaches in ${t.timezone}`),
        h("p", {}, offers(t)),
        packagesText(t) ? h("p", { class: "small" }, packagesText(t)) : null,
        h("p", { class: "small" }, policyText(t)),
        h("p", { class: "small" }, t.next_open_start ? `Next open: ${when(t.next_open_start)}` : "No open slot in the next two weeks"),
        admin ? h("a", { href: `/admin/teachers/${t.teacher_id}`, class: "button" }, `Edit ${t.name}'s availability`) : h("a", { href: `/teachers/${t.teacher_id}`, class: "button" }, `See ${t.name}'s week`),
      );
    show(main, h("h1", {}, "Teachers"), cards.length ? h("ul", { class: "cards" }, ...cards.map(card)) : h("p", {}, "No teachers yet."));
  },
};
