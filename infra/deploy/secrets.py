"""The deployment's Secrets Manager secret.

  secrets.py NAME                 ask for each missing key (hidden input); make deploy runs it
  secrets.py NAME --get KEY       print one value (for a pipe; make stripe-webhook)
  secrets.py NAME --set KEY       store one value read from stdin; nothing read, nothing stored

Runs with the venv's python (boto3 comes with aws-sam-cli)."""

import getpass
import json
import secrets
import sys

import boto3
from botocore.exceptions import ClientError

KEYS = {
    "STRIPE_SECRET_KEY": "Stripe Dashboard > Developers > API keys > Secret key (sk_live_... or sk_test_...)",
    "STRIPE_WEBHOOK_SECRET": "Stripe Dashboard > Developers > Webhooks > your endpoint > Signing secret (whsec_...); leave empty: make stripe-webhook fills it",
    "STRIPE_CONNECT_WEBHOOK_SECRET": "the Connect endpoint's Signing secret (whsec_...); leave empty: make stripe-webhook fills it",
    "HMS_APP_SECRET": "100ms dashboard > Developer > App secret",
    "AUTH_JWT_SECRET": "your auth provider's HS256 JWT secret (Supabase: Settings > API); leave empty with AuthJwksUrl",
}


# Ours to make, never asked: 100ms sends it back with each room's events (hms-webhook).
GENERATED = {"HMS_WEBHOOK_SECRET": lambda: secrets.token_hex(32)}


def read(client, name):
    try:
        return json.loads(client.get_secret_value(SecretId=name)["SecretString"]), True
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return {}, False


def write(client, name, values, exists):
    body = json.dumps(values)
    if exists:
        client.put_secret_value(SecretId=name, SecretString=body)
    else:
        client.create_secret(Name=name, SecretString=body, Description="Lesson marketplace backend secrets (see template.yaml)")


def main(name, action=None, key=None):
    client = boto3.client("secretsmanager")
    current, exists = read(client, name)
    if action == "--get":
        print(current.get(key, ""))
        return
    if action == "--set":
        value = sys.stdin.read().strip()
        if value:
            current[key] = value
            write(client, name, current, exists)
            print(f"secret {name}: stored {key}; run make deploy to hand it to the functions", file=sys.stderr)
        return
    made = [k for k in GENERATED if not current.get(k)]
    for generated_key in made:
        current[generated_key] = GENERATED[generated_key]()
    missing = [k for k in KEYS if k not in current]
    if made and not missing:
        write(client, name, current, exists)
        print(f"secret {name}: generated {made}")
        return
    if not missing:
        print(f"secret {name}: every key present")
        return
    if not sys.stdin.isatty():
        raise SystemExit(f"secret {name} lacks {missing}; run make deploy in a terminal to enter them")
    for missing_key in missing:
        current[missing_key] = getpass.getpass(f"{missing_key} ({KEYS[missing_key]}): ").strip()
    write(client, name, current, exists)
    print(f"secret {name}: stored {missing}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
