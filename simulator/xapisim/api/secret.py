"""Secrets: the implicit constructor and destructor (get_value, get_by_uuid, ... are the
generated field messages).  Power-on and storage passwords are stored as secrets and named by
uuid in a `..._secret` configuration key.  Source: ocaml/xapi/xapi_secret.ml."""
from __future__ import annotations

from ..dispatch import api


@api("secret.create", "secret record args", "secret ref")
async def create(call, args):
    """secret.create({value, other_config}): a fresh uuid; other_config defaults to {}."""
    return call.db.create("secret", value=str(args.get("value", "")),
                          other_config={str(k): str(v) for k, v in (args.get("other_config") or {}).items()})


@api("secret.destroy", "secret ref self")
async def destroy(call, self):
    call.db.get("secret", self)
    call.db.delete("secret", self)
