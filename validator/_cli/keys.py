"""``appeal-validator keys``: API keys per tenant (stored hashed; shown once)."""

from __future__ import annotations

import argparse
import sys

from validator.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys per tenant, for the web service's API v1. The same settings "
        "as serve (APPEAL_VALIDATOR_DATA_DIR, DATABASE_URL).",
    )
    ksub = p.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=type(p))
    ksub.required = True
    c = ksub.add_parser(
        "create",
        help="make a key for TENANT; prints it once, alone on stdout",
        description="Make an API key for TENANT (created if new). Prints the key alone on "
        "stdout (KEY=$(appeal-validator keys create acme)) and its id and webhook secret "
        "on stderr; only its hash is kept.",
    )
    c.add_argument("tenant", metavar="TENANT", help="tenant name (letters, digits, - _ .)")
    c.add_argument("--callback-url", metavar="URL", help="default webhook URL for this key")
    c.set_defaults(func=create)
    ls = ksub.add_parser("list", help="list keys (never the keys themselves)")
    ls.add_argument("tenant", nargs="?", metavar="TENANT", help="only this tenant's keys")
    ls.set_defaults(func=list_keys)
    r = ksub.add_parser("revoke", help="revoke a key by its id (key_...)")
    r.add_argument("key_id", metavar="KEY_ID")
    r.set_defaults(func=revoke)
    for q in (c, ls, r):
        q.add_argument("--data-dir", help="data directory (APPEAL_VALIDATOR_DATA_DIR)")


def _store(args: argparse.Namespace):
    from validator.jobs import settings
    from validator.jobs.store import Store

    cfg = settings.from_env(overrides={"DATA_DIR": args.data_dir})
    settings.ensure_data_dir(cfg)
    return Store(cfg.database_url)


_TENANT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def create(args: argparse.Namespace) -> int:
    from validator.jobs.webhooks import check_url

    tenant = args.tenant
    if not tenant or len(tenant) > 100 or not set(tenant) <= _TENANT_CHARS or tenant[0] in "_.-":
        raise UsageError(
            f"tenant name {tenant!r}: use 1-100 letters, digits, '-', '_' or '.', "
            "not starting with one of '_.-' (names starting with '_' are reserved)"
        )
    if args.callback_url and (why := check_url(args.callback_url)):
        raise UsageError(f"--callback-url: {why}")
    store = _store(args)
    try:
        row, key = store.create_key(tenant, callback_url=args.callback_url)
    finally:
        store.close()
    # The key alone on stdout, so `KEY=$(appeal-validator keys create acme)` captures it
    # (docs/api.md); what a person reads goes to stderr, the secret included: it is
    # shown once too, and a script that needs it can redirect stderr.
    print(f"tenant: {tenant}", file=sys.stderr)
    print(f"key id: {row.id}", file=sys.stderr)
    if row.callback_url:
        print(f"callback url: {row.callback_url}", file=sys.stderr)
    print(f"webhook secret: {row.webhook_secret}", file=sys.stderr)
    print("the key (shown once; only its hash is stored) is on stdout", file=sys.stderr, flush=True)
    print(key, flush=True)
    return 0


def list_keys(args: argparse.Namespace) -> int:
    from validator.timeutil import iso

    store = _store(args)
    try:
        rows = store.api_keys(args.tenant)
    finally:
        store.close()
    print(f"{'KEY ID':<18} {'TENANT':<20} {'PREFIX':<12} {'CREATED':<21} {'REVOKED':<21} CALLBACK")
    for key, tenant in rows:
        print(
            f"{key.id:<18} {tenant.name:<20} {key.prefix + '…':<12} {iso(key.created_at):<21} "
            f"{iso(key.revoked_at) or '-':<21} {key.callback_url or '-'}"
        )
    return 0


def revoke(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        if store.key(args.key_id) is None:
            raise UsageError(f"no key {args.key_id!r}; see: appeal-validator keys list")
        done = store.revoke_key(args.key_id)
    finally:
        store.close()
    print(f"revoked {args.key_id}" if done else f"{args.key_id} was already revoked")
    return 0
