"""Drives the Stripe emulator with Stripe's official Python library, as a new
user would: every endpoint this project uses, the error classes, idempotency,
refunds, and webhook verification with stripe.Webhook.construct_event. Our own
client agreeing with our own emulator proves little; Stripe's library agreeing
with it does. Run by tests/tests/e2e/stripe_python.rs (make test)."""

import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request

import stripe

BASE = os.environ["EMULATOR_BASE"].rstrip("/")
KEY = os.environ["EMULATOR_KEY"]
WHSEC = os.environ["EMULATOR_WEBHOOK_SECRET"]
client = stripe.StripeClient(KEY, base_addresses={"api": BASE}, max_network_retries=0)
passed = []


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    passed.append(what)


def raises(error_class, what, call):
    try:
        call()
    except error_class as err:
        passed.append(what)
        return err
    raise SystemExit(f"FAILED: {what}: no {error_class.__name__}")


def control(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{BASE}/_emulator/{path}", data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def press_pay(url):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(f"{url}/complete", data=b"", method="POST"))
    except urllib.error.HTTPError as redirect:
        check(redirect.code == 303, "the payment page redirects to the success URL")


received = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((body, self.headers.get("Stripe-Signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()
control("webhook", {"url": f"http://127.0.0.1:{hook.server_address[1]}/hook"})

expires_at = int(time.time()) + 31 * 60


def session_params(checkout_id, amount=3000):
    return {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "eur", "unit_amount": amount,
                                       "product_data": {"name": "60-min lesson with Anna Schmidt"}}, "quantity": 1}],
        "client_reference_id": checkout_id,
        "metadata": {"checkout_id": checkout_id},
        "payment_intent_data": {"metadata": {"checkout_id": checkout_id}},
        "success_url": "http://localhost:3000/checkout/success",
        "cancel_url": "http://localhost:3000/checkout/cancel",
        "expires_at": expires_at,
        "customer_email": "student@example.com",
    }


# Create, idempotent replay, and a reused key with other parameters.
session = client.v1.checkout.sessions.create(session_params("co_conf1"), {"idempotency_key": "checkout-session-co_conf1"})
check(session.status == "open" and session.url and session.payment_status == "unpaid", "create gives an open session with a url")
check(session.amount_total == 3000 and session.currency == "eur", "create totals the line items")
again = client.v1.checkout.sessions.create(session_params("co_conf1"), {"idempotency_key": "checkout-session-co_conf1"})
check(again.id == session.id, "the same idempotency key and parameters return the same session")
raises(stripe.IdempotencyError, "the same key with other parameters is an IdempotencyError",
       lambda: client.v1.checkout.sessions.create(session_params("co_conf1", 4000), {"idempotency_key": "checkout-session-co_conf1"}))

# Retrieve, expanded line items, and the line items endpoint.
retrieved = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["line_items"]})
check(retrieved.id == session.id and retrieved.line_items.data[0].amount_total == 3000, "retrieve expands line_items")
items = client.v1.checkout.sessions.line_items.list(session.id)
check(len(items.data) == 1 and items.data[0].description.startswith("60-min lesson"), "GET line_items lists them")

# Stripe's error classes.
unknown = raises(stripe.InvalidRequestError, "an unknown parameter is an InvalidRequestError",
                 lambda: client.v1.checkout.sessions.create({**session_params("co_conf2"), "payment_method_types": ["card"]}))
check(unknown.code == "parameter_unknown" and unknown.param == "payment_method_types", "…with code parameter_unknown")
missing = raises(stripe.InvalidRequestError, "a missing session is an InvalidRequestError",
                 lambda: client.v1.checkout.sessions.retrieve("cs_test_nope"))
check(missing.code == "resource_missing" and missing.http_status == 404, "…404 resource_missing")
raises(stripe.AuthenticationError, "a wrong key is an AuthenticationError",
       lambda: stripe.StripeClient("sk_test_wrong", base_addresses={"api": BASE}, max_network_retries=0).v1.checkout.sessions.retrieve(session.id))
control("faults", {"status": 429, "count": 1})
raises(stripe.RateLimitError, "429 is a RateLimitError", lambda: client.v1.checkout.sessions.retrieve(session.id))
control("faults", {"status": 500, "count": 1})
raises(stripe.APIError, "500 is an APIError", lambda: client.v1.checkout.sessions.retrieve(session.id))

# Expire, once.
expired = client.v1.checkout.sessions.expire(session.id)
check(expired.status == "expired" and expired.url is None, "expire closes an open session")
raises(stripe.InvalidRequestError, "an expired session cannot be expired again", lambda: client.v1.checkout.sessions.expire(session.id))

# Pay on the hosted page, then refunds.
paid = client.v1.checkout.sessions.create(session_params("co_conf3"), {"idempotency_key": "checkout-session-co_conf3"})
press_pay(paid.url)
paid = client.v1.checkout.sessions.retrieve(paid.id)
check(paid.status == "complete" and paid.payment_status == "paid" and paid.payment_intent, "a paid session is complete with a PaymentIntent")
raises(stripe.InvalidRequestError, "a complete session cannot be expired", lambda: client.v1.checkout.sessions.expire(paid.id))
intent = client.v1.payment_intents.retrieve(paid.payment_intent)
check(intent.status == "succeeded" and intent.amount == 3000 and intent.metadata["checkout_id"] == "co_conf3", "the PaymentIntent carries the amount and metadata")
refund = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1000, "metadata": {"checkout_id": "co_conf3", "lesson_index": "0"}},
                                  {"idempotency_key": "refund-co_conf3-0"})
check(refund.status == "succeeded" and refund.amount == 1000 and refund.metadata["lesson_index"] == "0", "a partial refund succeeds")
replayed = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1000, "metadata": {"checkout_id": "co_conf3", "lesson_index": "0"}},
                                    {"idempotency_key": "refund-co_conf3-0"})
check(replayed.id == refund.id, "a refund's idempotency key refunds once")
too_much = raises(stripe.InvalidRequestError, "refunding more than is left is refused",
                  lambda: client.v1.refunds.create({"payment_intent": intent.id, "amount": 2001}))
check(too_much.code == "amount_too_large", "…with code amount_too_large")
rest = client.v1.refunds.create({"payment_intent": intent.id})
check(rest.amount == 2000, "a refund without amount refunds what is left")
listed = client.v1.refunds.list({"payment_intent": intent.id})
check(sorted(r.amount for r in listed.data) == [1000, 2000], "refunds are listed per PaymentIntent")
raises(stripe.InvalidRequestError, "a fully refunded payment cannot be refunded again", lambda: client.v1.refunds.create({"payment_intent": intent.id}))

# Refunds that Stripe refuses, and refunds that fail after they were made.
failing = client.v1.checkout.sessions.create(session_params("co_conf4"), {"idempotency_key": "checkout-session-co_conf4"})
press_pay(failing.url)
failing_intent = client.v1.checkout.sessions.retrieve(failing.id).payment_intent
control("refund_failures", {"when": "create", "code": "charge_not_refundable"})
refused = raises(stripe.InvalidRequestError, "a refund the emulator is told to refuse raises InvalidRequestError",
                 lambda: client.v1.refunds.create({"payment_intent": failing_intent, "amount": 1000}))
check(refused.code == "charge_not_refundable" and refused.http_status == 400, "…400 with Stripe's code")
check(client.v1.refunds.list({"payment_intent": failing_intent}).data == [], "a refused refund is not made")
control("refund_failures", {"when": "later", "failure_reason": "expired_or_canceled_card"})
later = client.v1.refunds.create({"payment_intent": failing_intent, "amount": 1000, "metadata": {"obligation_id": "refund-co_conf4-0"}})
check(later.status == "succeeded", "a refund that fails later is first answered succeeded")
now_failed = client.v1.refunds.list({"payment_intent": failing_intent}).data
check([(r.id, r.status, r.failure_reason) for r in now_failed] == [(later.id, "failed", "expired_or_canceled_card")], "…then lists as failed with its failure_reason")
check(now_failed[0].metadata["obligation_id"] == "refund-co_conf4-0", "…keeping its metadata")
failed_events = {e.type for e in client.v1.events.list({"limit": 100}).data if getattr(e.data.object, "id", None) == later.id}
check({"refund.created", "refund.updated", "refund.failed"} <= failed_events, "…and emits refund.updated and refund.failed")
whole = client.v1.refunds.create({"payment_intent": failing_intent})
check(whole.amount == 3000, "a failed refund's money can be refunded again")

# Disputes, opened and closed as a bank would.
disputed = client.v1.checkout.sessions.create(session_params("co_conf5"), {"idempotency_key": "checkout-session-co_conf5"})
press_pay(disputed.url)
disputed_intent = client.v1.checkout.sessions.retrieve(disputed.id).payment_intent
opened = control("disputes", {"payment_intent": disputed_intent, "reason": "fraudulent"})
dispute = client.v1.disputes.retrieve(opened["id"])
check(isinstance(dispute, stripe.Dispute) and dispute.object == "dispute", "a dispute is a stripe.Dispute")
check((dispute.status, dispute.amount, dispute.currency, dispute.reason, dispute.payment_intent) == ("needs_response", 3000, "eur", "fraudulent", disputed_intent),
      "a chargeback disputes the whole charge, naming its PaymentIntent")
check(dispute.evidence_details.due_by > dispute.created and dispute.is_charge_refundable is False, "it carries evidence_details.due_by and is not refundable")
raises(stripe.InvalidRequestError, "a charged-back payment cannot be refunded", lambda: client.v1.refunds.create({"payment_intent": disputed_intent}))
check([d.id for d in client.v1.disputes.list({"payment_intent": disputed_intent}).data] == [dispute.id], "disputes are listed per PaymentIntent")
control(f"disputes/{dispute.id}/close", {"status": "lost"})
check(client.v1.disputes.retrieve(dispute.id).status == "lost", "the bank's decision is the dispute's status")
dispute_events = [e.type for e in client.v1.events.list({"limit": 100}).data if getattr(e.data.object, "id", None) == dispute.id]
check(sorted(dispute_events) == ["charge.dispute.closed", "charge.dispute.created"], "opening and closing emit charge.dispute.created and .closed")

# Events.
events = client.v1.events.list({"type": "checkout.session.completed"})
check(any(e.data.object.id == paid.id for e in events.data), "the completed event is listed")
check(all(e.type == "checkout.session.completed" for e in events.data), "events are filtered by type")

# Webhook signatures: Stripe's own verification accepts every delivery.
deadline = time.time() + 10
kinds = {"checkout.session.completed", "checkout.session.expired", "refund.created", "charge.refunded", "refund.failed", "charge.dispute.created", "charge.dispute.closed"}
while time.time() < deadline and not kinds <= {json.loads(body)["type"] for body, _ in received}:
    time.sleep(0.05)
check(kinds <= {json.loads(body)["type"] for body, _ in received}, "sessions and refunds are delivered to the webhook")
for body, signature in received:
    event = stripe.Webhook.construct_event(body, signature, WHSEC)
    check(event.id.startswith("evt_"), f"construct_event accepts the {event.type} delivery")
body, signature = received[0]
raises(stripe.SignatureVerificationError, "a tampered body fails construct_event",
       lambda: stripe.Webhook.construct_event(body + b" ", signature, WHSEC))
raises(stripe.SignatureVerificationError, "another secret fails construct_event",
       lambda: stripe.Webhook.construct_event(body, signature, "whsec_other"))

print(f"stripe-python {stripe.VERSION}: {len(passed)} passed, 0 failed")
