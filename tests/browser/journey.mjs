// The student's and teacher's journey through the reference web app in
// headless Chromium (Debian's, driven by Playwright; nothing downloaded),
// against the local stack: real function URLs, CORS, the Stripe emulator's
// payment page and redirects. Each step is screenshotted at a desktop and a
// phone size under $SCREENSHOTS (kept when a step fails) and checked with
// axe-core: no serious or critical violation on any page.
//
// Run by `make browser` (part of `make test`), which starts the stack.

import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const WEB = process.env.WEB_BASE ?? "http://localhost:3000";
const STRIPE = (process.env.STRIPE_API_BASE ?? "http://127.0.0.1:12111/").replace(/\/$/, "");
const OUT = process.env.SCREENSHOTS ?? "target/browser";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
// The viewer is far from the teacher, so a time shown in the wrong zone shows.
const STUDENT_ZONE = "Asia/Tokyo";
// The local SES server's mail viewer (aws-ses-v2-local), where notify's mails land.
const MAILS = (process.env.SES_VIEWER_URL ?? "http://127.0.0.1:8005").replace(/\/$/, "");
// Mails of this run only (a stack reused from `make dev` keeps earlier ones); the viewer stamps whole seconds.
const STARTED = Math.floor(Date.now() / 1000);

/** The first mail to `address` whose subject is `subject`, as the viewer stores it (notify runs every few seconds). */
async function mailTo(address, subject) {
  for (let i = 0; i < 300; i += 1) {
    const store = await (await fetch(`${MAILS}/store`)).json();
    const found = store.emails.find((m) => m.at >= STARTED && m.destination.to.some((to) => to.includes(address)) && m.subject === subject);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no mail "${subject}" to ${address} in the local SES server within a minute`);
}

let shot = 0;
const problems = [];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Screenshots at both sizes and an accessibility check of what the page shows now. */
async function record(page, name) {
  shot += 1;
  const base = `${OUT}/${String(shot).padStart(2, "0")}-${name}`;
  await page.screenshot({ path: `${base}-desktop.png`, fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: `${base}-phone.png`, fullPage: true });
  await page.setViewportSize(DESKTOP);
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) })));
  for (const v of violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
    problems.push(`${name} (${page.url()}): ${v.impact} ${v.id}: ${v.help} at ${v.nodes.join(", ")}`);
  }
}

/** One step: its actions, then its record, which is made even when the step fails. */
async function step(page, name, run) {
  console.log(`- ${name}`);
  try {
    await run();
  } finally {
    await record(page, name).catch((err) => console.log(`  (no record: ${err.message})`));
  }
}

async function signIn(page, name) {
  await page.goto(`${WEB}/`);
  const signOut = page.getByRole("button", { name: "Sign out" });
  if (await signOut.count()) await signOut.click();
  await page.getByRole("button", { name: `Sign in as ${name}` }).click();
}

/** Waits for the page to say `pattern` in its notice (an outcome or an error, in words). */
async function said(page, pattern) {
  try {
    await page.locator(".notice.ok, .notice.error").filter({ hasText: pattern }).first().waitFor({ timeout: 30_000 });
  } catch {
    throw new Error(`the page never said ${pattern}; it says: ${(await page.locator(".notice").allTextContents()).join(" / ") || "nothing"}`);
  }
}

/** Pays on the Stripe emulator's page the app sent the browser to. */
async function pay(page, button) {
  await page.waitForURL((url) => url.href.startsWith(STRIPE));
  await page.getByRole("button", { name: button }).click();
  await page.waitForURL((url) => url.href.startsWith(`${WEB}/checkout/success`));
}

function zoneDate(instant, zone) {
  return new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit", timeZone: zone }).format(new Date(instant));
}

function longDay(date) {
  return new Intl.DateTimeFormat("en-GB", { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" }).format(new Date(`${date}T12:00:00Z`));
}

function clockIn(instant, zone) {
  return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: zone }).format(new Date(instant));
}

async function main() {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const config = await (await fetch(`${WEB}/config.json`)).json();
  const user = (sub) => config.demo_users.find((u) => u.sub === sub);
  const [sam, lee, anna, operator] = [user("s_demo"), user("s_lee"), user("t_anna"), user("admin")];
  check(sam && lee && anna && operator, `the demo accounts are missing from ${WEB}/config.json`);
  // A stack reused from `make dev` may hold an earlier run's cart.
  for (const who of [sam, lee]) await fetch(`${config.functions_base}/cart/`, { method: "DELETE", headers: { authorization: `Bearer ${who.token}` } });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = (zone) => browser.newContext({ viewport: DESKTOP, timezoneId: zone, locale: "en-GB" });
  const [student, teacher, other] = await Promise.all([context(STUDENT_ZONE), context("Europe/Berlin"), context(STUDENT_ZONE)]);
  const crashes = [];
  const watch = (page) => page.on("pageerror", (err) => crashes.push(`${page.url()}: ${err.message}`));
  const page = await student.newPage();
  watch(page);

  try {
    await step(page, "sign-in", async () => {
      await page.goto(`${WEB}/`);
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
    });
    await step(page, "directory", async () => {
      await signIn(page, sam.name);
      await page.getByRole("heading", { name: "Teachers" }).waitFor();
      await page.getByText(anna.name).first().waitFor();
    });

    let first, second, spare;
    await step(page, "teacher-week", async () => {
      await page.getByRole("link", { name: `See ${anna.name}'s week` }).click();
      await page.getByLabel("Lesson", { exact: true }).selectOption("60");
      await page.waitForURL(/duration=60/);
      await page.getByText(`Times in your zone, ${STUDENT_ZONE}. The teacher works in Europe/Berlin.`).waitFor();
      // A week ahead: cancelling stays free under the default policy.
      await page.locator(".slots button").first().waitFor();
      const thisWeek = await page.locator(".slots button").first().getAttribute("data-start");
      await page.getByRole("button", { name: "Next week" }).click();
      await page.waitForFunction((before) => document.querySelector(".slots button")?.dataset.start > before, thisWeek);
      const days = page.locator("section.day:has(.slots button)");
      check((await days.count()) >= 4, "fewer than four days with open slots next week");
      const startOf = async (day) => day.locator(".slots button").first().getAttribute("data-start");
      [first, second, spare] = [await startOf(days.nth(0)), await startOf(days.nth(1)), await startOf(days.nth(3))];
      const shown = await days.nth(0).locator(".slots button").first().textContent();
      check(shown === clockIn(first, STUDENT_ZONE), `the slot ${first} reads ${shown}, not its time in ${STUDENT_ZONE}`);
      await page.locator(`button[data-start="${first}"]`).click();
      await said(page, "1 in the cart");
      await page.locator(`button[data-start="${second}"]`).click();
      await said(page, "2 in the cart");
    });

    await step(page, "cart-after-reload", async () => {
      await page.getByRole("link", { name: "Cart" }).click();
      await page.locator("li.item").nth(1).waitFor();
      await page.reload();
      await page.locator("li.item").nth(1).waitFor();
      check((await page.locator("li.item").count()) === 2, "the cart did not survive a reload");
      check((await page.locator(".total").textContent()).includes("2 lessons"), "the total does not count both lessons");
    });

    await step(page, "payment-page", async () => {
      await page.getByRole("button", { name: "Check out" }).click();
      await page.waitForURL((url) => url.href.startsWith(STRIPE));
      await page.getByRole("button", { name: /^Pay / }).first().waitFor();
    });

    await step(page, "success", async () => {
      await page.getByRole("button", { name: /^Pay / }).first().click();
      await page.waitForURL((url) => url.href.startsWith(`${WEB}/checkout/success?checkout_id=co_`));
      await page.locator('[data-status="confirmed"]').waitFor({ timeout: 60_000 });
      await page.getByText("2 lessons booked").waitFor();
      // The URL alone tells the page which checkout it is about.
      await page.reload();
      await page.locator('[data-status="confirmed"]').waitFor({ timeout: 30_000 });
      // The confirmation reached the student's address, in the zone the browser told the checkout, with an invite per lesson.
      const mail = await mailTo(`${sam.sub}@example.com`, "Your 2 lessons are booked");
      check(mail.body.text.includes(`(${STUDENT_ZONE})`), `the confirmation is not in the student's zone: ${mail.body.text}`);
      const invites = mail.attachments.filter((a) => a.contentType.startsWith("text/calendar"));
      check(invites.length === 2 && invites.every((a) => Buffer.from(a.content, "base64").toString().includes("METHOD:REQUEST")), `the confirmation's invites: ${JSON.stringify(mail.attachments.map((a) => a.contentType))}`);
    });

    let cancelled, moved, movedTo;
    await step(page, "cancel-quote", async () => {
      await page.getByRole("link", { name: "See my lessons" }).click();
      const row = (start) => page.locator(`li.lesson[data-start="${start}"][data-status="confirmed"]`);
      await row(second).waitFor();
      [cancelled, moved] = [await row(first).getAttribute("data-booking"), await row(second).getAttribute("data-booking")];
      await row(first).getByRole("button", { name: /^Cancel/ }).click();
      await page.getByText(/^Cancelling now refunds/).waitFor();
    });

    await step(page, "cancelled", async () => {
      const quoted = Number(await page.locator("[data-refund]").getAttribute("data-refund"));
      check(quoted > 0, "a cancel a week ahead should refund something");
      await page.getByRole("button", { name: "Yes, cancel the lesson" }).click();
      await said(page, /^Cancelled\. Refund/);
      const refunds = await (await fetch(`${STRIPE}/_emulator/refunds`)).json();
      const list = Array.isArray(refunds) ? refunds : refunds.data;
      const refund = list.find((r) => r.metadata?.obligation_id === `cancel-${cancelled}`);
      check(refund, `the emulator made no refund for ${cancelled}`);
      check(refund.amount === quoted, `the quote said ${quoted}, the emulator refunded ${refund.amount}`);
      await page.locator(`li.lesson[data-booking="${cancelled}"][data-status="cancelled"]`).getByText("Cancelled").waitFor();
      check((await page.locator(`li.lesson[data-booking="${cancelled}"] button`).count()) === 0, "a cancelled lesson still offers actions");
    });

    await step(page, "reschedule-picker", async () => {
      await page.locator(`li.lesson[data-booking="${moved}"]`).getByRole("button", { name: /^Reschedule/ }).click();
      await page.getByText(/moves? left/).waitFor();
      await page.locator(".panel .slots button").first().waitFor();
    });

    await step(page, "rescheduled", async () => {
      const target = page.locator(".panel .slots button").last();
      movedTo = await target.getAttribute("data-start");
      await target.click();
      await said(page, /^Moved to/);
      const row = page.locator(`li.lesson[data-booking="${moved}"][data-start="${movedTo}"]`);
      await row.waitFor();
      const text = await row.textContent();
      check(text.includes(clockIn(movedTo, STUDENT_ZONE)), `the moved lesson does not show its new time: ${text}`);
    });

    await step(page, "joined", async () => {
      // The local stack opens rooms a week early (JOIN_OPENS_MINUTES_BEFORE), so this week's lesson can be joined now.
      await page.locator(`li.lesson[data-booking="${moved}"]`).getByRole("button", { name: /^Join/ }).click();
      await page.getByText("Room code:").waitFor();
      check((await page.locator(".panel code").first().textContent()).trim().length > 0, "no room code shown");
      await page.getByRole("link", { name: "Open the video room" }).waitFor();
    });

    const spareWeek = `${WEB}/teachers/t_anna?duration=60&from=${zoneDate(spare, STUDENT_ZONE)}`;
    await page.goto(spareWeek);
    await page.locator(`button[data-start="${spare}"]`).waitFor();
    // The teacher, in Berlin, takes the day of that slot off.
    const teacherPage = await teacher.newPage();
    watch(teacherPage);
    const dayOff = zoneDate(spare, "Europe/Berlin");
    await step(teacherPage, "teacher-lessons", async () => {
      await signIn(teacherPage, anna.name);
      await teacherPage.getByRole("heading", { name: "My lessons" }).waitFor();
      await teacherPage.locator(`li.lesson[data-booking="${moved}"]`).getByText("with Sam").waitFor();
    });
    // The teacher sets up payouts: Stripe's (the emulator's) onboarding page and back.
    await step(teacherPage, "earnings", async () => {
      await teacherPage.getByRole("link", { name: "Earnings" }).click();
      await teacherPage.getByRole("heading", { name: "Your payout account" }).waitFor();
    });
    // A stack reused from `make dev` may have onboarded Anna already.
    if ((await teacherPage.locator('[data-account-status="active"]').count()) === 0) {
      await step(teacherPage, "stripe-onboarding", async () => {
        await teacherPage.getByRole("button", { name: /Set up payouts with Stripe|Continue with Stripe/ }).click();
        await teacherPage.waitForURL((url) => url.href.startsWith(STRIPE));
        await teacherPage.getByRole("button", { name: "Submit", exact: true }).waitFor();
      });
      await step(teacherPage, "payouts-active", async () => {
        await teacherPage.getByRole("button", { name: "Submit", exact: true }).click();
        await teacherPage.waitForURL((url) => url.href.startsWith(`${WEB}/earnings?onboarding=done`));
        await said(teacherPage, /Stripe has your details|Stripe is checking your details/);
        // account.updated reaches stripe-webhook's Connect endpoint on its own time.
        const deadline = Date.now() + 30_000;
        while ((await teacherPage.locator('[data-account-status="active"]').count()) === 0) {
          check(Date.now() < deadline, "the Earnings page never showed payouts active after Stripe's onboarding");
          await new Promise((resolve) => setTimeout(resolve, 500));
          await teacherPage.reload();
          await teacherPage.getByRole("heading", { name: "Your payout account" }).waitFor();
        }
      });
    }
    const stale = await teacher.newPage();
    watch(stale);
    await step(teacherPage, "day-off-saved", async () => {
      await stale.goto(`${WEB}/availability`);
      await stale.getByRole("heading", { name: "Your availability" }).waitFor();
      await teacherPage.getByRole("link", { name: "Availability" }).click();
      await teacherPage.getByLabel("Date").fill(dayOff);
      await teacherPage.getByRole("button", { name: "Add day off" }).click();
      await teacherPage.getByRole("button", { name: "Save" }).click();
      await said(teacherPage, /^Saved \(version/);
    });
    await step(stale, "changed-elsewhere", async () => {
      await stale.getByRole("button", { name: "Save" }).click();
      await said(stale, "changed elsewhere");
      await stale.getByRole("button", { name: "Reload" }).click();
      await stale.getByRole("button", { name: `Remove the day off on ${longDay(dayOff)}` }).waitFor();
    });

    await step(page, "day-off-seen-by-student", async () => {
      // get-slots answers may be cached for 15 s (Cache-Control), so the view follows within that.
      const deadline = Date.now() + 30_000;
      for (;;) {
        await page.goto(spareWeek);
        await page.locator(".slots button").first().waitFor();
        if ((await page.locator(`button[data-start="${spare}"]`).count()) === 0) break;
        check(Date.now() < deadline, `${spare} is still offered 30 s after the teacher took ${dayOff} off`);
        await page.waitForTimeout(2_000);
      }
    });

    // A slot in the cart is taken in another tab (another student, paying by
    // bank debit: held while it settles); checking out says so in words.
    let taken;
    await step(page, "cart-before-taken", async () => {
      await page.goto(`${WEB}/teachers/t_anna?duration=60&from=${zoneDate(second, STUDENT_ZONE)}`);
      const free = page.locator(".slots button").nth(2);
      taken = await free.getAttribute("data-start");
      await free.click();
      await said(page, "1 in the cart");
      await page.getByRole("link", { name: "Cart" }).click();
      await page.locator("li.item").first().waitFor();
    });
    const otherPage = await other.newPage();
    watch(otherPage);
    await step(otherPage, "payment-pending-other-tab", async () => {
      await signIn(otherPage, lee.name);
      await otherPage.goto(`${WEB}/teachers/t_anna?duration=60&from=${zoneDate(taken, STUDENT_ZONE)}`);
      await otherPage.locator(`button[data-start="${taken}"]`).click();
      await said(otherPage, "1 in the cart");
      await otherPage.getByRole("link", { name: "Cart" }).click();
      await otherPage.getByRole("button", { name: "Check out" }).click();
      await pay(otherPage, /bank debit/);
      await otherPage.locator('[data-status="payment_pending"]').waitFor({ timeout: 60_000 });
    });
    await step(page, "taken-in-another-tab", async () => {
      await page.getByRole("button", { name: "Check out" }).click();
      await said(page, /^Nothing in the cart can be bought now/);
      await page.locator("li.item.unavailable").getByText("This time is booked, or someone is paying for it.").waitFor();
      check(page.url() === `${WEB}/cart`, "the page left the cart");
    });
    // The student adds a lesson in a second tab, then removes the taken one on
    // the first tab's cart, which still shows the cart from before: the
    // removal is applied to the cart as stored, and the new lesson stays.
    const secondTab = await student.newPage();
    watch(secondTab);
    let added;
    await step(secondTab, "added-in-a-second-tab", async () => {
      await secondTab.goto(`${WEB}/teachers/t_anna?duration=60&from=${zoneDate(taken, STUDENT_ZONE)}`);
      // The week's last slot: days from the taken one (which a cached week may still offer).
      const free = secondTab.locator(".slots button").last();
      added = await free.getAttribute("data-start");
      check(added !== taken, "the week offers nothing but the taken slot");
      await free.click();
      await said(secondTab, "2 in the cart");
    });
    await step(page, "removed-on-a-stale-cart", async () => {
      check((await page.locator("li.item").count()) === 1, "the first tab's cart was redrawn before the removal");
      await page.locator("li.item.unavailable").getByRole("button", { name: /^Remove / }).click();
      await said(page, /^Removed /);
      const left = await page.locator("li.item").allTextContents();
      check(left.length === 1, `the cart shows ${left.length} items after the removal, not the one added in the second tab: ${left.join(" / ")}`);
      const stored = await (await fetch(`${config.functions_base}/cart/`, { headers: { authorization: `Bearer ${sam.token}` } })).json();
      check(stored.items.length === 1 && stored.items[0].start === added, `the stored cart is ${JSON.stringify(stored.items.map((i) => i.start))}, not [${added}]`);
    });
    // Another lesson added in the second tab; "Check out" on the first tab,
    // which shows the cart without it, buys nothing unseen.
    await step(secondTab, "added-again-in-the-second-tab", async () => {
      await secondTab.reload();
      await secondTab.locator(".slots button").first().waitFor();
      // The next day's first slot: a day apart from the taken lesson, days from the one added.
      const free = secondTab.locator("section.day:has(.slots button)").nth(1).locator(".slots button").first();
      check((await free.getAttribute("data-start")) < added, "the week has no day between the taken slot and the one added");
      await free.click();
      await said(secondTab, "2 in the cart");
    });
    await step(page, "checkout-on-a-stale-cart", async () => {
      check((await page.locator("li.item").count()) === 1, "the first tab's cart was redrawn before the checkout");
      await page.getByRole("button", { name: "Check out" }).click();
      await said(page, /^Your cart changed in another tab/);
      await page.locator("li.item").nth(1).waitFor();
      check(page.url() === `${WEB}/cart`, "the page left the cart");
    });
    // An operator gives the teacher's day back in the same editor (so a `make
    // dev` this ran against keeps its demo week), and the teacher sees it.
    const operatorPage = await (await browser.newContext({ viewport: DESKTOP, timezoneId: "America/New_York", locale: "en-GB" })).newPage();
    watch(operatorPage);
    await step(operatorPage, "operator-edits-availability", async () => {
      await signIn(operatorPage, operator.name);
      await operatorPage.getByRole("link", { name: `Edit ${anna.name}'s availability` }).click();
      await operatorPage.getByRole("heading", { name: `${anna.name}: availability` }).waitFor();
      await operatorPage.getByRole("button", { name: `Remove the day off on ${longDay(dayOff)}` }).click();
      await operatorPage.getByRole("button", { name: "Save" }).click();
      await said(operatorPage, /^Saved \(version/);
    });
    await step(teacherPage, "day-off-removed-by-operator", async () => {
      await teacherPage.reload();
      await teacherPage.getByRole("heading", { name: "Your availability" }).waitFor();
      check((await teacherPage.getByRole("button", { name: `Remove the day off on ${longDay(dayOff)}` }).count()) === 0, `the teacher still sees ${dayOff} off after the operator removed it`);
    });
    // The student buys a package of Anna's lessons, then books the two lessons
    // left in the cart with its credits: no payment page the second time.
    await step(page, "package-bought", async () => {
      await page.goto(`${WEB}/teachers/t_anna?duration=60`);
      await page.getByRole("heading", { name: "Lesson packages" }).waitFor();
      await page.getByRole("button", { name: "Buy 5 lessons of 60 minutes" }).click();
      await pay(page, /^Pay [0-9.]+ EUR$/);
      await page.locator('[data-status="confirmed"]').waitFor({ timeout: 60_000 });
      await page.getByText("Paid: your credits are ready.").waitFor();
      await page.getByText(/^5 credits for 60-minute lessons with Anna Schmidt/).waitFor();
    });
    let grant;
    await step(page, "my-credits", async () => {
      await page.getByRole("link", { name: "See my credits" }).click();
      await page.getByRole("heading", { name: "My credits" }).waitFor();
      const newest = page.locator("li.grant").first();
      await newest.waitFor();
      grant = await newest.getAttribute("data-grant");
      check((await newest.getAttribute("data-remaining")) === "5", `the new grant has ${await newest.getAttribute("data-remaining")} credits left, not 5`);
      await newest.getByText("5 of 5 left").waitFor();
    });
    await step(page, "booked-with-credits", async () => {
      await page.getByRole("link", { name: "Cart" }).click();
      await page.locator("li.item").nth(1).waitFor();
      await page.getByRole("button", { name: "Book with credits" }).click();
      await page.waitForURL((url) => url.href.startsWith(`${WEB}/checkout/success?checkout_id=co_`));
      await page.getByText("Booked with your credits.").waitFor({ timeout: 30_000 });
      await page.getByText("2 lessons booked, one credit each.").waitFor();
      check(!page.url().startsWith(STRIPE), "booking with credits went to a payment page");
    });
    await step(page, "credits-after-booking", async () => {
      await page.getByRole("link", { name: "See my credits" }).click();
      const line = page.locator(`li.grant[data-grant="${grant}"]`);
      await line.getByText("3 of 5 left").waitFor();
      await line.locator("summary").click();
      check((await line.locator(".history li").count()) === 3, "the grant's history does not show the purchase and the two lessons");
    });
  } finally {
    await browser.close();
  }
  check(crashes.length === 0, `the app threw: ${crashes.join("; ")}`);
  check(problems.length === 0, `accessibility (axe-core), serious or critical:\n  ${problems.join("\n  ")}`);
  console.log(`${shot} steps, screenshots at desktop and phone size in ${OUT}/`);
}

main().catch((err) => {
  console.error(`the journey failed: ${err.stack ?? err}`);
  process.exit(1);
});
