import type { ProfileDocument, VersionedProfile } from "../../client/index.js";
import { ApiError } from "../../client/index.js";
import { action, h, show } from "../dom.js";
import { notice } from "../errors.js";
import { day, majorUnits, minorUnits } from "../format.js";
import type { Page } from "../main.js";
import { client } from "../session.js";

const DAYS: [string, string][] = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];

/** "09:00-12:00, 13:00-17:00" → [["09:00","12:00"],["13:00","17:00"]]; an empty text is a day off. */
function parseRanges(text: string, what: string): string[][] {
  const parts = text.split(",").map((p) => p.trim()).filter(Boolean);
  return parts.map((part) => {
    const match = /^(\d{2}:\d{2})\s*[-–]\s*(\d{2}:\d{2})$/.exec(part);
    if (!match) throw new ApiError(400, "invalid_request", `${what}: "${part}" is not a range like 09:00-12:00`);
    return [match[1]!, match[2]!];
  });
}

const showRanges = (ranges: string[][] | undefined) => (ranges ?? []).map(([from, to]) => `${from}-${to}`).join(", ");

export const availabilityPage: Page = {
  title: "Availability",
  async render(main, _params, [teacherId]) {
    const api = client();
    const scope = teacherId ? { teacher_id: teacherId } : {};
    let profile: VersionedProfile = await api.readProfile(scope);
    const status = notice();
    const daysOff = new Set(Object.entries(profile.overrides ?? {}).filter(([, ranges]) => ranges.length === 0).map(([date]) => date));
    const weekly = DAYS.map(([key, name]) => ({ key, name, input: h("input", { id: `weekly-${key}`, value: showRanges(profile.weekly?.[key]), placeholder: "day off" }) }));
    const prices = profile.lessons.map((lesson) => ({ lesson, input: h("input", { id: `price-${lesson.duration_minutes}`, value: majorUnits(lesson.price, profile.currency), inputmode: "decimal" }) }));
    const trialPrice = profile.trial ? h("input", { id: "price-trial", value: majorUnits(profile.trial.price, profile.currency), inputmode: "decimal" }) : undefined;
    const offList = h("ul", { class: "days-off" });
    const newDayOff = h("input", { id: "day-off", type: "date" });
    const drawDaysOff = () =>
      show(offList, ...[...daysOff].sort().map((date) => h("li", {}, day(date), " ", action("Remove", async () => { daysOff.delete(date); drawDaysOff(); }, { "aria-label": `Remove the day off on ${day(date)}` }))));
    drawDaysOff();

    const edited = (): ProfileDocument => {
      const { version: _read, ...doc } = profile;
      const overrides = Object.fromEntries(Object.entries(profile.overrides ?? {}).filter(([, ranges]) => ranges.length > 0));
      for (const date of daysOff) overrides[date] = [];
      const price = (input: HTMLInputElement, what: string) => minorUnits(input.value, profile.currency) ?? (() => { throw new ApiError(400, "invalid_request", `${what}: "${input.value}" is not an amount`); })();
      return {
        ...doc,
        weekly: Object.fromEntries(weekly.map((d) => [d.key, parseRanges(d.input.value, d.name)]).filter(([, ranges]) => ranges.length > 0)),
        overrides,
        lessons: prices.map(({ lesson, input }) => ({ ...lesson, price: price(input, `${lesson.duration_minutes}-minute price`) })),
        ...(profile.trial && trialPrice ? { trial: { ...profile.trial, price: price(trialPrice, "trial price") } } : {}),
      };
    };
    const save = action("Save", async () => {
      try {
        profile = await api.writeProfile(edited(), profile.version, scope);
        status.ok(`Saved (version ${profile.version}). Students see the new hours within 15 seconds (open slots may be cached that long).`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) {
          status.fail(new ApiError(412, err.code, "This profile was changed elsewhere (another tab or an operator) since you opened it, so nothing was saved. Reload to see the current version"));
          save.after(action("Reload", () => availabilityPage.render(main, new URLSearchParams(), teacherId ? [teacherId] : [])));
        } else status.fail(err);
      }
    });
    show(
      main,
      h("h1", {}, teacherId ? `${profile.name}: availability` : "Your availability"),
      h("p", { class: "small" }, `Hours are in ${profile.timezone}. Booked lessons keep their time and price whatever you change.`),
      h("form", { onsubmit: (e: Event) => e.preventDefault() },
        h("fieldset", {}, h("legend", {}, "Weekly hours"), ...weekly.map((d) => h("p", { class: "field" }, h("label", { for: d.input.id }, d.name), d.input))),
        h("fieldset", {}, h("legend", {}, "Days off"), offList, h("p", { class: "field" }, h("label", { for: "day-off" }, "Date"), newDayOff, action("Add day off", async () => { if (newDayOff.value) { daysOff.add(newDayOff.value); newDayOff.value = ""; drawDaysOff(); } }))),
        h("fieldset", {}, h("legend", {}, `Prices (${profile.currency.toUpperCase()})`), ...prices.map(({ lesson, input }) => h("p", { class: "field" }, h("label", { for: input.id }, `${lesson.duration_minutes} minutes`), input)), trialPrice ? h("p", { class: "field" }, h("label", { for: "price-trial" }, `Trial, ${profile.trial!.duration_minutes} minutes`), trialPrice) : null),
      ),
      status.element,
      h("div", { class: "actions" }, save),
    );
  },
};
