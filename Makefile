# Two commands matter: `make dev` (the whole stack on this machine) and
# `make test` (every test). Both install what they need into ./.venv.

SHELL := /bin/bash
CARGO_LAMBDA_VERSION := 1.9.2
CFN_LINT_VERSION := 1.58.0
OPENAPI_SPEC_VALIDATOR_VERSION := 0.9.0
STRIPE_PYTHON_VERSION := 16.1.0
SCHEMATHESIS_VERSION := 4.32.5
SAM_CLI_VERSION := 1.170.0
ZIG_VERSION := 0.15.2
ENV ?=
ORIGIN ?= http://localhost:3000
VENV := .venv
CARGO_LAMBDA := $(VENV)/bin/cargo-lambda
CFN_LINT := $(VENV)/bin/cfn-lint
OPENAPI_SPEC_VALIDATOR := $(VENV)/bin/openapi-spec-validator
STRIPE_PYTHON := $(VENV)/lib/stripe-$(STRIPE_PYTHON_VERSION).installed
SCHEMATHESIS := $(VENV)/bin/schemathesis
SAM := $(VENV)/bin/sam
ZIG := $(VENV)/bin/python-zig.installed
FUNCTION_CRATES := $(notdir $(wildcard functions/*))
# A deployed stack's outputs (ENV=dev|prod) into .local/, and its table's name from them.
STACK_OUTPUTS = mkdir -p .local && $(SAM) list stack-outputs --config-env $(ENV) --output json > .local/outputs-$(ENV).json
STACK_TABLE = TABLE_NAME=$$(python3 -c 'import json,sys; print(next(o["OutputValue"] for o in json.load(open(sys.argv[1])) if o["OutputKey"] == "TableName"))' .local/outputs-$(ENV).json)
# 100ms's official server SDK, pinned by tests/conformance/hms/package-lock.json.
HMS_SDK := tests/conformance/hms/node_modules/.package-lock.json
# The reference web app and its client generated from docs/openapi.yaml, pinned by infra/web/package-lock.json.
WEB := infra/web
WEB_MODULES := $(WEB)/node_modules/.package-lock.json
WEB_BUILD := $(WEB)/dist/app/main.js
# The mail viewer of the local stack: aws-ses-v2-local from npm (infra/ses-local/package-lock.json).
SES_LOCAL := infra/ses-local/node_modules/.package-lock.json
# The browser test: Playwright and axe-core from npm (tests/browser/package-lock.json), Debian's Chromium.
BROWSER_MODULES := tests/browser/node_modules/.package-lock.json
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# cargo finds `cargo lambda` as the cargo-lambda binary on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# `make table` / `make seed` / `make reconcile` / `make attention` target the local stack
# unless TABLE_NAME is set. Never with ENV=: the local stack's stand-in credentials would
# replace the operator's own.
ifeq ($(origin TABLE_NAME)$(ENV),undefined)
export TABLE_NAME := lessons
export AWS_ENDPOINT_URL_DYNAMODB ?= http://127.0.0.1:8000
export AWS_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local
LOCAL_ENV := set -a && source ./.env.local && set +a &&
endif

.PHONY: iam-report dev test clock-check demo contract browser web doctor build deploy stripe-webhook bench table seed reconcile notify payouts earnings transfer-hold credits credits-refund attention profile-history booking outcome repair-rooms create-booking create-room tools clean-local

$(CARGO_LAMBDA):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==$(CARGO_LAMBDA_VERSION)

$(CFN_LINT): $(CARGO_LAMBDA)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cfn-lint==$(CFN_LINT_VERSION)

$(OPENAPI_SPEC_VALIDATOR): $(CARGO_LAMBDA)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check openapi-spec-validator==$(OPENAPI_SPEC_VALIDATOR_VERSION)

# Stripe's official library, for the emulator's conformance test.
$(STRIPE_PYTHON): $(CARGO_LAMBDA)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check stripe==$(STRIPE_PYTHON_VERSION)
	touch $@

$(HMS_SDK): tests/conformance/hms/package-lock.json
	cd tests/conformance/hms && npm ci --no-audit --no-fund --loglevel=error

# Playwright and the app's client need Node.js 20 or newer (Debian 12's own package is 18).
NODE_OK = node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "Node.js 20 or newer is needed (found $$(node --version 2>/dev/null || echo none)): Debian 13's nodejs, or nodejs.org"; exit 1; }

$(WEB_MODULES): $(WEB)/package-lock.json
	@$(NODE_OK)
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

# Regenerates client/schema.d.ts from the contract first: code that no longer follows it fails to compile.
$(WEB_BUILD): $(WEB_MODULES) docs/openapi.yaml $(WEB)/tsconfig.json $(wildcard $(WEB)/client/*.ts $(WEB)/app/*.ts $(WEB)/app/pages/*.ts)
	cd $(WEB) && npm run --silent build

web: $(WEB_BUILD)

$(SES_LOCAL): infra/ses-local/package-lock.json
	cd infra/ses-local && npm ci --no-audit --no-fund --loglevel=error

$(BROWSER_MODULES): tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error

$(CHROMIUM):
	$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null

$(SCHEMATHESIS): $(CARGO_LAMBDA)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)

tools: $(CARGO_LAMBDA) $(CFN_LINT) $(OPENAPI_SPEC_VALIDATOR) $(STRIPE_PYTHON) $(HMS_SDK) $(SCHEMATHESIS) $(WEB_BUILD) $(BROWSER_MODULES) $(CHROMIUM) $(SES_LOCAL)

# Deployment tools, only for build/deploy: zig cross-compiles to arm64 for cargo-lambda.
$(SAM): $(CARGO_LAMBDA)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
$(ZIG): $(CARGO_LAMBDA)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check ziglang==$(ZIG_VERSION)
	touch $@

# Every function as deployed: release, arm64, one zip each under target/lambda/<name>/.
build: $(ZIG)
	cargo lambda build --release --arm64 --output-format zip $(addprefix --bin ,$(FUNCTION_CRATES))

# make deploy ENV=dev|prod: the secret first (asks for missing values on the first run), then SAM.
deploy: $(SAM) $(ZIG)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=dev|prod"; exit 2; }
	$(VENV)/bin/python infra/deploy/secrets.py lessons/$(ENV)
	$(SAM) build --beta-features
	$(SAM) deploy --config-env $(ENV)

dev: $(CARGO_LAMBDA) $(WEB_BUILD) $(SES_LOCAL)
	set -a && source ./.env.local && set +a && cargo run --locked -p local-stack --bin local-stack

# The second cargo line keeps --workspace so that it resolves the same features as the
# first and runs the e2e binary already built, instead of linking another one.
# Every DynamoDB call of every part passes the IAM checker, which records what each
# function used in $(IAM_USAGE_FILE) for `make iam-report`.
IAM_USAGE_FILE := $(CURDIR)/target/iam-usage.jsonl
test: export IAM_USAGE_FILE := $(IAM_USAGE_FILE)
test: tools
	mkdir -p target && rm -f $(IAM_USAGE_FILE)
	$(CFN_LINT) template.yaml
	$(OPENAPI_SPEC_VALIDATOR) docs/openapi.yaml
	cargo test --workspace --locked
	cargo test --workspace --locked --test e2e -- --ignored
	$(MAKE) --no-print-directory demo
	$(MAKE) --no-print-directory contract
	$(MAKE) --no-print-directory browser
	set -a && source ./.env.local && set +a && cargo run --locked -q -p local-stack --bin doctor-check

# Never in `make test`. The slot search (criterion), what one student's journey costs
# (DynamoDB units and Lambda GB-seconds per step, README "What a journey costs"), then every function as
# deployed next to a hello-world lambda_runtime binary built in the same run:
# arm64 zip sizes, and on this machine (same profile) init, first and second
# request and peak memory against a local Runtime API (README, "Cold start").
bench: $(ZIG)
	cargo bench --locked -p shared --bench slots
	cargo bench --locked -p tests --bench journey
	cargo lambda build --release --arm64 --output-format zip $(addprefix --bin ,$(FUNCTION_CRATES) hello-world)
	cargo build --release --locked $(addprefix --bin ,$(FUNCTION_CRATES) hello-world coldstart)
	set -a && source ./.env.local && set +a && ./target/release/coldstart $(BENCH_ARGS)

# Never in `make test`. The e2e suite on other clocks (libfaketime from Debian): tests book
# lessons relative to now, so each instant below once broke one (a lesson over midnight, New
# York's summer time) or sits where such bugs hide (midnight, weekends, DST changes, year end).
FAKETIME_LIB := /usr/lib/$(shell uname -m)-linux-gnu/faketime/libfaketimeMT.so.1
CLOCK_CHECK_AT ?= 2026-12-07T20:30 2026-12-07T23:55 2026-12-13T23:30 2026-12-31T23:30 2027-03-27T23:30 2027-03-28T00:40 2027-07-15T12:00 2027-10-30T22:30
$(FAKETIME_LIB):
	$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null

clock-check: $(FAKETIME_LIB)
	@built=$$(cargo test --locked -p tests --test e2e --no-run 2>&1) || { echo "$$built"; exit 1; }; \
	e2e=$$(sed -n 's/.*Executable.*(\(.*\))/\1/p' <<<"$$built"); failed=0; \
	for at in $(CLOCK_CHECK_AT); do \
	  out=$$(cd tests && TZ=UTC LD_PRELOAD=$(FAKETIME_LIB) FAKETIME="@$${at/T/ }:00" FAKETIME_DONT_FAKE_MONOTONIC=1 \
	    FAKETIME_DONT_RESET=1 "$(CURDIR)/$$e2e" -q 2>&1); \
	  echo "$$at UTC: $$(grep '^test result' <<<"$$out")"; grep -E '^    [a-z_:]+$$' <<<"$$out"; \
	  grep -q '^test result: ok' <<<"$$out" || failed=1; \
	done; exit $$failed

# Per function: what template.yaml grants on the table and what the last `make test` used.
iam-report:
	IAM_USAGE_FILE=$(IAM_USAGE_FILE) cargo run --locked -q -p local-stack --bin iam-report

table:
	cargo run --locked -q -p infra --bin admin -- create-table

seed:
	@test -n "$(FILE)" || { echo "usage: make seed FILE=path/to/profiles.json"; exit 2; }
	cargo run --locked -q -p infra --bin admin -- seed $(FILE)

# The whole money path over HTTP against `make dev` (started for the run when not running).
demo: $(CARGO_LAMBDA) $(SES_LOCAL)
	set -a && source ./.env.local && set +a && cargo run --locked -q -p local-stack --bin demo -- --start

# The student's and teacher's journey in headless Chromium against the local stack and the web
# app (started for the run when not running); screenshots under target/browser/.
browser: $(CARGO_LAMBDA) $(WEB_BUILD) $(BROWSER_MODULES) $(CHROMIUM) $(SES_LOCAL)
	set -a && source ./.env.local && set +a && cargo run --locked -q -p local-stack --bin browser -- --start

# Schemathesis against every operation of docs/openapi.yaml on the local stack (started for the run when not running).
contract: $(CARGO_LAMBDA) $(SCHEMATHESIS) $(SES_LOCAL)
	set -a && source ./.env.local && set +a && cargo run --locked -q -p local-stack --bin contract -- --start

# The Stripe webhook endpoint for the deployed URL, with exactly our events; a new endpoint's
# signing secret goes straight into the secret (then make deploy hands it to the function).
stripe-webhook: $(SAM)
	@test -n "$(ENV)" || { echo "usage: make stripe-webhook ENV=dev|prod"; exit 2; }
	$(STACK_OUTPUTS)
	url=$$(python3 -c 'import json,sys; print(next(o["OutputValue"] for o in json.load(open(sys.argv[1])) if o["OutputKey"] == "StripeWebhookUrl"))' .local/outputs-$(ENV).json) && \
	STRIPE_SECRET_KEY=$$($(VENV)/bin/python infra/deploy/secrets.py lessons/$(ENV) --get STRIPE_SECRET_KEY) \
	cargo run --locked -q -p infra --bin admin -- stripe-webhook --url $$url --print-secret \
	| $(VENV)/bin/python infra/deploy/secrets.py lessons/$(ENV) --set STRIPE_WEBHOOK_SECRET && \
	STRIPE_SECRET_KEY=$$($(VENV)/bin/python infra/deploy/secrets.py lessons/$(ENV) --get STRIPE_SECRET_KEY) \
	cargo run --locked -q -p infra --bin admin -- stripe-webhook --url $$url --connect --print-secret \
	| $(VENV)/bin/python infra/deploy/secrets.py lessons/$(ENV) --set STRIPE_CONNECT_WEBHOOK_SECRET

# Checks a deployment end to end and names the fix for each problem. Locally (the default)
# against a running `make dev` (the environment it started the functions with, and .env.local
# as the stored secrets); for a deployment: make doctor ENV=dev (the functions' configuration
# from Lambda and the secret lessons/<ENV> from Secrets Manager, read with your AWS credentials).
doctor: tools $(if $(ENV),$(SAM))
ifeq ($(ENV),)
	set -a && source ./.env.local && set +a && cargo run --locked -q -p infra --bin admin -- doctor --functions-base http://127.0.0.1:9000/lambda-url --functions-env .local/functions.env
else
	$(STACK_OUTPUTS)
	cargo run --locked -q -p infra --bin admin -- doctor --stack-outputs .local/outputs-$(ENV).json --secret-name lessons/$(ENV) --origin $(ORIGIN)
endif

# Settles checkouts stuck past their holds and Stripe events whose delivery failed; safe to repeat.
reconcile:
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- reconcile

# Sends the notices that are due (one sweep of notify; `make dev` runs it every few seconds); safe to repeat.
notify:
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- notify

# Transfers the teachers' earnings that are due and makes the reversals owed (one sweep; reconcile's schedule runs it too); safe to repeat.
payouts:
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- payouts

# A teacher's payout ledger: make earnings TEACHER=t_anna
earnings:
	@test -n "$(TEACHER)" || { echo "usage: make earnings TEACHER=<teacher_id>"; exit 2; }
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- earnings '$(TEACHER)'

# A student's lesson-package credits: make credits STUDENT=s_demo
credits:
	@test -n "$(STUDENT)" || { echo "usage: make credits STUDENT=<student login>"; exit 2; }
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- credits list '$(STUDENT)'

# Refunds a grant's unused credits (their value, or AMOUNT if less): make credits-refund GRANT=gr_… [AMOUNT=1000]
credits-refund:
	@test -n "$(GRANT)" || { echo "usage: make credits-refund GRANT=<grant_id> [AMOUNT=<minor units>]"; exit 2; }
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- credits refund '$(GRANT)' $(AMOUNT)

# Stops or resumes a teacher's transfers (what is due stays due): make transfer-hold TEACHER=t_anna STATE=on|off
transfer-hold:
	@test -n "$(TEACHER)" -a -n "$(STATE)" || { echo "usage: make transfer-hold TEACHER=<teacher_id> STATE=on|off"; exit 2; }
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- transfer-hold '$(TEACHER)' '$(STATE)'

# Every change of one teacher's profile (version, who, when, which fields): make profile-history TEACHER=t_anna [ENV=dev]
profile-history: $(if $(ENV),$(SAM))
	@test -n "$(TEACHER)" || { echo "usage: make profile-history TEACHER=<teacher_id> [ENV=dev|prod]"; exit 2; }
ifeq ($(ENV),)
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- profile-history '$(TEACHER)'
else
	$(STACK_OUTPUTS)
	$(STACK_TABLE) \
	cargo run --locked -q -p infra --bin admin -- profile-history '$(TEACHER)'
endif

# A booking as stored, and its webhook stays: make booking BOOKING=bk_… [ENV=dev]
booking: $(if $(ENV),$(SAM))
	@test -n "$(BOOKING)" || { echo "usage: make booking BOOKING=<booking_id> [ENV=dev|prod]"; exit 2; }
ifeq ($(ENV),)
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- booking '$(BOOKING)'
else
	$(STACK_OUTPUTS)
	$(STACK_TABLE) cargo run --locked -q -p infra --bin admin -- booking '$(BOOKING)'
endif

# Overrule a lesson's outcome: make outcome BOOKING=bk_… OUTCOME=completed|student_no_show|teacher_no_show [ENV=dev]
outcome: $(if $(ENV),$(SAM))
	@test -n "$(BOOKING)" -a -n "$(OUTCOME)" || { echo "usage: make outcome BOOKING=<booking_id> OUTCOME=completed|student_no_show|teacher_no_show [ENV=dev|prod]"; exit 2; }
ifeq ($(ENV),)
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- outcome '$(BOOKING)' '$(OUTCOME)'
else
	$(STACK_OUTPUTS)
	$(STACK_TABLE) cargo run --locked -q -p infra --bin admin -- outcome '$(BOOKING)' '$(OUTCOME)'
endif

# Everything that needs a person, each with what to do (local, TABLE_NAME=..., or ENV=dev|prod);
# RESOLVE='kind#subject' closes one once it is dealt with.
attention: $(if $(ENV),$(SAM))
ifeq ($(ENV),)
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- attention $(if $(RESOLVE),--resolve '$(RESOLVE)')
else
	$(STACK_OUTPUTS)
	$(STACK_TABLE) \
	cargo run --locked -q -p infra --bin admin -- attention $(if $(RESOLVE),--resolve '$(RESOLVE)')
endif

# Makes the 100ms room of every booking still without one; safe to repeat.
repair-rooms:
	$(LOCAL_ENV) cargo run --locked -q -p infra --bin admin -- repair-rooms

# The operator endpoints: make create-booking CHECKOUT=co_… / make create-room BOOKING=b_…
# Locally against a running `make dev` (admin token); with ENV= the deployed URLs, SigV4-signed
# with your AWS credentials (they need lambda:InvokeFunctionUrl and lambda:InvokeFunction).
OPERATOR_ENDPOINT = $(if $(ENV),--stack-outputs .local/outputs-$(ENV).json,--functions-base http://127.0.0.1:9000/lambda-url)
create-booking: $(if $(ENV),$(SAM))
	@test -n "$(CHECKOUT)" || { echo "usage: make create-booking CHECKOUT=<checkout_id> [ENV=dev]"; exit 2; }
	$(if $(ENV),$(STACK_OUTPUTS))
	$(if $(ENV),,set -a && source ./.env.local && set +a &&) cargo run --locked -q -p infra --bin admin -- create-booking $(CHECKOUT) $(OPERATOR_ENDPOINT)

create-room: $(if $(ENV),$(SAM))
	@test -n "$(BOOKING)" || { echo "usage: make create-room BOOKING=<booking_id> [ENV=dev]"; exit 2; }
	$(if $(ENV),$(STACK_OUTPUTS))
	$(if $(ENV),,set -a && source ./.env.local && set +a &&) cargo run --locked -q -p infra --bin admin -- create-room $(BOOKING) $(OPERATOR_ENDPOINT)

clean-local:
	rm -rf .local
