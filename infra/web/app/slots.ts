// A week of a teacher's open slots, in the viewer's zone, each a button.

import type { Schemas } from "../client/index.js";
import { action, h, show } from "./dom.js";
import { addDays, clock, day, localDate, viewerZone } from "./format.js";
import { client } from "./session.js";

export type Slot = Schemas["Interval"];

export interface WeekOptions {
  teacherId: string;
  duration: number | "trial";
  from: string;
  /** What choosing a slot does; a failure it throws is the caller's to show. */
  pick(slot: Slot): Promise<void>;
  /** The words of a slot's button for screen readers. */
  label(slot: Slot): string;
}

/** Renders the week starting `from` into `into`, with buttons to move a week either way. */
export async function week(into: HTMLElement, options: WeekOptions): Promise<void> {
  const to = addDays(options.from, 6);
  const page = await client().getSlots({ teacher_id: options.teacherId, from: options.from, to, duration: options.duration, tz: viewerZone });
  const byDay = new Map<string, Slot[]>();
  for (const slot of page.slots) {
    const date = localDate(slot.start);
    byDay.set(date, [...(byDay.get(date) ?? []), slot]);
  }
  const days = Array.from({ length: 7 }, (_, i) => addDays(options.from, i));
  const move = (days: number) => action(days < 0 ? "Previous week" : "Next week", () => week(into, { ...options, from: addDays(options.from, days) }));
  show(
    into,
    h("p", { class: "small" }, `Times in your zone, ${viewerZone}. The teacher works in ${page.teacher_timezone}.`),
    h("div", { class: "week-nav" }, move(-7), h("span", {}, `${day(options.from)} – ${day(to)}`), move(7)),
    h(
      "div",
      { class: "week" },
      ...days.map((date) => {
        const slots = byDay.get(date) ?? [];
        return h(
          "section",
          { class: "day", "aria-label": day(date) },
          h("h3", {}, day(date)),
          slots.length
            ? h("ul", { class: "slots" }, ...slots.map((slot) => h("li", {}, action(clock(slot.start), () => options.pick(slot), { "aria-label": options.label(slot), "data-start": slot.start }))))
            : h("p", { class: "small" }, "No open slot"),
        );
      }),
    ),
  );
}
