"""Drives the Stripe emulator with Stripe's official Python library, as a new
user would: every endpoint this project uses, the error classes, idempotency,
refunds, Connect (accounts, onboarding links, transfers, reversals, balances),
and webhook verification with stripe.Webhook.construct_event. Our own
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


def visit(url, data=None):
    """(status, Location or page) of one request, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as redirect:
        return redirect.code, redirect.headers.get("Location")


received = []
connect_received = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        # Connect events come to /connect, signed with the Connect endpoint's own secret.
        (connect_received if self.path.startswith("/connect") else received).append((body, self.headers.get("Stripe-Signature")))
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

# Connect: a teacher's account, onboarding, transfers from a paid session's charge, reversals, balances.
CONNECT_WHSEC = "whsec_conformance_connect"
control("connect_webhook", {"url": f"http://127.0.0.1:{hook.server_address[1]}/connect", "secret": CONNECT_WHSEC})
control("balance", {"currency": "eur", "amount": 0})
controller = {"fees": {"payer": "application"}, "losses": {"payments": "application"},
              "requirement_collection": "stripe", "stripe_dashboard": {"type": "express"}}


def account_params(**extra):
    return {"controller": controller, "capabilities": {"transfers": {"requested": True}}, "email": "anna@example.com",
            "metadata": {"teacher_id": "t_conf1"}, **extra}


teacher = client.v1.accounts.create(account_params(country="US"), {"idempotency_key": "account-t_conf1"})
check(isinstance(teacher, stripe.Account) and teacher.id.startswith("acct_"), "an account created with controller properties is a stripe.Account")
check(teacher.controller.stripe_dashboard.type == "express" and teacher.controller.is_controller and teacher.controller.fees.payer == "application",
      "…with the controller asked for")
check(teacher.capabilities.transfers == "inactive" and not teacher.payouts_enabled and not teacher.details_submitted
      and "tos_acceptance.date" in teacher.requirements.currently_due and teacher.requirements.disabled_reason == "requirements.past_due",
      "a new account owes its details and cannot receive transfers")
again = client.v1.accounts.create(account_params(country="US"), {"idempotency_key": "account-t_conf1"})
check(again.id == teacher.id, "an account's idempotency key creates it once")
full_abroad = raises(stripe.InvalidRequestError, "an account abroad under the full service agreement is refused",
                     lambda: client.v1.accounts.create(account_params(country="DE")))
check(full_abroad.param == "tos_acceptance[service_agreement]", "…naming tos_acceptance[service_agreement]")
abroad = client.v1.accounts.create(account_params(country="DE", tos_acceptance={"service_agreement": "recipient"}))
check(abroad.country == "DE" and abroad.default_currency == "eur" and abroad.tos_acceptance.service_agreement == "recipient",
      "an account abroad under the recipient agreement is made, in its country's currency")
raises(stripe.InvalidRequestError, "cross-border outside the US, UK, EEA, Canada and Switzerland is refused",
       lambda: client.v1.accounts.create(account_params(country="JP", tos_acceptance={"service_agreement": "recipient"})))
unknown = raises(stripe.InvalidRequestError, "an unknown account parameter is refused",
                 lambda: client.v1.accounts.create(account_params(business_profile={"url": "https://ex.com"})))
check(unknown.code == "parameter_unknown", "…with code parameter_unknown")
check(client.v1.accounts.retrieve(teacher.id).email == "anna@example.com", "retrieve gives the account")
updated = client.v1.accounts.update(teacher.id, {"metadata": {"profile": "p1"}, "email": "anna.schmidt@example.com"})
check(updated.metadata["teacher_id"] == "t_conf1" and updated.metadata["profile"] == "p1" and updated.email == "anna.schmidt@example.com",
      "update sets email and adds metadata")
missing = raises(stripe.PermissionError, "an account the platform does not have is a PermissionError",
                 lambda: client.v1.accounts.retrieve("acct_nope"))
# stripe-python leaves `code` unset on a PermissionError; the body has it.
check(missing.json_body["error"]["code"] == "account_invalid" and missing.http_status == 403, "…403 account_invalid")

paid = client.v1.checkout.sessions.create({**session_params("co_conf6"), "payment_intent_data": {"metadata": {"checkout_id": "co_conf6"}, "transfer_group": "co_conf6"}})
press_pay(paid.url)
intent = client.v1.payment_intents.retrieve(client.v1.checkout.sessions.retrieve(paid.id).payment_intent)
check(intent.transfer_group == "co_conf6", "a session's payment_intent_data[transfer_group] is on its PaymentIntent")
charge = intent.latest_charge
lesson = {"amount": 2000, "currency": "eur", "destination": teacher.id, "source_transaction": charge,
          "transfer_group": "co_conf6", "metadata": {"lesson_id": "l1"}}
not_ready = raises(stripe.InvalidRequestError, "a transfer to an account not onboarded is refused", lambda: client.v1.transfers.create(lesson))
check(not_ready.code == "insufficient_capabilities_for_transfer", "…insufficient_capabilities_for_transfer")

link = client.v1.account_links.create({"account": teacher.id, "type": "account_onboarding",
                                       "refresh_url": "http://localhost:3000/payouts/refresh", "return_url": "http://localhost:3000/payouts/done"})
check(isinstance(link, stripe.AccountLink) and link.expires_at == link.created + 300 and link.url.startswith(BASE), "an account link expires after 300 s")
status, page = visit(link.url)
check(status == 200 and "Submit without verification" in page, "the link shows the onboarding form")
check(visit(link.url) == (303, "http://localhost:3000/payouts/refresh"), "a visited link sends to refresh_url")
check(visit(link.url, b"outcome=verified") == (303, "http://localhost:3000/payouts/done"), "submitting the form returns to return_url")
onboarded = client.v1.accounts.retrieve(teacher.id)
check(onboarded.details_submitted and onboarded.payouts_enabled and onboarded.capabilities.transfers == "active"
      and onboarded.requirements.currently_due == [] and onboarded.requirements.disabled_reason is None, "the onboarded account can receive transfers")

first = client.v1.transfers.create(lesson, {"idempotency_key": "transfer-l1"})
check(isinstance(first, stripe.Transfer) and first.amount == 2000 and first.source_transaction == charge and first.destination == teacher.id,
      "a transfer from the session's charge is made")
check(client.v1.transfers.create(lesson, {"idempotency_key": "transfer-l1"}).id == first.id, "a transfer's idempotency key makes it once")
too_much = raises(stripe.InvalidRequestError, "transfers of one charge cannot add up past it",
                  lambda: client.v1.transfers.create({**lesson, "amount": 1001, "metadata": {"lesson_id": "l2"}}))
check("must not exceed the source amount" in too_much.user_message, "…in Stripe's words")
broke = raises(stripe.InvalidRequestError, "a transfer without source needs the platform's available balance",
               lambda: client.v1.transfers.create({"amount": 100, "currency": "eur", "destination": teacher.id}))
check(broke.code == "balance_insufficient", "…balance_insufficient")
second = client.v1.transfers.create({**lesson, "amount": 1000, "metadata": {"lesson_id": "l2"}}, {"idempotency_key": "transfer-l2"})
grouped = client.v1.transfers.list({"transfer_group": "co_conf6"})
check([t.id for t in grouped.data] == [second.id, first.id], "transfers are listed by transfer_group, newest first")
check(client.v1.transfers.retrieve(first.id).metadata["lesson_id"] == "l1", "retrieve gives the transfer")
balance = client.v1.balance.retrieve(options={"stripe_account": teacher.id})
check([(b.amount, b.currency) for b in balance.available] == [(3000, "eur")], "the teacher's balance (Stripe-Account) holds the transfers")

reversal = client.v1.transfers.reversals.create(first.id, {"amount": 500, "metadata": {"refund": "r1"}}, {"idempotency_key": "reversal-l1"})
check(isinstance(reversal, stripe.TransferReversal) and reversal.amount == 500 and reversal.transfer == first.id, "a partial reversal is made")
reversed_transfer = client.v1.transfers.retrieve(first.id)
check(reversed_transfer.amount_reversed == 500 and not reversed_transfer.reversed and reversed_transfer.reversals.total_count == 1,
      "the transfer counts its reversal")
check([r.id for r in client.v1.transfers.reversals.list(first.id).data] == [reversal.id], "a transfer's reversals are listed")
check(client.v1.balance.retrieve().available[0].amount == 500, "a reversal returns the money to the platform's balance")
control(f"accounts/{teacher.id}/payout", {"fail": False})
check(client.v1.balance.retrieve(options={"stripe_account": teacher.id}).available[0].amount == 0, "a payout empties the teacher's balance")
spent = raises(stripe.InvalidRequestError, "a reversal the teacher's balance cannot cover is refused",
               lambda: client.v1.transfers.reversals.create(first.id, {"amount": 100}))
check(spent.code == "balance_insufficient", "…balance_insufficient")
raises(stripe.PermissionError, "Stripe-Account of an unknown account is a PermissionError",
       lambda: client.v1.balance.retrieve(options={"stripe_account": "acct_nope"}))

deadline = time.time() + 10
connect_kinds = {"account.updated", "payout.paid"}
while time.time() < deadline and not (connect_kinds <= {json.loads(body)["type"] for body, _ in connect_received}
                                      and any(json.loads(body)["type"] == "transfer.created" for body, _ in received)):
    time.sleep(0.05)
for body, signature in connect_received:
    event = stripe.Webhook.construct_event(body, signature, CONNECT_WHSEC)
    check(event.account == teacher.id, f"the Connect {event.type} event names the account and verifies with the Connect secret")
check(connect_kinds <= {json.loads(body)["type"] for body, _ in connect_received}, "account.updated and payout.paid reach the Connect endpoint")
check(all("account" not in json.loads(body) for body, _ in received), "platform deliveries carry no account")
check(any(json.loads(body)["type"] == "transfer.created" for body, _ in received), "transfer.created goes to the platform's endpoint")
# Registered last: from now on registered endpoints replace the configured URLs.
connect_endpoint = client.v1.webhook_endpoints.create({"url": f"http://127.0.0.1:{hook.server_address[1]}/connect-registered",
                                                       "enabled_events": ["account.updated"], "connect": True})
check(connect_endpoint.secret.startswith("whsec_") and connect_endpoint.url.endswith("/connect-registered"),
      "a Connect webhook endpoint (connect=true) is registered with its own secret")

print(f"stripe-python {stripe.VERSION}: {len(passed)} passed, 0 failed")
