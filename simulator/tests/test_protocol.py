"""The wire protocol and the object model, as real XAPI serves them (BEHAVIOUR.md section 7,
ocaml/idl/ocaml_backend/gen_server.ml, mirage/ocaml-rpc)."""
from __future__ import annotations

import http.client
import json
import re
import ssl
import xmlrpc.client
from urllib.parse import urlsplit

import pytest
import XenAPI

from conftest import failure, xapi_session

REF_RE = re.compile(r"^OpaqueRef:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATETIME_RE = re.compile(r"^\d{8}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture
def lab(start_lab):
    return start_lab("three-standalone")


@pytest.fixture
def session(lab):
    s = xapi_session(lab)
    yield s


def post(lab, path: str, body: bytes | str, content_type: str = "text/xml", host_index: int = 0):
    """A raw POST to a lab host: (status, headers, body)."""
    url = urlsplit(lab.info["hosts"][host_index]["url"])
    context = ssl.create_default_context(cafile=lab.info["ca_bundle"])
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=10)
    try:
        conn.request("POST", path, body=body if isinstance(body, bytes) else body.encode(),
                     headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def xml_call(lab, method: str, *params_xml: str, path: str = "/", host_index: int = 0) -> dict:
    """An XML-RPC call with hand-written <value> parameters; returns the decoded response struct."""
    body = ('<?xml version="1.0"?><methodCall><methodName>' + method + "</methodName><params>"
            + "".join(f"<param>{p}</param>" for p in params_xml) + "</params></methodCall>")
    status, _, data = post(lab, path, body, host_index=host_index)
    assert status == 200, data
    (result,), _ = xmlrpc.client.loads(data)
    return result


def json_call(lab, method: str, params, *, version: str | None = None, req_id=1, path: str = "/jsonrpc"):
    request = {"method": method, "params": params, "id": req_id}
    if version:
        request["jsonrpc"] = version
    status, headers, data = post(lab, path, json.dumps(request), "application/json")
    assert status == 200, data
    assert headers["content-type"].startswith("application/json")
    return json.loads(data)


def s(value: str) -> str:
    return f"<value><string>{value}</string></value>"


def login_xml(lab) -> str:
    host = lab.info["hosts"][0]
    result = xml_call(lab, "session.login_with_password", s(host["username"]), s(host["password"]))
    assert result["Status"] == "Success"
    return result["Value"]


# -- endpoints and envelopes -----------------------------------------------------------
def test_xmlrpc_on_root_rpc2_and_legacy_json_with_xapi_envelope(lab):
    ref = login_xml(lab)
    assert REF_RE.match(ref)
    for path in ("/", "/RPC2", "/json"):   # xapi's /json handler speaks XML-RPC too
        status, headers, data = post(lab, path, '<?xml version="1.0"?><methodCall><methodName>host.get_all'
                                     f"</methodName><params><param>{s(ref)}</param></params></methodCall>")
        assert status == 200
        assert headers["content-type"] == "text/xml"
        assert headers["access-control-allow-origin"] == "*"
        # xapi's exact framing (ocaml-rpc): no newline, untyped string values
        assert data.startswith(b'<?xml version="1.0"?><methodResponse><params><param><value><struct>'
                               b"<member><name>Status</name><value>Success</value></member>"
                               b"<member><name>Value</name><value><array><data><value>OpaqueRef:")


def test_failure_envelope_is_an_application_error_not_a_fault(lab):
    status, _, data = post(lab, "/", '<?xml version="1.0"?><methodCall><methodName>host.get_all'
                           f"</methodName><params><param>{s('OpaqueRef:nope')}</param></params></methodCall>")
    assert status == 200
    assert b"<member><name>Status</name><value>Failure</value></member>" in data
    (result,), _ = xmlrpc.client.loads(data)
    assert result == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", "OpaqueRef:nope"]}


def test_jsonrpc_v1_and_v2_envelopes(lab):
    host = lab.info["hosts"][0]
    v1 = json_call(lab, "session.login_with_password", [host["username"], host["password"]], req_id=7)
    assert set(v1) == {"result", "error", "id"} and v1["error"] is None and v1["id"] == 7
    assert REF_RE.match(v1["result"])
    v2 = json_call(lab, "host.get_all", [v1["result"]], version="2.0", req_id="x")
    assert v2 == {"jsonrpc": "2.0", "result": v2["result"], "id": "x"}
    assert len(v2["result"]) == 1
    bad1 = json_call(lab, "host.get_all", ["OpaqueRef:nope"], req_id=3)
    assert bad1 == {"result": None, "error": ["SESSION_INVALID", "OpaqueRef:nope"], "id": 3}
    bad2 = json_call(lab, "host.get_all", ["OpaqueRef:nope"], version="2.0", req_id=4)
    assert bad2 == {"jsonrpc": "2.0", "error": {"code": 1, "message": "SESSION_INVALID", "data": ["OpaqueRef:nope"]},
                    "id": 4}


def test_jsonrpc_void_result_is_empty_string_and_ints_are_numbers(lab, session):
    ref = session.handle
    host = json_call(lab, "host.get_all", [ref])["result"][0]
    assert json_call(lab, "host.set_name_label", [ref, host, "renamed"])["result"] == ""
    record = json_call(lab, "host.get_record", [ref, host])["result"]
    assert record["name_label"] == "renamed"
    assert isinstance(record["API_version_major"], int)          # JSON: plain numbers
    assert DATETIME_RE.match(json_call(lab, "host_metrics.get_record", [ref, record["metrics"]])["result"]["last_updated"])


@pytest.mark.parametrize("body, content_type, path", [
    (b"<methodCall><methodName>host.get_all</methodName><params>", "text/xml", "/"),
    (b"not xml at all", "text/xml", "/RPC2"),
    (b"{not json", "application/json", "/jsonrpc"),
    (b'{"method": "host.get_all", "params": [], "id": 1}', "application/json", "/json"),   # XML-RPC there
    (b'{"method": "host.get_all", "params": []}', "application/json", "/jsonrpc"),            # no id
    (b'{"method": "host.get_all", "params": [], "id": null}', "application/json", "/jsonrpc"),
    (b'{"method": "host.get_all", "id": 1}', "application/json", "/jsonrpc"),                  # v1 needs params
    (b'{"jsonrpc": "1.5", "method": "host.get_all", "params": [], "id": 1}', "application/json", "/jsonrpc"),
])
def test_malformed_body_is_http_500_html(lab, body, content_type, path):
    status, headers, data = post(lab, path, body, content_type)
    assert status == 500
    assert headers["content-type"].startswith("text/html")
    assert b"<html>" in data


def test_jsonrpc_v2_params_may_be_omitted(lab):
    reply = json_call(lab, "host.get_all", None, version="2.0")
    # omitted params are an empty list: the session is then missing
    assert reply["error"]["message"] == "MESSAGE_PARAMETER_COUNT_MISMATCH"
    assert reply["error"]["data"] == ["host.get_all", "0", "-1"]


def test_session_works_across_protocols(lab):
    host = lab.info["hosts"][0]
    json_session = json_call(lab, "session.login_with_password", [host["username"], host["password"]])["result"]
    xml_result = xml_call(lab, "host.get_all", s(json_session))
    assert xml_result["Status"] == "Success"
    xml_session = login_xml(lab)
    assert json_call(lab, "pool.get_all", [xml_session], version="2.0")["result"]


# -- value encodings -------------------------------------------------------------------
def test_int64_is_an_untyped_string_in_xmlrpc(lab, session):
    host = session.xenapi.host.get_all()[0]
    major = session.xenapi.host.get_API_version_major(host)
    assert major == "2" and isinstance(major, str)
    metrics = session.xenapi.host.get_metrics(host)
    status, _, data = post(lab, "/", '<?xml version="1.0"?><methodCall><methodName>host_metrics.get_memory_total'
                           f"</methodName><params><param>{s(session.handle)}</param><param>{s(metrics)}</param>"
                           "</params></methodCall>")
    assert re.search(rb"<name>Value</name><value>\d+</value>", data)


@pytest.mark.parametrize("encoding", ["<int>{}</int>", "<i4>{}</i4>", "<i8>{}</i8>", "<string>{}</string>", "{}"])
def test_int_parameters_accept_every_xmlrpc_int_encoding(lab, session, encoding):
    vm = session.xenapi.VM.get_all()[0]   # dom0
    result = xml_call(lab, "VM.set_user_version", s(session.handle), s(vm), "<value>" + encoding.format(42) + "</value>")
    assert result == {"Status": "Success", "Value": ""}
    assert session.xenapi.VM.get_user_version(vm) == "42"


def test_booleans_doubles_and_datetimes(lab, session):
    x = session.xenapi
    pool = x.pool.get_all()[0]
    assert x.pool.get_wlb_enabled(pool) is False
    x.pool.set_wlb_enabled(pool, True)
    assert x.pool.get_wlb_enabled(pool) is True
    status, _, data = post(lab, "/", '<?xml version="1.0"?><methodCall><methodName>pool.get_wlb_enabled'
                           f"</methodName><params><param>{s(session.handle)}</param><param>{s(pool)}</param>"
                           "</params></methodCall>")
    assert b"<value><boolean>1</boolean></value>" in data
    task = x.task.create("label", "description")
    x.task.set_progress(task, 0.25)
    assert x.task.get_progress(task) == 0.25
    status, _, data = post(lab, "/", '<?xml version="1.0"?><methodCall><methodName>task.get_record'
                           f"</methodName><params><param>{s(session.handle)}</param><param>{s(task)}</param>"
                           "</params></methodCall>")
    assert b"<value><double>0.25</double></value>" in data
    assert b"<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>" in data   # finished: epoch
    created = x.task.get_created(task)
    assert isinstance(created, xmlrpc.client.DateTime) and DATETIME_RE.match(created.value)


def test_enums_are_case_insensitive_on_input_and_canonical_on_output(lab, session):
    x = session.xenapi
    host = x.host.get_all()[0]
    x.host.set_display(host, "DISABLE_ON_REBOOT")
    assert x.host.get_display(host) == "disable_on_reboot"
    assert json_call(lab, "host.set_display", [session.handle, host, "Enabled"])["result"] == ""
    assert x.host.get_display(host) == "enabled"


def test_unmarshalling_errors_are_internal_errors_with_the_ocaml_exception(lab, session):
    """ocaml-rpc's of_rpc functions `failwith`; xapi's ExnHelper turns that into INTERNAL_ERROR
    [Printexc.to_string e]."""
    x = session.xenapi
    host = x.host.get_all()[0]
    vm = x.VM.get_all()[0]
    pool = x.pool.get_all()[0]
    assert failure(x.host.set_display, host, "sideways") == ["INTERNAL_ERROR", 'Failure("Unknown tag/contents")']
    assert failure(x.VM.set_user_version, vm, "twelve") == ["INTERNAL_ERROR", 'Failure("Int64.of_string")']
    assert failure(x.VM.set_user_version, vm, 1.5) == ["INTERNAL_ERROR", "Failure(\"Expected int64, got 'F(1.5)'\")"]
    assert failure(x.pool.set_wlb_enabled, pool, "true") == ["INTERNAL_ERROR", "Failure(\"Expected bool, got 'S(true)'\")"]
    assert failure(x.host.set_name_label, host, 5) == ["INTERNAL_ERROR", "Failure(\"Expected string, got 'I(5)'\")"]
    assert failure(x.host.set_tags, host, "tag") == ["INTERNAL_ERROR", "Failure(\"Expecting Rpc.Enum, but found 'S(tag)'\")"]
    # unmarshalling comes before the session check, as in gen_server.ml
    bad = json_call(lab, "VM.set_user_version", ["OpaqueRef:nope", vm, "x"])
    assert bad["error"] == ["INTERNAL_ERROR", 'Failure("Int64.of_string")']
    assert x.host.get_display(host) == "enabled"   # nothing changed


def test_refs_and_null_ref(lab, session):
    x = session.xenapi
    host = x.host.get_record(x.host.get_all()[0])
    assert REF_RE.match(host["metrics"])
    task = x.task.create("t", "")
    assert x.task.get_subtask_of(task) == "OpaqueRef:NULL"


# -- errors ----------------------------------------------------------------------------
def test_message_method_unknown(lab, session):
    assert failure(session.xenapi.host.frobnicate, "x") == ["MESSAGE_METHOD_UNKNOWN", "host.frobnicate"]
    # without any parameter, and with the Async. prefix taken off as xapi does
    assert xml_call(lab, "no.such")["ErrorDescription"] == ["MESSAGE_METHOD_UNKNOWN", "no.such"]
    assert xml_call(lab, "Async.no.such")["ErrorDescription"] == ["MESSAGE_METHOD_UNKNOWN", "no.such"]
    # a leading parameter is checked as a session first (xapi's host-extension path)
    assert xml_call(lab, "no.such", s("OpaqueRef:bad"))["ErrorDescription"] == ["SESSION_INVALID", "OpaqueRef:bad"]


def test_parameter_count_mismatch_counts_neither_session_nor_defaults(lab, session):
    x = session.xenapi
    host = x.host.get_all()[0]
    assert failure(x.host.get_record) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.get_record", "1", "0"]
    assert failure(x.host.get_record, host, host) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.get_record", "1", "2"]
    assert failure(x.host.set_name_label, host) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.set_name_label", "2", "1"]
    # the name as called, alias included
    assert failure(x.host_get_record) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host_get_record", "1", "0"]
    # login: version and originator have defaults, so 2 to 4 arguments are fine, 1 is not
    user, pw = lab.info["hosts"][0]["username"], lab.info["hosts"][0]["password"]
    one = xml_call(lab, "session.login_with_password", s(user))
    assert one["ErrorDescription"] == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "2", "1"]
    for extra in ([], [s("1.0")], [s("1.0"), s("test")]):
        assert xml_call(lab, "session.login_with_password", s(user), s(pw), *extra)["Status"] == "Success"
    # a message with defaults ignores arguments beyond its parameters (xapi's `:: default_args`)
    assert xml_call(lab, "session.login_with_password", s(user), s(pw), s("1.0"), s("test"), s("more"))["Status"] == "Success"


def test_trailing_parameters_with_defaults_may_be_omitted(lab, session):
    """host.evacuate(host[, network][, evacuate_batch_size]): 1 to 3 arguments (BEHAVIOUR.md 7)."""
    from xapisim.api import REGISTRY
    if "host.evacuate" not in REGISTRY:
        pytest.skip("host.evacuate is not served yet")
    x = session.xenapi
    host = x.host.get_all()[0]
    assert failure(x.host.evacuate) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "host.evacuate", "1", "0"]
    for args in ((host,), (host, "OpaqueRef:NULL"), (host, "OpaqueRef:NULL", "0")):
        try:
            x.host.evacuate(*args)
        except XenAPI.Failure as err:
            assert err.details[0] != "MESSAGE_PARAMETER_COUNT_MISMATCH"


def test_handle_invalid_and_uuid_invalid(lab, session):
    x = session.xenapi
    assert failure(x.host.get_record, "OpaqueRef:nope") == ["HANDLE_INVALID", "host", "OpaqueRef:nope"]
    assert failure(x.SR.get_name_label, "OpaqueRef:NULL") == ["HANDLE_INVALID", "SR", "OpaqueRef:NULL"]
    assert failure(x.host_metrics.get_live, "x") == ["HANDLE_INVALID", "host_metrics", "x"]
    assert failure(x.VM.get_by_uuid, "no-such-uuid") == ["UUID_INVALID", "VM", "no-such-uuid"]
    host_uuid = x.host.get_uuid(x.host.get_all()[0])
    assert failure(x.VM.get_by_uuid, host_uuid) == ["UUID_INVALID", "VM", host_uuid]   # a uuid of another class
    assert x.host.get_by_uuid(host_uuid) == x.host.get_all()[0]


def test_session_invalid(lab):
    assert xml_call(lab, "host.get_all", s("OpaqueRef:nope"))["ErrorDescription"] == ["SESSION_INVALID", "OpaqueRef:nope"]
    assert xml_call(lab, "host.get_all", s(""))["ErrorDescription"] == ["SESSION_INVALID", ""]


def test_underscore_and_async_names(lab, session):
    x = session.xenapi
    host = x.host.get_all()[0]
    assert x.host_get_name_label(host) == x.host.get_name_label(host)
    metrics = x.host_metrics.get_all()
    assert x.host_metrics_get_all() == metrics                    # a class name with an underscore
    assert x.host_metrics_get_record(metrics[0])["uuid"]
    task = x.task.create("t", "")
    cancel_task = x.Async.task.cancel(task)                         # Async form where one exists
    assert REF_RE.match(cancel_task) and x.task.get_record(cancel_task)["name_label"] == "Async.task.cancel"
    assert REF_RE.match(x.Async.task_cancel(task))                  # Async. with the underscore name
    # xapi accepts no Async_ alias
    assert failure(x.Async_task_cancel, task) == ["MESSAGE_METHOD_UNKNOWN", "Async_task_cancel"]
    # no Async form for getters: an API fault in the failure envelope
    assert failure(x.Async.host.get_record, host) == ["Fault", "No async mode for this operation (rpc: host.get_record)"]
    assert failure(x.Async.session.logout) == ["Fault", "No async mode for this operation (rpc: session.logout)"]


def test_class_names_are_case_sensitive(lab, session):
    assert failure(session.xenapi.HOST.get_all) == ["MESSAGE_METHOD_UNKNOWN", "HOST.get_all"]
    assert failure(session.xenapi.vm.get_all) == ["MESSAGE_METHOD_UNKNOWN", "vm.get_all"]


# -- implicit messages -----------------------------------------------------------------
def test_read_only_fields_have_no_setter(lab, session):
    x = session.xenapi
    host = x.host.get_all()[0]
    assert failure(x.host.set_uuid, host, "x") == ["MESSAGE_METHOD_UNKNOWN", "host.set_uuid"]
    assert failure(x.host.set_enabled, host, False) == ["MESSAGE_METHOD_UNKNOWN", "host.set_enabled"]
    assert failure(x.VM.set_power_state, x.VM.get_all()[0], "Halted") == ["MESSAGE_METHOD_UNKNOWN", "VM.set_power_state"]
    assert failure(x.host.add_to_software_version, host, "k", "v") == \
        ["MESSAGE_METHOD_UNKNOWN", "host.add_to_software_version"]
    assert x.host.get_enabled(host) is True


def test_map_add_remove_and_duplicate_key(lab, session):
    x = session.xenapi
    host = x.host.get_all()[0]
    x.host.add_to_other_config(host, "k", "v")
    assert x.host.get_other_config(host)["k"] == "v"
    # the master's database refuses any existing key, even with the same value
    assert failure(x.host.add_to_other_config, host, "k", "v") == ["MAP_DUPLICATE_KEY", "host", "other_config", host, "k"]
    assert failure(x.host.add_to_other_config, host, "k", "w") == ["MAP_DUPLICATE_KEY", "host", "other_config", host, "k"]
    assert failure(x.host.add_to_other_config, host, "", "v") == ["INTERNAL_ERROR", "Db_exn.Empty_key_in_map"]
    x.host.remove_from_other_config(host, "k")
    x.host.remove_from_other_config(host, "k")          # removing a missing key is fine
    assert "k" not in x.host.get_other_config(host)
    x.host.set_other_config(host, {"a": "1", "b": "2"})
    assert x.host.get_other_config(host) == {"a": "1", "b": "2"}


def test_set_add_and_remove(lab, session):
    x = session.xenapi
    host = x.host.get_all()[0]
    x.host.add_tags(host, "one")
    x.host.add_tags(host, "two")
    x.host.add_tags(host, "one")                        # a set: no duplicate
    assert sorted(x.host.get_tags(host)) == ["one", "two"]
    x.host.remove_tags(host, "one")
    x.host.remove_tags(host, "absent")
    assert x.host.get_tags(host) == ["two"]


def test_get_by_name_label_get_all_records_and_get_record(lab, session):
    x = session.xenapi
    host = x.host.get_all()[0]
    name = x.host.get_name_label(host)
    assert x.host.get_by_name_label(name) == [host]
    assert x.host.get_by_name_label("nobody") == []
    records = x.host.get_all_records()
    assert list(records) == [host] and records[host] == x.host.get_record(host)
    assert failure(x.pool.get_by_name_label, "x") == ["MESSAGE_METHOD_UNKNOWN", "pool.get_by_name_label"]


def test_derived_sets_follow_the_ref_side(start_lab):
    """resident_on <-> resident_VMs, PBD <-> SR.PBDs/host.PBDs, PIF <-> network.PIFs/host.PIFs,
    VBD <-> VM.VBDs/VDI.VBDs, kept by the database on create, set and delete."""
    lab = start_lab("pool-of-four")
    x = xapi_session(lab).xenapi
    hosts = x.host.get_all_records()
    vms = x.VM.get_all_records()
    for ref, vm in vms.items():
        if vm["resident_on"] != "OpaqueRef:NULL":
            assert ref in hosts[vm["resident_on"]]["resident_VMs"]
    for host_ref, host in hosts.items():
        assert all(vms[v]["resident_on"] == host_ref for v in host["resident_VMs"])
    pbds, srs = x.PBD.get_all_records(), x.SR.get_all_records()
    for ref, pbd in pbds.items():
        assert ref in srs[pbd["SR"]]["PBDs"] and ref in hosts[pbd["host"]]["PBDs"]
    assert sum(len(sr["PBDs"]) for sr in srs.values()) == len(pbds)
    pifs, networks = x.PIF.get_all_records(), x.network.get_all_records()
    for ref, pif in pifs.items():
        assert ref in networks[pif["network"]]["PIFs"] and ref in hosts[pif["host"]]["PIFs"]
    vbds, vdis = x.VBD.get_all_records(), x.VDI.get_all_records()
    for ref, vbd in vbds.items():
        assert ref in vms[vbd["VM"]]["VBDs"]
        if vbd["VDI"] != "OpaqueRef:NULL":
            assert ref in vdis[vbd["VDI"]]["VBDs"]

    # moving and deleting on the ref side updates the set side
    running = next(r for r, v in vms.items() if v["power_state"] == "Running" and not v["is_control_domain"])
    source = vms[running]["resident_on"]
    target = next(h for h in hosts if h != source)

    def move(world):
        db = world.machines[0].db
        db.set("VM", running, resident_on=target)
    lab.run(move)
    assert running not in x.host.get_resident_VMs(source)
    assert running in x.host.get_resident_VMs(target)
    pbd = next(iter(pbds))
    sr = pbds[pbd]["SR"]
    lab.run(lambda world: world.machines[0].db.delete("PBD", pbd))
    assert pbd not in x.SR.get_PBDs(sr)
    assert pbd not in x.host.get_PBDs(pbds[pbd]["host"])
