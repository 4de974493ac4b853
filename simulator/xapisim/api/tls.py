"""TLS verification between pool hosts, and the legacy SSL switch of older releases.

Which release has what is decided by the receiving host's lab `software.xapi`:
- `pool.enable_tls_verification` exists from xapi 1.290.0 (MESSAGE_METHOD_UNKNOWN before);
- legacy SSL was removed in xapi 1.234.0 (CP-32840): from then `pool.enable_ssl_legacy` answers
  MESSAGE_REMOVED (the datamodel marks it removed), `pool.disable_ssl_legacy` does nothing,
  `host.set_ssl_legacy` refuses `true` with VALUE_NOT_SUPPORTED and ignores `false`, and every
  host's `ssl_legacy` is false.  Before, they set `host.ssl_legacy` on each host.

Sources: ocaml/xapi/message_forwarding.ml (Pool.enable_tls_verification), xapi_pool.ml
(enable_tls_verification, disable_ssl_legacy), xapi_host.ml (set_ssl_legacy),
ocaml/idl/datamodel_pool.ml and datamodel_host.ml (lifecycles), xapi_db_upgrade.ml
(remove_legacy_ssl_support).
"""
from __future__ import annotations

from ..dispatch import api, xapi_version
from ..errors import XapiError
from ..factory import LEGACY_SSL_REMOVED, the_pool
from .pool import assert_can_forward, pool_operation

TLS_VERIFICATION_FROM = (1, 290)


def _master_then_slaves(db, master: str) -> list[str]:
    """Xapi_pool_helpers.get_master_slaves_list."""
    return [master] + [h for h in db.all("host") if h != master]


@api("pool.enable_tls_verification", has_async=False, xapi_from=TLS_VERIFICATION_FROM)
async def enable_tls_verification(call):
    """Under the blocking pool operation tls_verification_enable: the certificates are
    exchanged with every host (one that is not live fails the call before anything changes:
    HOST_OFFLINE), then each host, master first, turns verification on, then the pool.
    Idempotent; there is no call to turn it off again."""
    world, db = call.world, call.db
    pool = the_pool(db)
    async with pool_operation(call, db, "tls_verification_enable"):
        hosts = _master_then_slaves(db, call.machine.host_ref)
        for host in hosts[1:]:
            assert_can_forward(world, db, host)
        for host in hosts:
            db.set("host", host, tls_verification_enabled=True)
        db.set("pool", pool, tls_verification_enabled=True, wlb_verify_cert=True)


def _set_ssl_legacy_on_each_host(call, value: bool) -> None:
    """The releases before 1.234: Host.set_ssl_legacy on the slaves, then the master."""
    db = call.db
    master = call.machine.host_ref
    for host in _master_then_slaves(db, master)[1:] + [master]:
        _set_ssl_legacy(call, host, value)


def _set_ssl_legacy(call, host: str, value: bool) -> None:
    db = call.db
    db.get("host", host)
    if host != call.machine.host_ref:
        assert_can_forward(call.world, db, host)
    if db.get("host", host)["ssl_legacy"] != value:
        db.set("host", host, ssl_legacy=value)


@api("pool.enable_ssl_legacy", "pool ref self", xapi_removed=LEGACY_SSL_REMOVED)
async def enable_ssl_legacy(call, self):
    _set_ssl_legacy_on_each_host(call, True)


@api("pool.disable_ssl_legacy", "pool ref self")
async def disable_ssl_legacy(call, self):
    if xapi_version(call.machine) >= LEGACY_SSL_REMOVED:
        return   # "disable_ssl_legacy: doing nothing"
    _set_ssl_legacy_on_each_host(call, False)


@api("host.set_ssl_legacy", "host ref self, bool value")
async def set_ssl_legacy(call, self, value):
    if xapi_version(call.machine) >= LEGACY_SSL_REMOVED:
        if value:
            raise XapiError("VALUE_NOT_SUPPORTED", "value", "true", "Legacy SSL support has been removed")
        return
    _set_ssl_legacy(call, self, value)
