"""Fidelity of the simulator to the published XAPI datamodel.

Checks, against the read-only reference material in the shared directory (`xapi/xenapi.json`,
`xapi/error_codes.txt`):

* every class and field in `model.CLASSES` exists, with the same qualifier and type string;
* every enum in `model.ENUMS` exists and its values are real values, spelled the same way;
* every message in `xapisim.api.REGISTRY` exists for its class, with the same parameter names
  and types in the same order and the same result type; generated ("implicit") messages are
  implicit in the datamodel too, or at least have a generated message's name;
* every error code a `.py` file under `xapisim/` can raise is a real one.

The reference is found in `$XAPISIM_SHARED_DIR`, else in the `shared` directory next to the
repository checkout.  Without it the tests that need it are skipped.
"""
from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import re
import sys
from pathlib import Path

import pytest

SIMULATOR_DIR = Path(__file__).resolve().parents[1]
try:
    import xapisim  # noqa: F401
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(SIMULATOR_DIR))

from xapisim import model  # noqa: E402

PACKAGE_DIR = SIMULATOR_DIR / "xapisim"
CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]+$")
SR_BACKEND_RE = re.compile(r"^SR_BACKEND_FAILURE_\d+$")

# Messages whose names the implicit-message generator produces, besides the per-field ones.
GENERATED_NAMES = {"get_record", "get_all", "get_all_records", "get_by_uuid", "get_by_name_label",
                   "create", "destroy"}
FIELD_MESSAGE_PREFIXES = ("get_", "set_", "add_to_", "remove_from_", "add_", "remove_")

# Version-gated extensions: trailing parameters that real xapi added after the published
# datamodel in xenapi.json, which the simulator accepts only on lab hosts whose `software.xapi`
# is at least that version (Message.since).  Each one is listed here, with its reference;
# everything else must match the datamodel exactly.
VERSION_GATED_PARAMS = {
    # BEHAVIOUR.md §3: host.disable(host[, auto_enable=true]), auto_enable since xapi 25.31.0
    # (ocaml/idl/datamodel_host.ml: param_release 25.31.0, default true)
    "host.disable": [("bool", "auto_enable", (25, 31))],
}

# Calls whose first argument is never an error code (dict/env/attribute access and the like).
NOT_ERROR_CALLS = {"get", "getenv", "pop", "setdefault", "getattr", "hasattr", "setattr",
                   "delattr", "startswith", "endswith", "replace", "split", "partition",
                   "getLogger"}


# ---------------------------------------------------------------------------------------------
# The reference material


def _shared_xapi_dir() -> Path:
    env = os.environ.get("XAPISIM_SHARED_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[3] / "shared"
    # Accept either the shared directory itself or its xapi/ subdirectory.
    return base if (base / "xenapi.json").is_file() else base / "xapi"


@pytest.fixture(scope="module")
def reference() -> dict:
    xapi_dir = _shared_xapi_dir()
    datamodel, codes = xapi_dir / "xenapi.json", xapi_dir / "error_codes.txt"
    if not (datamodel.is_file() and codes.is_file()):
        pytest.skip(f"fidelity reference not found ({datamodel}, {codes}); "
                    "set XAPISIM_SHARED_DIR to the directory holding xapi/xenapi.json")
    classes, enums = {}, {}
    for cls in json.loads(datamodel.read_text()):
        classes[cls["name"]] = {
            "fields": {f["name"]: f for f in cls["fields"]},
            "messages": {m["name"]: m for m in cls["messages"]},
        }
        for enum in cls["enums"]:  # an enum may be listed under several classes
            enums.setdefault(enum["name"], set()).update(v["name"] for v in enum["values"])
    error_codes = {line.strip() for line in codes.read_text().splitlines()
                   if line.strip() and not line.startswith("#")}
    return {"classes": classes, "enums": enums, "error_codes": error_codes}


def _enums_in(type_: str) -> list[str]:
    """Enum names a type string mentions: `(string -> enum host_allowed_operations) map`."""
    return re.findall(r"enum ([A-Za-z0-9_]+)", type_)


def _report(offenders: list[str], what: str) -> str:
    return f"{len(offenders)} {what}:\n  " + "\n  ".join(offenders)


# ---------------------------------------------------------------------------------------------
# Datamodel: classes, fields, enums


def test_classes_and_fields_match_datamodel(reference):
    offenders = []
    for cls, fields in model.CLASSES.items():
        ref_cls = reference["classes"].get(cls)
        if ref_cls is None:
            offenders.append(f"class {cls}: not in xenapi.json")
            continue
        for name, field in fields.items():
            ref = ref_cls["fields"].get(name)
            if ref is None:
                offenders.append(f"{cls}.{name}: no such field")
                continue
            if field.qualifier != ref["qualifier"]:
                offenders.append(f"{cls}.{name}: qualifier {field.qualifier!r}, "
                                 f"datamodel {ref['qualifier']!r}")
            if field.type != ref["type"]:
                offenders.append(f"{cls}.{name}: type {field.type!r}, datamodel {ref['type']!r}")
            if ref["lifecycle"]["state"] == "Removed_s":
                offenders.append(f"{cls}.{name}: removed from the API")
    assert not offenders, _report(offenders, "class/field mismatches")


def test_field_tables_are_well_formed():
    offenders = []
    for cls, table in model._TABLES.items():
        lines = [line.split() for line in table.strip().splitlines()]
        names = [line[0] for line in lines]
        offenders += [f"{cls}.{n}: listed twice" for n in sorted({n for n in names
                                                                   if names.count(n) > 1})]
        if "uuid" not in names:
            offenders.append(f"{cls}: no uuid field")
        for field in model.CLASSES[cls].values():
            if field.qualifier not in ("RW", "RO/runtime", "RO/constructor"):
                offenders.append(f"{cls}.{field.name}: bad qualifier {field.qualifier!r}")
            offenders += [f"{cls}.{field.name}: enum {e} missing from ENUMS"
                          for e in _enums_in(field.type) if e not in model.ENUMS]
    assert "event" not in model.CLASSES, "event is not a stored class"
    assert not offenders, _report(offenders, "problems in the field tables")


def test_enums_match_datamodel(reference):
    offenders = []
    for name, values in model.ENUMS.items():
        real = reference["enums"].get(name)
        if real is None:
            offenders.append(f"enum {name}: not in xenapi.json")
            continue
        if not isinstance(values, tuple) or not values:
            offenders.append(f"enum {name}: must be a non-empty tuple, got {values!r}")
            continue
        if len(set(values)) != len(values):
            offenders.append(f"enum {name}: duplicate values")
        unknown = [v for v in values if v not in real]
        if unknown:
            offenders.append(f"enum {name}: unknown values {unknown}; real {sorted(real)}")
    assert not offenders, _report(offenders, "enum mismatches")


def test_enum_defaults_match_datamodel_defaults(reference):
    """Where the datamodel gives an enum field a default, ENUMS lists that value first."""
    offenders = []
    for cls, fields in model.CLASSES.items():
        ref_fields = reference["classes"].get(cls, {}).get("fields", {})
        for name, field in fields.items():
            if not field.type.startswith("enum ") or name not in ref_fields:
                continue
            default = ref_fields[name].get("default")
            enum = field.type[5:]
            if default in reference["enums"].get(enum, ()) and \
                    model.default_value(field.type) != default:
                offenders.append(f"{cls}.{name}: default {model.default_value(field.type)!r}, "
                                 f"datamodel {default!r}")
    assert not offenders, _report(offenders, "enum default mismatches")


# ---------------------------------------------------------------------------------------------
# Defaults


def test_default_values():
    assert model.default_value("host ref") == model.NULL_REF == "OpaqueRef:NULL"
    assert model.default_value("VM ref set") == []
    assert model.default_value("VM ref set") is not model.default_value("VM ref set")
    assert model.default_value("(string -> string) map") == {}
    assert model.default_value("(string -> enum host_allowed_operations) map") == {}
    assert model.default_value("enum vm_operations set") == []
    assert model.default_value("string") == ""
    assert model.default_value("int") == 0
    assert model.default_value("float") == 0.0
    assert model.default_value("bool") is False
    assert model.default_value("enum vm_power_state") == "Halted"
    assert model.default_value("enum task_status_type") == "pending"
    assert model.default_value("enum ip_configuration_mode") == "None"
    assert model.default_value("enum ipv6_configuration_mode") == "None"
    assert model.default_value("enum primary_address_type") == "IPv4"
    assert model.default_value("enum bond_mode") == "balance-slb"
    epoch = model.default_value("datetime")
    assert isinstance(epoch, model.DateTime)
    # The epoch, whichever representation DateTime uses (wire string or seconds).
    assert epoch == ("19700101T00:00:00Z" if isinstance(epoch, str) else 0)


def test_every_field_has_a_default():
    for cls, fields in model.CLASSES.items():
        for field in fields.values():
            try:
                model.default_value(field.type)
            except Exception as e:  # pragma: no cover - the assertion reports it
                pytest.fail(f"{cls}.{field.name} ({field.type}): no default: {e!r}")


# ---------------------------------------------------------------------------------------------
# Messages


def _load_registry():
    api = importlib.import_module("xapisim.api")
    try:
        importlib.import_module("xapisim.api.all")
    except ModuleNotFoundError as e:
        if e.name != "xapisim.api.all":
            raise
        for info in pkgutil.iter_modules(api.__path__, "xapisim.api."):
            importlib.import_module(info.name)
    return api.REGISTRY


def _is_generated_name(name: str, ref_fields: dict) -> bool:
    if name in GENERATED_NAMES:
        return True
    return any(name.startswith(p) and name[len(p):] in ref_fields for p in FIELD_MESSAGE_PREFIXES)


def test_registry_matches_datamodel(reference):
    registry = _load_registry()
    offenders = []
    for key, msg in sorted(registry.items()):
        where = f"{key}"
        if key != msg.wire_name:
            offenders.append(f"{where}: registered under the wrong key ({msg.wire_name})")
        ref_cls = reference["classes"].get(msg.cls)
        if ref_cls is None:
            offenders.append(f"{where}: class {msg.cls} not in xenapi.json")
            continue
        ref = ref_cls["messages"].get(msg.name)
        if ref is None:
            offenders.append(f"{where}: no such message")
            continue
        ref_params = [(p["type"], p["name"]) for p in ref["params"]]
        takes_session = bool(ref_params) and ref_params[0] == ("session ref", "session_id")
        if msg.session and not takes_session:
            offenders.append(f"{where}: takes no session in the datamodel")
        elif not msg.session and takes_session:
            offenders.append(f"{where}: takes a session in the datamodel")
        if takes_session:
            ref_params = ref_params[1:]
        params = [tuple(p) for p in msg.params]
        gated = VERSION_GATED_PARAMS.get(key, [])
        declared = [(t, n, msg.since.get(n)) for t, n in params[len(params) - len(msg.since):]] if msg.since else []
        if declared != gated:
            offenders.append(f"{where}: version-gated params {declared}, allowed {gated}")
        if gated and declared == gated:
            params = params[:-len(gated)]       # the datamodel's own parameters come first
        if params != ref_params:
            offenders.append(f"{where}: params {params}, datamodel {ref_params}")
        defaults = msg.defaults - len(gated)
        if not 0 <= defaults <= len(params):
            offenders.append(f"{where}: defaults={msg.defaults} with {len(params)} params "
                             f"and {len(gated)} version-gated ones (which need defaults)")
        if msg.result != ref["result"][0]:
            offenders.append(f"{where}: result {msg.result!r}, datamodel {ref['result'][0]!r}")
        if msg.implicit and not ref["implicit"] \
                and not _is_generated_name(msg.name, ref_cls["fields"]):
            offenders.append(f"{where}: registered as implicit, explicit in the datamodel")
    assert not offenders, _report(offenders, "registry mismatches")


# ---------------------------------------------------------------------------------------------
# Error codes


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def scan_error_codes(source: str, filename: str = "<string>",
                     not_codes: frozenset[str] = frozenset()) -> list[tuple[str, int, str]]:
    """(filename, line, code) for every error code a source raises or passes along.

    `XapiError(<first arg>)`: a string literal is a code; an f-string is reported as
    `f"<literal prefix>{...}"` so the caller can judge it.  Other calls: a first argument
    that looks like a code (upper case with an underscore, not a class name or enum value
    in `not_codes`) counts, except for calls that never take one (`dict.get`, `getenv`, ...).
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        callee = _call_name(node)
        first = node.args[0] if node.args else None
        if callee == "XapiError":
            if first is None:
                first = next((k.value for k in node.keywords if k.arg == "code"), None)
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((filename, node.lineno, first.value))
            elif isinstance(first, ast.JoinedStr):
                prefix = "".join(v.value for v in first.values[:1]
                                 if isinstance(v, ast.Constant))
                found.append((filename, node.lineno, f'f"{prefix}{{...}}"'))
        elif callee not in NOT_ERROR_CALLS and isinstance(first, ast.Constant) \
                and isinstance(first.value, str) and CODE_RE.match(first.value) \
                and "_" in first.value and first.value not in not_codes:
            found.append((filename, node.lineno, first.value))
    return found


def _valid_code(code: str, codes: set[str]) -> bool:
    if code in codes:
        return True
    backend = "SR_BACKEND_FAILURE" in codes or any(c.startswith("SR_BACKEND_FAILURE_")
                                                   for c in codes)
    if backend and (SR_BACKEND_RE.match(code) or code == 'f"SR_BACKEND_FAILURE_{...}"'):
        return True
    return False


def test_error_code_scanner_self_check():
    src = (
        "import os\n"
        "raise XapiError('HOST_OFFLINE', h)\n"
        "raise errors.XapiError('NO_SUCH_CODE')\n"
        "raise XapiError(f'SR_BACKEND_FAILURE_{n}', '', r, e)\n"
        "raise XapiError(code)\n"
        "fail('HA_IS_ENABLED')\n"
        "os.environ.get('XAPISIM_SHARED_DIR')\n"
        "db.get_all('VM')\n"
        "XapiError(code='SESSION_INVALID')\n"
    )
    found = [(line, code) for _, line, code in scan_error_codes(src, not_codes=frozenset({"VM"}))]
    assert found == [(2, "HOST_OFFLINE"), (3, "NO_SUCH_CODE"), (4, 'f"SR_BACKEND_FAILURE_{...}"'),
                     (6, "HA_IS_ENABLED"), (9, "SESSION_INVALID")]
    codes = {"HOST_OFFLINE", "SR_BACKEND_FAILURE"}
    assert _valid_code("SR_BACKEND_FAILURE_108", codes)
    assert _valid_code('f"SR_BACKEND_FAILURE_{...}"', codes)
    assert not _valid_code("SR_BACKEND_FAILURE_X", codes)
    assert not _valid_code("NO_SUCH_CODE", codes)


def test_raised_error_codes_exist(reference):
    codes = reference["error_codes"]
    not_codes = set(reference["classes"])
    for values in reference["enums"].values():
        not_codes |= values
    offenders, seen = [], 0
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(SIMULATOR_DIR)
        for filename, line, code in scan_error_codes(path.read_text(), str(rel),
                                                     frozenset(not_codes)):
            seen += 1
            if not _valid_code(code, codes):
                offenders.append(f"{filename}:{line}: {code}")
    assert not offenders, _report(offenders, f"unknown error codes (of {seen} uses)")
