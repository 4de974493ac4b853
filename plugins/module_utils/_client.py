# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The one XAPI client of the collection.

Every module talks to XAPI through XapiClient:

    module = AnsibleModule(argument_spec=connection_argument_spec(), supports_check_mode=True)
    try:
        with XapiClient.from_module(module) as client:
            records = client.get_all_records_of(["pool", "host"])
            ...
    except XenServerError as error:
        module.fail_json(msg=str(error), exception=error)

What it guarantees:
- TLS is verified by default (ca_path or the system store); no scheme means https://.
- Login names the collection as originator; a pool member's HOST_IS_SLAVE is followed once to
  the master it names, keeping scheme and port.
- The session is logged out when the `with` block ends (also on failure) and at interpreter exit;
  every task started with start_task() is destroyed.
- Reads are retried with backoff while the host's API restarts (connection refused/reset), up to
  the deadline; writes are never retried unless the caller says they are safe to repeat.
- Waiting uses event.from with a deadline (polling only where event.from does not exist).
- 64-bit ints, which XML-RPC delivers as strings, are converted for the classes in INT_FIELDS.
"""

from __future__ import annotations

import atexit
import http.client
import socket
import ssl
import time
import traceback
import xmlrpc.client
from urllib.parse import urlsplit, urlunsplit

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    AuthenticationError,
    CertificateVerificationError,
    ClientUsageError,
    ConnectionFailedError,
    InvalidParameterError,
    MissingLibraryError,
    RequestTimeoutError,
    TaskFailedError,
    XapiError,
    describe_failure,
)

try:
    import XenAPI
except ImportError:
    XenAPI = None
    XENAPI_IMPORT_ERROR = traceback.format_exc()
else:
    XENAPI_IMPORT_ERROR = None


ORIGINATOR = "xenserver.pools"
# The login "version" argument is ignored by XAPI; this is what the SDK documents.
LOGIN_API_VERSION = "1.0"

# Longest single event.from call; a wait is a loop of these until the deadline.
EVENT_POLL_SECONDS = 30.0
# Extra socket time on top of the event.from timeout, so the server answers before the socket gives up.
EVENT_REQUEST_MARGIN_SECONDS = 15.0
# Backoff between retries (reconnects, polling fallback): doubles from FIRST up to MAX.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0

# Indirections so that unit tests can drive the clock instead of sleeping.
_monotonic = time.monotonic
_sleep = time.sleep

# Errors that mean "the API is (re)starting or the connection dropped": safe to retry a read.
TRANSIENT_ERRORS = (
    ConnectionRefusedError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)

# Fields typed "int" in the XAPI datamodel for the classes the collection reads. Over XML-RPC XAPI
# writes 64-bit ints as untyped <value>123</value>, so the SDK hands them over as strings.
INT_FIELDS = {
    "pool": ("ha_host_failures_to_tolerate", "ha_plan_exists_for"),
    "host": ("memory_overhead", "API_version_major", "API_version_minor"),
    "host_metrics": ("memory_total", "memory_free"),
    "host_cpu": ("number", "speed", "family", "model"),
    "network": ("MTU",),
    "PIF": ("MTU", "VLAN"),
    "PIF_metrics": ("speed",),
    "Bond": ("links_up",),
    "VLAN": ("tag",),
    "SR": ("virtual_allocation", "physical_utilisation", "physical_size"),
    "VDI": ("virtual_size", "physical_utilisation"),
    "VM": (
        "user_version", "memory_overhead", "memory_target", "memory_static_max", "memory_dynamic_max",
        "memory_dynamic_min", "memory_static_min", "VCPUs_max", "VCPUs_at_startup", "domid",
        "start_delay", "shutdown_delay", "order", "version", "hardware_platform_version",
    ),
    "VM_metrics": ("memory_actual", "VCPUs_number"),
    "pool_update": ("installation_size",),
}
# event.from reports class names in lower case.
_INT_FIELDS_BY_LOWER_NAME = dict((name.lower(), fields) for name, fields in INT_FIELDS.items())


def connection_argument_spec():
    """The connection options every module takes. Documented in doc_fragments/_connection.py."""
    return dict(
        hostname=dict(type="str", required=True, fallback=(env_fallback, ["XENSERVER_HOST"])),
        username=dict(type="str", default="root", fallback=(env_fallback, ["XENSERVER_USER"])),
        password=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["XENSERVER_PASSWORD"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["XENSERVER_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["XENSERVER_CA_PATH"])),
        timeout=dict(type="int", default=300, fallback=(env_fallback, ["XENSERVER_TIMEOUT"])),
    )


def convert_record(xapi_class, record):
    """Turn the int fields of one record (strings on the wire) into ints, in place; returns it."""
    for field in _INT_FIELDS_BY_LOWER_NAME.get(xapi_class.lower(), ()):
        value = record.get(field)
        if isinstance(value, str):
            try:
                record[field] = int(value)
            except ValueError:
                pass  # not a number: leave what the host sent
        elif isinstance(value, float) and value.is_integer():
            record[field] = int(value)  # a server that typed the int as <double>
    return record


def normalize_url(hostname):
    """https:// when no scheme is given; a port given is kept; path, query and credentials are refused."""
    text = (hostname or "").strip()
    if not text:
        raise InvalidParameterError("hostname is empty: set hostname (or XENSERVER_HOST) to the pool master's address.")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise InvalidParameterError("hostname %r has an invalid port." % hostname) from None
    if parts.scheme not in ("https", "http"):
        raise InvalidParameterError("hostname %r: scheme must be https:// or http://." % hostname)
    if not parts.hostname or "@" in parts.netloc or parts.path not in ("", "/") or parts.query:
        raise InvalidParameterError(
            "hostname %r is not a host address: give a name or IP, optionally with scheme and port "
            "(https://xs1.example.com:443)." % hostname)
    return urlunsplit((parts.scheme, _netloc(parts.hostname, port), "/", "", ""))


def replace_host(url, address):
    """The same URL (scheme and port kept) pointing at another address, e.g. the pool master."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, _netloc(address, parts.port), "/", "", ""))


def _netloc(address, port):
    host = "[%s]" % address if ":" in address else address
    return host if port is None else "%s:%d" % (host, port)


def build_ssl_context(validate_certs, ca_path):
    """Verified context from ca_path (or the system CA store); unverified only when asked."""
    if not validate_certs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=ca_path)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidParameterError(
            "ca_path %s cannot be used as a CA bundle (%s): give the path of a PEM file holding the CA "
            "certificate(s) that signed the hosts' certificates." % (ca_path, _reason(exc))) from exc


def _reason(exc):
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__


class _TimeoutMixin(object):
    """Sets a socket timeout on every connection, also on one kept alive from an earlier request.

    xmlrpc.client sends a request a second time when a kept-alive connection turns out to be closed.
    That is harmless for a read but not for a write that may have reached XAPI before the reset, so
    XapiClient sends writes on a fresh connection with `resend_on_reset` off.
    """

    timeout = None
    resend_on_reset = True

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        if connection.sock is not None:
            connection.sock.settimeout(self.timeout)
        return connection

    def request(self, host, handler, request_body, verbose=False):
        if self.resend_on_reset:
            return super().request(host, handler, request_body, verbose)
        return self.single_request(host, handler, request_body, verbose)


class TimeoutTransport(_TimeoutMixin, xmlrpc.client.Transport):
    def __init__(self, timeout):
        super().__init__()
        self.timeout = timeout


class TimeoutSafeTransport(_TimeoutMixin, xmlrpc.client.SafeTransport):
    def __init__(self, timeout, context):
        super().__init__(context=context)
        self.timeout = timeout


class Deadline(object):
    def __init__(self, seconds):
        self.seconds = seconds
        self.end = _monotonic() + seconds

    def remaining(self):
        return max(0.0, self.end - _monotonic())

    def passed(self):
        return self.remaining() <= 0.0


def _backoff_delays():
    delay = BACKOFF_FIRST_SECONDS
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX_SECONDS)


class _EventsUnsupported(Exception):
    """event.from is not known by this host: fall back to polling."""


class XapiClient(object):
    """One logged-in XAPI session to a pool master. Use as a context manager."""

    def __init__(self, hostname, username, password, validate_certs=True, ca_path=None, timeout=300,
                 follow_master=True):
        """follow_master=False: a HOST_IS_SLAVE answer is raised as XapiError (code HOST_IS_SLAVE,
        params [master address]) instead of being followed; for talking to one particular host, e.g.
        a host about to join a pool, whose membership is what the caller wants to know."""
        if XenAPI is None:
            raise MissingLibraryError(missing_required_lib("XenAPI"))
        if timeout is None or timeout <= 0:
            raise InvalidParameterError("timeout must be a positive number of seconds, got %r." % timeout)
        self.url = normalize_url(hostname)
        self.username = username
        self._password = password
        self.timeout = timeout
        self._ssl_context = build_ssl_context(validate_certs, ca_path) if self.url.startswith("https:") else None
        self._ca_path = ca_path
        self._session = None
        self._tasks = set()
        self._atexit_registered = False
        self.follow_master = follow_master

    @classmethod
    def from_module(cls, module):
        params = module.params
        return cls(params["hostname"], params["username"], params["password"], params["validate_certs"],
                   params["ca_path"], params["timeout"])

    # --- session lifetime -----------------------------------------------------------------

    def __enter__(self):
        self.login()
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def login(self, wait=False):
        """Log in, following HOST_IS_SLAVE once.

        wait=True: the host's API may be restarting (after a join, designate or reboot), so
        connection errors are retried with backoff until the deadline instead of failing at once.
        """
        deadline = Deadline(self.timeout)
        delays = _backoff_delays()
        first_url = self.url
        redirected = False
        while True:
            session = self._new_session(self.url)
            try:
                session.xenapi_request("login_with_password",
                                       (self.username, self._password, LOGIN_API_VERSION, ORIGINATOR))
            except XenAPI.Failure as failure:
                details = list(failure.details)
                if details and details[0] == "HOST_IS_SLAVE" and len(details) > 1 and self.follow_master:
                    if redirected:
                        message = (
                            "Logging in failed: %s named %s as pool master, but %s also says it is a pool "
                            "member (HOST_IS_SLAVE %s); the pool may be changing master: retry later or "
                            "point hostname at the current master."
                            % (first_url, self.url, self.url, details[1:]))
                        raise XapiError(message, details) from None
                    self.url = replace_host(self.url, details[1])
                    redirected = True
                    continue
                if details and details[0] == "SESSION_AUTHENTICATION_FAILED":
                    raise AuthenticationError(
                        "Login to %s as %r failed: XAPI returned SESSION_AUTHENTICATION_FAILED (wrong user "
                        "name or password); check username and password (or XENSERVER_USER and "
                        "XENSERVER_PASSWORD)." % (self.url, self.username)) from None
                raise self._translate(failure, "Logging in to %s" % self.url) from None
            except TRANSIENT_ERRORS as exc:
                if wait and not deadline.passed():
                    _sleep(min(next(delays), deadline.remaining()))
                    continue
                raise self._translate(exc, "Logging in to %s" % self.url) from exc
            except Exception as exc:  # TLS, DNS, timeouts, non-XAPI answers: one clear sentence each
                raise self._translate(exc, "Logging in to %s" % self.url) from exc
            self._session = session
            if not self._atexit_registered:
                # Also log out if the process ends without leaving the `with` block (e.g. os._exit is not
                # covered, sys.exit is).
                atexit.register(self.close)
                self._atexit_registered = True
            return

    def close(self):
        """Destroy the tasks this client started, then log out. Safe to call more than once."""
        session, self._session = self._session, None
        if session is None:
            return
        for task in list(self._tasks):
            self._destroy_task(task, session)
        ref = session._session
        try:
            session.xenapi_request("session.logout", ())
        except XenAPI.Failure as failure:
            details = list(failure.details)
            if details[:1] == ["HOST_IS_SLAVE"] and len(details) > 1:
                self._logout_at_master(details[1], ref)
        except Exception:  # pylint: disable=broad-except
            # Nothing useful to do: the host is gone or the session already expired.
            pass

    def _logout_at_master(self, address, ref):
        """The master moved while we worked (designate, maintenance of the master): the session
        lives on the new master. The SDK forgets the ref in its own "session.logout", so send
        xapi's "session_logout" alias, which the SDK passes through like any other call."""
        session = self._new_session(replace_host(self.url, address))
        session._session = ref
        try:
            session.xenapi_request("session_logout", ())
        except Exception:  # pylint: disable=broad-except
            pass

    def _new_session(self, url):
        if url.startswith("https:"):
            transport = TimeoutSafeTransport(self.timeout, self._ssl_context)
        else:
            transport = TimeoutTransport(self.timeout)
        return XenAPI.Session(url, transport=transport)

    def _follow_master(self, address):
        """Mid-session HOST_IS_SLAVE (the master moved): talk to the new master with the same session."""
        old = self._session
        self.url = replace_host(self.url, address)
        session = self._new_session(self.url)
        # The pool database is shared, so the session ref stays valid on the new master; if not, the
        # SDK logs in again with these saved credentials when it sees SESSION_INVALID.
        session._session = old._session
        session.last_login_method = old.last_login_method
        session.last_login_params = old.last_login_params
        self._session = session

    # --- calls ----------------------------------------------------------------------------

    def read(self, method, *args, **kwargs):
        """A call that changes nothing: retried while the API restarts, up to the deadline."""
        return self._call(method, args, retry=True, **kwargs)

    def write(self, method, *args, **kwargs):
        """A call that changes state: never retried after a connection error unless repeat_safe=True
        (the call is idempotent, e.g. host.disable)."""
        repeat_safe = kwargs.pop("repeat_safe", False)
        return self._call(method, args, retry=repeat_safe, **kwargs)

    def _call(self, method, args, retry, action=None, request_timeout=None, deadline=None):
        if self._session is None:
            raise ClientUsageError("XapiClient called %s without a session: use the client as a context manager." % method)
        action = action or "Calling %s on %s" % (method, self.url)
        deadline = deadline or Deadline(self.timeout)
        delays = _backoff_delays()
        redirected = False
        while True:
            try:
                return self._invoke(method, args, request_timeout, repeatable=retry)
            except XenAPI.Failure as failure:
                details = list(failure.details)
                # HOST_IS_SLAVE is raised before anything is done, so even a write can be sent again.
                if (details and details[0] == "HOST_IS_SLAVE" and len(details) > 1 and not redirected
                        and self.follow_master):
                    self._follow_master(details[1])
                    redirected = True
                    continue
                raise self._translate(failure, action) from None
            except TRANSIENT_ERRORS as exc:
                if retry and not deadline.passed():
                    _sleep(min(next(delays), deadline.remaining()))
                    continue
                raise self._translate(exc, action) from exc
            except Exception as exc:  # pylint: disable=broad-except
                raise self._translate(exc, action) from exc

    def _invoke(self, method, args, request_timeout, repeatable=True):
        transport = self._session.transport
        if transport is None:  # not built by _new_session (unit-test doubles)
            return self._session.xenapi_request(method, tuple(args))
        saved = transport.timeout, transport.resend_on_reset
        if request_timeout is not None:
            transport.timeout = request_timeout
        if not repeatable:
            transport.close()  # a fresh connection: a reset then means the write may have been done
            transport.resend_on_reset = False
        try:
            return self._session.xenapi_request(method, tuple(args))
        finally:
            transport.timeout, transport.resend_on_reset = saved

    def _translate(self, exc, action):
        """Any exception from the SDK or the network -> a XenServerError with one clear sentence."""
        if XenAPI is not None and isinstance(exc, XenAPI.Failure):
            return XapiError(describe_failure(exc.details, action), exc.details)
        if isinstance(exc, ssl.SSLCertVerificationError):
            hint = ("set ca_path (or XENSERVER_CA_PATH) to the PEM file of the CA that signed the host "
                    "certificate" if not self._ca_path else
                    "ca_path %s does not hold the CA that signed the host certificate" % self._ca_path)
            return CertificateVerificationError(
                "%s failed: the TLS certificate could not be verified (%s); %s, or use validate_certs: "
                "false only on a lab network." % (action, exc.verify_message or exc.reason, hint))
        if isinstance(exc, ssl.SSLError):
            return ConnectionFailedError("%s failed: TLS error (%s); check that the address is a XAPI "
                                         "HTTPS endpoint." % (action, _reason(exc)))
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return RequestTimeoutError("%s failed: no answer within %s seconds; check that the host is "
                                       "reachable, or raise timeout." % (action, self.timeout))
        if isinstance(exc, socket.gaierror):
            return ConnectionFailedError("%s failed: the host name cannot be resolved (%s); check hostname."
                                         % (action, _reason(exc)))
        if isinstance(exc, ConnectionRefusedError):
            return ConnectionFailedError("%s failed: connection refused; check hostname and port, and that "
                                         "the host is up and its API (xapi) is running." % action)
        if isinstance(exc, (OSError, http.client.HTTPException)):
            return ConnectionFailedError("%s failed: %s; check that the host is reachable and its API "
                                         "(xapi) is running." % (action, _reason(exc)))
        if isinstance(exc, xmlrpc.client.ProtocolError):
            return ConnectionFailedError("%s failed: HTTP %s %s; check that the address is a XenServer or "
                                         "XCP-ng host." % (action, exc.errcode, exc.errmsg))
        if isinstance(exc, xmlrpc.client.Fault):
            if exc.faultCode == 504:
                return RequestTimeoutError("%s failed: the connection timed out; check that the host is "
                                           "reachable." % action)
            return XapiError("%s failed: XAPI answered with fault %s (%s)." % (action, exc.faultCode, exc.faultString))
        if isinstance(exc, (xmlrpc.client.ResponseError, ValueError)):
            return ConnectionFailedError("%s failed: the answer is not XAPI XML-RPC (%s); check that the "
                                         "address is a XenServer or XCP-ng host." % (action, exc))
        return XapiError("%s failed: %s: %s" % (action, type(exc).__name__, exc))

    # --- bulk reads -----------------------------------------------------------------------

    def get_all_records(self, xapi_class):
        """{ref: record} of every object of a class, in one call, int fields converted."""
        records = self.read("%s.get_all_records" % xapi_class,
                            action="Reading all %s records from %s" % (xapi_class, self.url))
        for record in records.values():
            convert_record(xapi_class, record)
        return records

    def get_all_records_of(self, classes, optional=()):
        """{class: {ref: record}} for several classes: one call per class, whatever the pool size.

        Classes in `optional` that this XAPI version does not know come back empty.
        """
        result = {}
        for xapi_class in classes:
            try:
                result[xapi_class] = self.get_all_records(xapi_class)
            except XapiError as error:
                if xapi_class in optional and error.code == "MESSAGE_METHOD_UNKNOWN":
                    result[xapi_class] = {}
                else:
                    raise
        return result

    # --- waiting --------------------------------------------------------------------------

    def wait_for(self, subscriptions, condition, what, timeout=None):
        """Wait until condition(state) is true and return state.

        subscriptions: event.from classes, e.g. ["host"] or ["task/OpaqueRef:..."].
        state: {lower-case class: {ref: record}} of the subscribed objects, kept current by events.
        what: for the timeout message, e.g. "host xs2 to be enabled".
        """
        deadline = Deadline(self.timeout if timeout is None else timeout)
        try:
            return self._wait_with_events(subscriptions, condition, what, deadline)
        except _EventsUnsupported:
            return self._wait_by_polling(subscriptions, condition, what, deadline)

    def _wait_with_events(self, subscriptions, condition, what, deadline):
        state = {}
        token = ""  # "" = start with an "add" event for every existing object
        while True:
            poll = min(deadline.remaining(), EVENT_POLL_SECONDS)
            try:
                batch = self._call("event.from", (list(subscriptions), token, float(poll)), retry=True,
                                   action="Waiting for %s on %s" % (what, self.url),
                                   request_timeout=poll + EVENT_REQUEST_MARGIN_SECONDS, deadline=deadline)
            except XapiError as error:
                if error.code == "MESSAGE_METHOD_UNKNOWN":
                    raise _EventsUnsupported() from None
                if error.code in ("EVENTS_LOST", "EVENT_FROM_TOKEN_PARSE_FAILURE"):
                    # The host restarted or dropped our position: start again from a full snapshot.
                    state, token = {}, ""
                    continue
                raise
            token = batch["token"]
            for event in batch.get("events", []):
                objects = state.setdefault(event["class"].lower(), {})
                if event["operation"] == "del":
                    objects.pop(event["ref"], None)
                elif "snapshot" in event:
                    objects[event["ref"]] = convert_record(event["class"], event["snapshot"])
            if condition(state):
                return state
            if deadline.passed():
                raise RequestTimeoutError("Timed out after %s seconds waiting for %s on %s."
                                          % (deadline.seconds, what, self.url))

    def _wait_by_polling(self, subscriptions, condition, what, deadline):
        delays = _backoff_delays()
        while True:
            state = {}
            for subscription in subscriptions:
                xapi_class, _sep, ref = subscription.partition("/")
                if ref:
                    record = self.read("%s.get_record" % xapi_class, ref, deadline=deadline)
                    state.setdefault(xapi_class.lower(), {})[ref] = convert_record(xapi_class, record)
                else:
                    state[xapi_class.lower()] = self.read("%s.get_all_records" % xapi_class, deadline=deadline)
                    for record in state[xapi_class.lower()].values():
                        convert_record(xapi_class, record)
            if condition(state):
                return state
            if deadline.passed():
                raise RequestTimeoutError("Timed out after %s seconds waiting for %s on %s."
                                          % (deadline.seconds, what, self.url))
            _sleep(min(next(delays), deadline.remaining()))

    # --- asynchronous tasks ---------------------------------------------------------------

    def start_task(self, method, *args):
        """Call Async.<method>; the returned task ref is destroyed by wait_for_task() or close()."""
        task = self.write("Async." + method, *args, action="Starting %s on %s" % (method, self.url))
        self._tasks.add(task)
        return task

    def wait_for_task(self, task, what, timeout=None):
        """Wait for a task started by start_task() and return its decoded result.

        On timeout the task is cancelled. A failed or cancelled task raises TaskFailedError carrying
        the task's error_info. The task is destroyed in every case.
        """
        outcome = self.wait_for_tasks({task: what}, what, timeout=timeout)[task]
        if isinstance(outcome, TaskFailedError):
            raise outcome
        return outcome

    def wait_for_tasks(self, tasks, what, timeout=None):
        """Wait for several tasks started by start_task() at once (one event.from subscription for all).

        tasks: {task ref: what it does, for its error message}; what: for the timeout message.
        Returns {task ref: decoded result, or the TaskFailedError of a failed or cancelled task}.
        On timeout the unfinished tasks are cancelled. Every task is destroyed in every case.
        """
        def finished(state):
            records = state.get("task", {})
            return all(records.get(task) is not None and records[task].get("status") not in ("pending", "cancelling")
                       for task in tasks)

        try:
            try:
                state = self.wait_for(["task/%s" % task for task in tasks], finished, what, timeout=timeout)
            except RequestTimeoutError:
                for task in tasks:
                    self._cancel_task(task)
                raise
            return dict((task, self._task_outcome(task, state["task"][task], tasks[task])) for task in tasks)
        finally:
            for task in tasks:
                self._destroy_task(task, self._session)

    @staticmethod
    def _task_outcome(task, record, what):
        if record["status"] == "success":
            return decode_task_result(record.get("result", ""))
        error_info = list(record.get("error_info") or [])
        if record["status"] == "cancelled" and not error_info:
            error_info = ["TASK_CANCELLED", task]
        return TaskFailedError(describe_failure(error_info, what[:1].upper() + what[1:]), error_info)

    def run_task(self, method, *args, **kwargs):
        """start_task + wait_for_task. kwargs: what (required), timeout."""
        return self.wait_for_task(self.start_task(method, *args), kwargs["what"], kwargs.get("timeout"))

    def _cancel_task(self, task):
        try:
            self._session.xenapi_request("task.cancel", (task,))
        except Exception:  # pylint: disable=broad-except
            pass  # cancel is a request only; the timeout error is what the user needs to see

    def _destroy_task(self, task, session):
        self._tasks.discard(task)
        if session is None:
            return
        try:
            session.xenapi_request("task.destroy", (task,))
        except Exception:  # pylint: disable=broad-except
            pass  # XAPI garbage-collects finished tasks after 65 minutes anyway


def decode_task_result(result):
    """A task result is an XML-RPC <value> fragment even over JSON-RPC; "" or <value></value> is void."""
    if not result:
        return None
    if not result.lstrip().startswith("<value"):
        return result  # not a fragment: give the raw string
    document = "<methodResponse><params><param>%s</param></params></methodResponse>" % result
    try:
        values, _method = xmlrpc.client.loads(document)
    except Exception:  # pylint: disable=broad-except
        return result  # not a fragment: give the raw string
    value = values[0] if values else None
    return None if value == "" else value
