// The generated client's own behaviour, on a stand-in fetch: a 503 with
// Retry-After is retried once after that delay (capped), never twice, and
// every failure becomes an ApiError carrying the JSON error's words.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, LessonsClient } from "../../infra/web/dist/client/index.js";

function scripted(...answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url: String(url), init, at: Date.now() });
    const [status, body, headers] = answers[Math.min(calls.length - 1, answers.length - 1)];
    return new Response(body === undefined ? null : JSON.stringify(body), { status, headers });
  };
  return { calls, client: new LessonsClient({ functionUrl: (name) => `http://functions.test/${name}/`, token: () => "tok", fetch }) };
}

const unavailable = [503, { error: { code: "service_unavailable", message: "the service is temporarily unavailable, please retry" } }, { "retry-after": "1" }];

test("a 503 with Retry-After is retried once, after the delay", async () => {
  const { calls, client } = scripted(unavailable, [200, { items: [], currency: null, total: 0, updated_at: null, expires_at: null }]);
  const cart = await client.readCart();
  assert.equal(cart.total, 0);
  assert.equal(calls.length, 2);
  assert.ok(calls[1].at - calls[0].at >= 950, `retried after ${calls[1].at - calls[0].at} ms`);
  assert.equal(calls[0].init.headers.authorization, "Bearer tok");
});

test("a second 503 is the caller's, in words", async () => {
  const { calls, client } = scripted(unavailable, unavailable, [200, {}]);
  await assert.rejects(client.readCart(), (err) => err instanceof ApiError && err.status === 503 && err.message.includes("temporarily unavailable"));
  assert.equal(calls.length, 2);
});

test("a 503 without Retry-After and any 4xx are not retried", async () => {
  const plain = scripted([503, { error: { code: "service_unavailable", message: "retry" } }]);
  await assert.rejects(plain.client.readCart(), ApiError);
  assert.equal(plain.calls.length, 1);
  const refused = scripted([422, { error: { code: "cart_item_unavailable", message: "items[0].start: is not an open slot", field: "items[0].start", lesson_index: 0, reason: "slot_not_open" } }]);
  await assert.rejects(refused.client.replaceCart([{ teacher_id: "t_anna", start: "2026-12-01T08:00:00Z", duration_minutes: 60 }]), (err) => err.field === "items[0].start" && err.reason === "slot_not_open" && err.lessonIndex === 0);
  assert.equal(refused.calls.length, 1);
});

test("a checkout carries one Idempotency-Key across its retry", async () => {
  const { calls, client } = scripted(unavailable, [201, { checkout_id: "co_1", status: "confirmed" }]);
  await client.initiateCheckout({ from_cart: true });
  assert.equal(calls.length, 2);
  assert.ok(calls[0].init.headers["idempotency-key"]);
  assert.equal(calls[0].init.headers["idempotency-key"], calls[1].init.headers["idempotency-key"]);
});

test("no answer and an answer that is not JSON are ApiErrors in words too", async () => {
  const offline = new LessonsClient({ functionUrl: (name) => `http://functions.test/${name}/`, fetch: async () => { throw new TypeError("fetch failed"); } });
  await assert.rejects(offline.readCart(), (err) => err instanceof ApiError && err.code === "network_error" && err.message.includes("could not be reached"));
  const proxy = new LessonsClient({ functionUrl: (name) => `http://functions.test/${name}/`, fetch: async () => new Response("Internal Server Error", { status: 502 }) });
  await assert.rejects(proxy.readCart(), (err) => err instanceof ApiError && err.status === 502 && err.message.includes("502"));
});

test("updateCart applies its change again to a cart changed elsewhere, never a stale list", async () => {
  const pick = (start) => ({ teacher_id: "t_anna", start, duration_minutes: 60, trial: false });
  const cart = (version, ...starts) => ({ items: starts.map((s) => ({ ...pick(s), available: true, price: 3000 })), currency: "eur", total: 3000 * starts.length, updated_at: null, expires_at: null, version });
  const changed = [412, { error: { code: "version_mismatch", message: "the cart changed since it was read (it is at version 2 now); read it again" } }];
  const { calls, client } = scripted(changed, [200, cart(2, "A", "B")], [200, cart(3, "B")]);
  // The screen shows version 1, [A]; another tab has added B since.
  const updated = await client.updateCart((items) => items.filter((p) => p.start !== "A"), cart(1, "A"));
  assert.equal(updated.version, 3);
  assert.deepEqual(calls.map((c) => [c.init.method, c.init.headers["if-match"]]), [["PUT", '"1"'], ["GET", undefined], ["PUT", '"2"']]);
  assert.deepEqual(JSON.parse(calls[0].init.body).items, []);
  assert.deepEqual(JSON.parse(calls[2].init.body).items, [pick("B")], "B, added elsewhere, is kept");

  const nothing = scripted([200, cart(4, "A")]);
  assert.equal((await nothing.client.updateCart(() => undefined)).version, 4);
  assert.deepEqual(nothing.calls.map((c) => c.init.method), ["GET"], "no change, no write");

  // Changed again before every write: three attempts, then the 412 is the caller's.
  const busy = scripted(changed, [200, cart(2, "A")], changed, [200, cart(3, "A")], changed, [200, cart(4, "A")]);
  await assert.rejects(busy.client.updateCart((items) => items, cart(1, "A")), (err) => err instanceof ApiError && err.status === 412);
  assert.deepEqual(busy.calls.map((c) => c.init.method), ["PUT", "GET", "PUT", "GET", "PUT"]);
});
