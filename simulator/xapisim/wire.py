"""XML-RPC and JSON-RPC encodings exactly as xapi writes them (mirage/ocaml-rpc).

XML-RPC: 64-bit ints are untyped `<value>123</value>` (clients see strings), strings are untyped
too, results are wrapped in `{Status, Value}` / `{Status, ErrorDescription}` structs.  JSON-RPC 1.0
and 2.0 as ocaml-rpc parses and writes them.  The encoder is hand-written because
`xmlrpc.client.dumps` types ints and is too slow for `VM.get_all_records` of a 2,000-VM pool.
"""
from __future__ import annotations

import json
import re
import xmlrpc.client

from .model import DateTime


class I4(int):
    """An int xapi sends typed as <i4> (event.from's valid_ref_counts)."""


class WireError(Exception):
    """The request body is not a valid call."""


# ocaml-rpc escapes & < > " and drops control characters other than tab, LF and CR.
_NEEDS_ESCAPE = re.compile('[&<>"\x00-\x08\x0b\x0c\x0e-\x1f]')
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                          **{chr(c): None for c in range(0x20) if c not in (0x09, 0x0a, 0x0d)}})


def _escape(s: str) -> str:
    return s.translate(_ESCAPES) if _NEEDS_ESCAPE.search(s) else s


def _scalar(v) -> str | None:
    """The <value> of a non-container, or None for a dict or list."""
    t = type(v)
    if t is str:
        return "<value>" + (v.translate(_ESCAPES) if _NEEDS_ESCAPE.search(v) else v) + "</value>"
    if t is bool:
        return "<value><boolean>1</boolean></value>" if v else "<value><boolean>0</boolean></value>"
    if t is int:
        return "<value>%d</value>" % v
    if t is DateTime:
        return "<value><dateTime.iso8601>" + v + "</dateTime.iso8601></value>"
    if t is float:
        return "<value><double>%.16g</double></value>" % v
    if t is I4:
        return "<value><i4>%d</i4></value>" % v
    if v is None:
        return "<value><nil/></value>"
    if t is dict or t is list or t is tuple:
        return None
    if isinstance(v, str):   # a str subclass other than DateTime
        return _scalar(str(v))
    raise TypeError(f"cannot encode {t.__name__}")


# "<member><name>key</name>" for keys seen before: field names repeat in every record
_member_names: dict = {}


def _member(key) -> str:
    name = _member_names.get(key)
    if name is None:
        if len(_member_names) > 50000:
            _member_names.clear()
        # xapi writes member names unescaped; escaping keeps the XML well formed for keys
        # that xapi itself would break on
        name = _member_names[key] = "<member><name>" + _escape(str(key)) + "</name>"
    return name


def _xml(v, out: list) -> None:
    """Appends v's <value> to out.  Scalars inside containers are encoded inline (this is the
    hot loop of VM.get_all_records on a 2,000-VM pool)."""
    scalar = _scalar
    append = out.append
    if type(v) is dict:
        append("<value><struct>")
        for k, x in v.items():
            append(_member(k))
            text = scalar(x)
            if text is None:
                _xml(x, out)
            else:
                append(text)
            append("</member>")
        append("</struct></value>")
    elif type(v) is list or type(v) is tuple:
        append("<value><array><data>")
        for x in v:
            text = scalar(x)
            if text is None:
                _xml(x, out)
            else:
                append(text)
        append("</data></array></value>")
    else:
        append(scalar(v))


def xml_value(v) -> str:
    """One XML-RPC <value>, as in a task's `result` field."""
    out: list = []
    _xml(v, out)
    return "".join(out)


def xmlrpc_response(value=None, error: list | None = None) -> bytes:
    """A methodResponse; a void result (None) is the empty string, as xapi sends it."""
    body = {"Status": "Failure", "ErrorDescription": error} if error else {"Status": "Success", "Value": "" if value is None else value}
    out = ['<?xml version="1.0"?><methodResponse><params><param>']
    _xml(body, out)
    out.append("</param></params></methodResponse>")
    return "".join(out).encode()


def _from_xmlrpc(v):
    if isinstance(v, xmlrpc.client.DateTime):
        return DateTime(v.value if v.value.endswith("Z") else v.value + "Z")
    if isinstance(v, dict):
        return {k: _from_xmlrpc(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_from_xmlrpc(x) for x in v]
    return v


def parse_xmlrpc(body: bytes) -> tuple[str, list]:
    try:
        params, method = xmlrpc.client.loads(body)
    except Exception as e:  # expat and unmarshaller errors of every kind
        raise WireError(str(e)) from None
    if not method:
        raise WireError("no methodName")
    return method, [_from_xmlrpc(p) for p in params]


def parse_jsonrpc(body: bytes) -> tuple[str, list, object, bool]:
    """Returns method, params, id, and whether the request is JSON-RPC 2.0.  As ocaml-rpc: a
    1.0 request needs a `params` list; a 2.0 request may omit params or pass one object; the id
    must be a number or a string in both."""
    try:
        req = json.loads(body)
    except ValueError as e:
        raise WireError(str(e)) from None
    if not isinstance(req, dict):
        raise WireError("Invalid request body")
    method = req.get("method")
    if not isinstance(method, str):
        raise WireError("Invalid field 'method' in request body")
    if "jsonrpc" in req and req["jsonrpc"] != "2.0":
        raise WireError("Invalid field 'jsonrpc' in request body")
    v2 = req.get("jsonrpc") == "2.0"
    params = req.get("params")
    if v2 and params is None:
        params = []
    elif v2 and isinstance(params, dict):
        params = [params]
    if not isinstance(params, list):
        raise WireError("Invalid field 'params' in request body")
    req_id = req.get("id")
    if isinstance(req_id, bool) or not isinstance(req_id, (int, str)):
        raise WireError("Invalid field 'id' in request body")
    return method, params, req_id, v2


def jsonrpc_response(req_id, v2: bool, value=None, error: list | None = None) -> bytes:
    if v2:
        if error:
            body = {"jsonrpc": "2.0", "error": {"code": 1, "message": error[0], "data": error[1:]}, "id": req_id}
        else:
            body = {"jsonrpc": "2.0", "result": "" if value is None else value, "id": req_id}
    else:
        body = {"result": None, "error": error, "id": req_id} if error else {"result": "" if value is None else value, "error": None, "id": req_id}
    return json.dumps(body, separators=(",", ":")).encode()
