import type { PastLessons, UpcomingLessons } from "../../client/index.js";
import { ApiError } from "../../client/index.js";
import { action, h, show } from "../dom.js";
import { notice } from "../errors.js";
import { localDate, money, when } from "../format.js";
import type { Page } from "../main.js";
import { client, current } from "../session.js";
import { week } from "../slots.js";

type Upcoming = UpcomingLessons["bookings"][number];
type Past = PastLessons["lessons"][number];

/** What the last change did, said again on the page re-drawn after it. */
let carried: string | undefined;

const outcomes: Record<string, string> = { completed: "Took place", student_no_show: "Student did not come", teacher_no_show: "Teacher did not come", cancelled: "Cancelled", confirmed: "Outcome not decided yet" };

export const lessonsPage: Page = {
  title: "My lessons",
  async render(main) {
    const api = client();
    const status = notice();
    const panel = h("div", { class: "panel" });
    const teacher = current()?.role === "teacher";
    const [upcoming, past, directory] = await Promise.all([api.upcomingLessons(), api.pastLessons(), teacher ? undefined : api.getTeachers({ limit: 50 })]);
    // A student's lessons name the teacher; the listing carries only ids (students have no public names).
    const names = new Map(directory && "teachers" in directory ? directory.teachers.map((t) => [t.teacher_id, t.name]) : []);
    const other = (id: string) => names.get(id) ?? id;
    if (carried) status.ok(carried);
    carried = undefined;
    const reload = (said: string) => {
      carried = said;
      return lessonsPage.render(main, new URLSearchParams(), []);
    };

    const join = (lesson: Upcoming) => async () => {
      try {
        const way = await api.joinLesson(lesson.booking_id);
        show(panel, h("h2", {}, `Join the lesson of ${when(lesson.start)}`), h("p", {}, "Room code: ", h("code", {}, way.room_code)), h("p", {}, h("a", { href: way.join_url, target: "_blank", rel: "noopener" }, "Open the video room")), h("details", {}, h("summary", {}, "App token (for the 100ms SDK)"), h("code", { class: "token" }, way.token)));
      } catch (err) {
        status.fail(err);
      }
    };

    const cancel = (lesson: Upcoming) => async () => {
      try {
        const options = await api.changeOptions(lesson.booking_id);
        if (!options.cancel.allowed) return status.fail(new ApiError(409, options.cancel.reason ?? "not_allowed", `This lesson cannot be cancelled now (${options.cancel.reason ?? "not allowed"})`));
        const refund = money(options.cancel.refund_amount, options.cancel.currency);
        const quote = options.cancel.credit_back
          ? teacher
            ? "Cancelling gives the student their credit back."
            : "Cancelling now gives your credit back."
          : teacher
            ? `Cancelling refunds the student in full: ${refund}.`
            : options.cancel.refund_amount > 0
              ? `Cancelling now refunds ${refund}.`
              : "Cancelling now refunds nothing: the free cancellation period is over.";
        show(
          panel,
          h("h2", {}, `Cancel the lesson of ${when(lesson.start)}?`),
          h("p", { "data-refund": options.cancel.refund_amount }, quote),
          (options.cancel.refund_amount > 0 || options.cancel.credit_back) && !teacher ? h("p", { class: "small" }, `Free cancellation until ${when(options.cancel.free_until)}.`) : null,
          h(
            "div",
            { class: "actions" },
            action("Yes, cancel the lesson", async () => {
              try {
                const done = await api.changeBooking({ booking_id: lesson.booking_id, action: "cancel" });
                const back = options.cancel.credit_back && "refund" in done && done.refund.amount === 0;
                await reload(back ? "Cancelled. The credit is back." : "refund" in done ? `Cancelled. Refund: ${money(done.refund.amount, done.refund.currency)} (${done.refund.status}).` : "Cancelled.");
              } catch (err) {
                status.fail(err);
              }
            }),
            action("Keep it", async () => show(panel)),
          ),
        );
      } catch (err) {
        status.fail(err);
      }
    };

    const reschedule = (lesson: Upcoming) => async () => {
      try {
        const options = await api.changeOptions(lesson.booking_id);
        if (!options.reschedule.allowed) return status.fail(new ApiError(409, options.reschedule.reason ?? "not_allowed", `This lesson cannot be moved now (${options.reschedule.reason ?? "not allowed"})`));
        const slots = h("div");
        show(panel, h("h2", {}, `Move the lesson of ${when(lesson.start)}`), h("p", {}, `${options.reschedule.remaining} move${options.reschedule.remaining === 1 ? "" : "s"} left, until ${when(options.reschedule.until)}. Pick a new time:`), slots);
        const move = async (start: string) => {
          try {
            await api.changeBooking({ booking_id: lesson.booking_id, action: "reschedule", start });
            await reload(`Moved to ${when(start)}.`);
          } catch (err) {
            status.fail(err);
          }
        };
        const pickerOf = (duration: number | "trial") => week(slots, { teacherId: lesson.with, duration, from: localDate(new Date()), pick: (slot) => move(slot.start), label: (slot) => `Move to ${when(slot.start)}` });
        // A trial's length may be one the teacher does not sell otherwise.
        await pickerOf(lesson.duration_minutes).catch((err) => (err instanceof ApiError && err.code === "duration_not_offered" ? pickerOf("trial") : Promise.reject(err)));
      } catch (err) {
        status.fail(err);
      }
    };

    const upcomingRow = (lesson: Upcoming) =>
      h(
        "li",
        { class: "lesson", "data-booking": lesson.booking_id, "data-start": lesson.start, "data-status": lesson.status },
        h("span", { class: "what" }, `${when(lesson.start)}, ${lesson.duration_minutes} min, with ${other(lesson.with)}`),
        lesson.status === "confirmed"
          ? h("span", { class: "actions" }, action("Join", join(lesson), { "aria-label": `Join the lesson of ${when(lesson.start)}` }), action("Cancel", cancel(lesson), { "aria-label": `Cancel the lesson of ${when(lesson.start)}` }), teacher ? null : action("Reschedule", reschedule(lesson), { "aria-label": `Reschedule the lesson of ${when(lesson.start)}` }))
          : h("span", { class: "status" }, outcomes[lesson.status] ?? lesson.status),
      );
    const presence = (p: Past["my_presence"]) => (p ? `${Math.round(p.seconds_present / 60)} min in the room` : "no record");
    const pastRow = (lesson: Past) =>
      h("li", { class: "lesson" }, h("span", { class: "what" }, `${when(lesson.start)}, ${lesson.duration_minutes} min, with ${other(lesson.with)}`), h("span", {}, `${outcomes[lesson.outcome] ?? lesson.outcome}. You: ${presence(lesson.my_presence)}; ${teacher ? "student" : "teacher"}: ${presence(lesson.their_presence)}.`));
    show(
      main,
      h("h1", {}, "My lessons"),
      status.element,
      panel,
      h("h2", {}, "Upcoming"),
      upcoming.bookings.length ? h("ul", { class: "lessons" }, ...upcoming.bookings.map(upcomingRow)) : h("p", {}, "No upcoming lessons."),
      h("h2", {}, "Past"),
      past.lessons.length ? h("ul", { class: "lessons" }, ...past.lessons.map(pastRow)) : h("p", {}, "No past lessons yet."),
    );
  },
};
