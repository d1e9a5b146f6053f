"""``chargelog apikey create|list|revoke``: client API keys
(mobile-websocket-api.md section 2). Keys live hashed in ``{data_dir}/apikeys.sqlite``
(:mod:`chargelog.adapters.api.apikeys`); ``create`` prints the key once, with its id."""

from __future__ import annotations

import argparse
import json

from chargelog.adapters.api.apikeys import ApiKeyStore

from .common import settings_from
from .main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("apikey", help="create, list and revoke client API keys",
                              description="Manage API keys (stored as SHA-256 hashes under the data dir).")
    p.add_argument("--data-dir", help="data directory (env CHARGELOG_DATA_DIR; default ./.chargelog)")
    p.add_argument("--config", help="settings file, TOML or JSON (env CHARGELOG_CONFIG)")
    sub = p.add_subparsers(dest="apikey_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("--user", required=True, help="the owning userId")
    create.add_argument("--scopes", required=True, help="comma-separated: read:stations, write:charging, admin, audit")
    create.add_argument("--key", help="use this key instead of a generated one (e.g. test-mobile-key-123)")
    create.add_argument("--json", action="store_true", help="print {id, key, userId, scopes} as JSON")
    create.set_defaults(func=run_create)
    listing = sub.add_parser("list", help="list keys (ids, users, scopes; never the keys)")
    listing.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    listing.set_defaults(func=run_list)
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", help="the key id (key_…)")
    revoke.set_defaults(func=run_revoke)


def _store(args: argparse.Namespace) -> ApiKeyStore:
    return ApiKeyStore(settings_from(args).data_dir)


def run_create(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        record, secret = store.create(args.user, args.scopes.split(","), args.key)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    finally:
        store.close()
    scopes = sorted(record.scopes)
    if args.json:
        print(json.dumps({"id": record.id, "key": secret, "userId": record.userId, "scopes": scopes}))
    else:
        print(f"id:     {record.id}\nuser:   {record.userId}\nscopes: {','.join(scopes)}\n"
              f"key:    {secret}\n(the key is shown only now; it is stored hashed)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        keys = store.list()
    finally:
        store.close()
    for k in keys:
        row = {"id": k.id, "userId": k.userId, "scopes": sorted(k.scopes), "createdAt": k.createdAt,
               "revokedAt": k.revokedAt}
        if args.json:
            print(json.dumps(row))
        else:
            state = f"revoked {k.revokedAt}" if k.revokedAt else "active"
            print(f"{k.id}\t{k.userId}\t{','.join(row['scopes'])}\t{k.createdAt}\t{state}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        if not store.revoke(args.id):
            raise UserError(f"no active key with id {args.id!r}")
    finally:
        store.close()
    print(f"revoked {args.id}")
    return 0
