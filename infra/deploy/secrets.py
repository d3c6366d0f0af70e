"""Makes sure the deployment's Secrets Manager secret holds every key the
functions need, asking for each missing one (hidden input) on the first run.
Run by `make deploy` with the venv's python (boto3 comes with aws-sam-cli)."""

import getpass
import json
import sys

import boto3
from botocore.exceptions import ClientError

KEYS = {
    "STRIPE_SECRET_KEY": "Stripe Dashboard > Developers > API keys > Secret key (sk_live_... or sk_test_...)",
    "STRIPE_WEBHOOK_SECRET": "Stripe Dashboard > Developers > Webhooks > your endpoint > Signing secret (whsec_...); empty until the endpoint exists",
    "HMS_APP_SECRET": "100ms dashboard > Developer > App secret",
    "AUTH_JWT_SECRET": "your auth provider's HS256 JWT secret (Supabase: Settings > API); leave empty with AuthJwksUrl",
}


def main(name):
    client = boto3.client("secretsmanager")
    try:
        current = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
        exists = True
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        current, exists = {}, False
    missing = [k for k in KEYS if k not in current]
    if not missing:
        print(f"secret {name}: every key present")
        return
    if not sys.stdin.isatty():
        raise SystemExit(f"secret {name} lacks {missing}; run make deploy in a terminal to enter them")
    for key in missing:
        current[key] = getpass.getpass(f"{key} ({KEYS[key]}): ").strip()
    body = json.dumps(current)
    if exists:
        client.put_secret_value(SecretId=name, SecretString=body)
    else:
        client.create_secret(Name=name, SecretString=body, Description="Lesson marketplace backend secrets (see template.yaml)")
    print(f"secret {name}: stored {missing}")


if __name__ == "__main__":
    main(sys.argv[1])
