"""pool.enable_tls_verification, and the legacy SSL switch of the releases that still have it,
each decided by the lab's software.xapi (simulator/README.md)."""
from __future__ import annotations

import xmlrpc.client

import pytest

from conftest import LabTransport, failure, xapi_session


def host(n: int, xapi: str, **extra) -> dict:
    return {"name": f"h{n}", "address": f"127.0.3.{20 + n}", "password": "pw", "memory_gib": 16,
            "software": {"xapi": xapi}, **extra}


LAB = {
    "name": "tls",
    "hosts": [
        host(1, "25.6", tls_verification=False), host(2, "25.6", tls_verification=False),   # a pool without TLS verification
        host(3, "1.249", ssl_legacy=True),        # Stockholm: legacy SSL gone, no TLS verification call yet
        host(4, "1.160", ssl_legacy=True), host(5, "1.160"),   # older: legacy SSL on the pool's hosts
        host(6, "25.6", tls_verification=False), host(7, "25.6", tls_verification=False, power="off"),
    ],
    "pools": [{"name": "modern", "master": "h1", "members": ["h2"]},
              {"name": "old", "master": "h4", "members": ["h5"]},
              {"name": "one-off", "master": "h6", "members": ["h7"]}],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from xapisim import Lab
    running = Lab.start(LAB, tmp_path_factory.mktemp("tls"), time_scale=0.01)
    yield running
    running.stop()


def test_enable_tls_verification_turns_it_on_for_the_pool_and_every_host(lab):
    x = xapi_session(lab, 0).xenapi
    pool = x.pool.get_all()[0]
    hosts = x.host.get_all()
    assert not x.pool.get_tls_verification_enabled(pool)
    assert [x.host.get_tls_verification_enabled(h) for h in hosts] == [False, False]
    assert x.pool.enable_tls_verification() == ""
    assert x.pool.get_tls_verification_enabled(pool) and x.pool.get_wlb_verify_cert(pool)
    assert [x.host.get_tls_verification_enabled(h) for h in hosts] == [True, True]
    x.pool.enable_tls_verification()                     # idempotent
    assert x.pool.get_tls_verification_enabled(pool)
    assert x.pool.get_current_operations(pool) == {}    # the pool operation is over
    assert failure(x.Async.pool.enable_tls_verification)[0] == "Fault"    # no Async form


def test_a_host_that_is_not_live_fails_it_before_anything_changes(lab):
    x = xapi_session(lab, 5).xenapi
    pool = x.pool.get_all()[0]
    h7 = x.host.get_by_name_label("h7")[0]
    assert failure(x.pool.enable_tls_verification) == ["HOST_OFFLINE", h7]
    assert not x.pool.get_tls_verification_enabled(pool)
    assert not any(x.host.get_tls_verification_enabled(h) for h in x.host.get_all())


def test_stockholm_has_no_legacy_ssl_and_no_tls_verification_call(lab):
    x = xapi_session(lab, 2).xenapi                      # xapi 1.249
    h3 = x.host.get_all()[0]
    pool = x.pool.get_all()[0]
    assert x.host.get_ssl_legacy(h3) is False            # the database upgrade turned it off
    assert failure(x.pool.enable_tls_verification) == ["MESSAGE_METHOD_UNKNOWN", "pool.enable_tls_verification"]
    assert failure(x.pool.enable_ssl_legacy, pool) == ["MESSAGE_REMOVED"]
    assert failure(x.Async.pool.enable_ssl_legacy, pool) == ["MESSAGE_REMOVED"]
    x.pool.disable_ssl_legacy(pool)                      # does nothing
    assert failure(x.host.set_ssl_legacy, h3, True) == ["VALUE_NOT_SUPPORTED", "value", "true",
                                                        "Legacy SSL support has been removed"]
    x.host.set_ssl_legacy(h3, False)
    assert x.host.get_ssl_legacy(h3) is False
    # a removed message still checks its argument count and the session, as gen_server does
    assert failure(x.pool.enable_ssl_legacy)[0] == "MESSAGE_PARAMETER_COUNT_MISMATCH"
    raw = xmlrpc.client.ServerProxy(lab.info["hosts"][2]["url"], transport=LabTransport(lab))
    assert raw.pool.enable_ssl_legacy("OpaqueRef:stale", pool) == {
        "Status": "Failure", "ErrorDescription": ["SESSION_INVALID", "OpaqueRef:stale"]}


def test_older_releases_switch_legacy_ssl_on_every_host(lab):
    x = xapi_session(lab, 3).xenapi                      # xapi 1.160, pool of h4 and h5
    pool = x.pool.get_all()[0]
    h4, h5 = x.host.get_by_name_label("h4")[0], x.host.get_by_name_label("h5")[0]
    assert (x.host.get_ssl_legacy(h4), x.host.get_ssl_legacy(h5)) == (True, False)
    x.pool.enable_ssl_legacy(pool)
    assert (x.host.get_ssl_legacy(h4), x.host.get_ssl_legacy(h5)) == (True, True)
    x.pool.disable_ssl_legacy(pool)
    assert (x.host.get_ssl_legacy(h4), x.host.get_ssl_legacy(h5)) == (False, False)
    x.host.set_ssl_legacy(h5, True)
    assert x.host.get_ssl_legacy(h5) is True
    assert failure(x.pool.enable_tls_verification)[0] == "MESSAGE_METHOD_UNKNOWN"
