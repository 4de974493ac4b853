# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Exceptions raised by the XAPI client, and the table that turns XAPI error codes into sentences.

Every exception is a XenServerError whose str() is the one sentence a module passes to fail_json.
Modules catch XenServerError once, in main().
"""

from __future__ import annotations


class XenServerError(Exception):
    """Base class: str(error) is a complete, user-facing sentence."""


class MissingLibraryError(XenServerError):
    """The XenAPI Python package is not installed where the module runs."""


class InvalidParameterError(XenServerError):
    """An option value cannot be used (bad hostname, unreadable ca_path, ...)."""


class ConnectionFailedError(XenServerError):
    """No XAPI answered at the address (refused, unresolvable, reset, not XAPI)."""


class CertificateVerificationError(ConnectionFailedError):
    """The host's TLS certificate could not be verified."""


class AuthenticationError(XenServerError):
    """XAPI rejected the user name or password."""


class RequestTimeoutError(XenServerError):
    """A single request, or a wait for a pool change or a task, ran past its deadline."""


class XapiError(XenServerError):
    """XAPI answered with an error (a XenAPI.Failure). `code` and `params` are the raw details."""

    def __init__(self, message, details=None):
        super().__init__(message)
        details = list(details or [])
        self.code = details[0] if details else None
        self.params = details[1:]


class TaskFailedError(XapiError):
    """An asynchronous XAPI task ended in failure or was cancelled."""


class ClientUsageError(XenServerError):
    """A bug in a module of this collection: the client was used the wrong way."""


# code -> (what it means, what to do). "{0}", "{1}" ... are the error's parameters.
# Codes not in this table are still reported in full, with a generic hint.
ERROR_EXPLANATIONS = {
    "SESSION_AUTHENTICATION_FAILED": (
        "the user name or password is wrong",
        "check username and password (or XENSERVER_USER and XENSERVER_PASSWORD)",
    ),
    "SESSION_INVALID": (
        "the session has expired or was logged out",
        "run the task again; if it keeps happening another client may be leaking sessions on this pool",
    ),
    "HOST_IS_SLAVE": (
        "this host is a pool member and names {0} as its pool master",
        "point hostname at the pool master {0}",
    ),
    "HOST_OFFLINE": (
        "host {0} is offline (not live in the pool)",
        "power the host on or wait until it is live again, then retry",
    ),
    "HOST_STILL_BOOTING": (
        "the host is still starting up",
        "wait until it has finished booting, then retry",
    ),
    "HOST_NOT_DISABLED": (
        "the host must be disabled first",
        "disable the host (maintenance mode) before this operation",
    ),
    "HOST_DISABLED": (
        "host {0} is disabled",
        "enable the host or choose another one",
    ),
    "HOST_IS_LIVE": (
        "host {0} is already running",
        "nothing to power on",
    ),
    "HOST_POWER_ON_MODE_DISABLED": (
        "the host has no power-on mode configured",
        "configure a power-on mode (wake-on-lan, IPMI, ...) for the host first",
    ),
    "HOST_NOT_ENOUGH_FREE_MEMORY": (
        "there is not enough free memory on the target host(s)",
        "free memory in the pool (shut down or move VMs) and retry",
    ),
    "NO_HOSTS_AVAILABLE": (
        "no other host can take the VM(s)",
        "make sure another enabled host has the memory, networks and storage the VMs need",
    ),
    "CANNOT_EVACUATE_HOST": (
        "some VMs cannot be moved off the host: {0}",
        "shut down or fix the listed VMs, then retry",
    ),
    "HA_IS_ENABLED": (
        "high availability is enabled on the pool",
        "disable HA for this operation and re-enable it afterwards",
    ),
    "HA_NOT_ENABLED": (
        "high availability is not enabled on the pool",
        "nothing to disable",
    ),
    "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN": (
        "the operation would break the HA failover plan",
        "lower ha_host_failures_to_tolerate or free capacity first",
    ),
    "LICENCE_RESTRICTION": (
        "the host's licence does not allow this ({0})",
        "license the hosts for this feature",
    ),
    "OPERATION_NOT_ALLOWED": (
        "the operation is not allowed now: {0}",
        "change the object's state as the reason says, then retry",
    ),
    "OTHER_OPERATION_IN_PROGRESS": (
        "another operation ({2}) is already running on {0} {1}",
        "wait for it to finish, then retry",
    ),
    "HANDLE_INVALID": (
        "the {0} object {1} does not exist (any more)",
        "the pool changed while the task ran; run it again",
    ),
    "UUID_INVALID": (
        "no {0} object has uuid {1}",
        "check the uuid",
    ),
    "MESSAGE_METHOD_UNKNOWN": (
        "this XAPI version does not know the call {0}",
        "upgrade the host, or use a feature this version supports",
    ),
    "MESSAGE_PARAMETER_COUNT_MISMATCH": (
        "call {0} expects {1} parameters but got {2}",
        "this is a bug in the collection: please report it with the XAPI version",
    ),
    "PERMISSION_DENIED": (
        "the user may not do this: {0}",
        "log in as a user with the pool-admin role",
    ),
    "RBAC_PERMISSION_DENIED": (
        "the user's role does not allow {0}",
        "log in as a user with the pool-admin role",
    ),
    "SR_HAS_PBD": (
        "storage repository {0} is still attached to host(s)",
        "unplug its PBDs first",
    ),
    "SR_HAS_NO_PBDS": (
        "storage repository {0} is not attached to any host",
        "plug a PBD for it first",
    ),
    "SR_NOT_EMPTY": (
        "the storage repository still holds virtual disks",
        "delete or move its VDIs first",
    ),
    "SR_UNKNOWN_DRIVER": (
        "the host has no storage driver of type {0}",
        "check the SR type",
    ),
    "SR_BACKEND_FAILURE": (
        "the storage backend failed: {1} {2}",
        "check the storage server and the device_config values",
    ),
    "PIF_IS_MANAGEMENT_INTERFACE": (
        "PIF {0} is the management interface",
        "move management to another interface first",
    ),
    "PIF_DOES_NOT_ALLOW_UNPLUG": (
        "PIF {0} is marked disallow_unplug",
        "clear disallow_unplug first",
    ),
    "INVALID_IP_ADDRESS_SPECIFIED": (
        "the {0} value is not a valid IP address",
        "check the IP settings",
    ),
    "VDI_IN_USE": (
        "the virtual disk(s) are in use by running VMs",
        "shut the VMs down first",
    ),
    "TASK_CANCELLED": (
        "the task was cancelled",
        "run it again if it is still needed",
    ),
    "EVENTS_LOST": (
        "the event stream overflowed",
        "run the task again",
    ),
    "INTERNAL_ERROR": (
        "XAPI hit an internal error: {0}",
        "look at /var/log/xensource.log on the pool master",
    ),
    # --- host lifecycle: maintenance, power, licensing (issue 7) ---
    "HOST_DISABLED_UNTIL_REBOOT": (
        "host {0} is shutting down or rebooting and stays disabled until it has restarted",
        "wait until the host is back, then retry",
    ),
    "HOST_NOT_LIVE": (
        "the host is not live",
        "power it on or wait until it is back, then retry",
    ),
    "HOST_EVACUATE_VM_NOT_HA_PROTECTED": (
        "HA is enabled and VM {0} is not protected by HA, so XAPI will not move it",
        "give the VM an HA restart priority, or shut it down first",
    ),
    "VM_REQUIRES_SR": (
        "VM {0} has a disk on storage repository {1} that the target host cannot reach",
        "move the disk to shared storage, or shut the VM down first",
    ),
    "VM_HAS_PCI_ATTACHED": (
        "VM {0} uses a PCI passthrough device of its host",
        "shut the VM down first",
    ),
    "VM_HAS_VGPU": (
        "VM {0} uses a virtual GPU of its host",
        "shut the VM down first",
    ),
    "VM_HAS_SRIOV_VIF": (
        "VM {0} has an SR-IOV network interface on its host",
        "shut the VM down first",
    ),
    "VM_BAD_POWER_STATE": (
        "VM {0} is {2} but the operation needs it {1}",
        "someone changed the VM meanwhile; check its power state and retry",
    ),
    "VM_MISSING_PV_DRIVERS": (
        "VM {0} has no PV drivers (guest tools)",
        "install the guest tools, or force the operation (hard shutdown)",
    ),
    "VM_LACKS_FEATURE": (
        "VM {0} lacks a feature the operation needs (guest tools)",
        "install the guest tools in the VM",
    ),
    "HOST_CANNOT_ATTACH_NETWORK": (
        "host {0} cannot attach network {1}",
        "give the host a PIF on that network",
    ),
    "VM_REQUIRES_NETWORK": (
        "VM {0} needs network {1}, which the target host lacks",
        "give the target host a PIF on that network",
    ),
    "DESIGNATE_NEW_MASTER_IN_PROGRESS": (
        "the pool is already changing its master",
        "wait until it has finished, then retry",
    ),
    "HA_ABORT_NEW_MASTER": (
        "the master change was aborted: {0}",
        "check that every host is live, then retry",
    ),
    "XENAPI_MISSING_PLUGIN": (
        "the pool master has no XAPI plugin named {0}",
        "install the plugin (for a custom power-on mode: the script in /etc/xapi.d/plugins on the master)",
    ),
    "XENAPI_PLUGIN_FAILURE": (
        "a XAPI plugin failed: {1} {2}",
        "for a host power-on: check power_on_mode, power_on_config and the BMC password",
    ),
    "LICENSE_CHECKOUT_ERROR": (
        "no license could be checked out: {0}",
        "check the license server address and port, and that it holds a license for the edition",
    ),
    "INVALID_EDITION": (
        "edition {0} is not an edition of this host",
        "use one of the host's editions (host.editions, xs_pool_info)",
    ),
    "MISSING_CONNECTION_DETAILS": (
        "the license server is not set",
        "give license_server (address and port) with the edition",
    ),
    "LICENSE_HOST_POOL_MISMATCH": (
        "the host's license edition differs from the pool's ({0} {1})",
        "apply the pool's edition to the host first (xenserver.pools.xs_host edition)",
    ),
    "V6D_FAILURE": (
        "the licensing daemon (v6d) failed",
        "check the licensing service on the host",
    ),
    "MAP_DUPLICATE_KEY": (
        "key {3} is already in {0}.{1}",
        "this is a bug in the collection: please report it with the XAPI version",
    ),
}

UNKNOWN_CODE_HINT = "see the XenServer / XCP-ng documentation for this error code"


def _explanation(code):
    """Table entry for a code; SR_BACKEND_FAILURE_<n> shares one entry."""
    if code in ERROR_EXPLANATIONS:
        return ERROR_EXPLANATIONS[code]
    if code and code.startswith("SR_BACKEND_FAILURE_"):
        return ERROR_EXPLANATIONS["SR_BACKEND_FAILURE"]
    return None


def describe_failure(details, action):
    """One sentence for a XAPI error.

    details: the XenAPI.Failure details list [code, param, ...].
    action: what the client was doing, naming the object, e.g. "Reading the pool from https://xs1/".
    """
    details = [str(item) for item in (details or ["UNKNOWN_ERROR"])]
    code, params = details[0], details[1:]
    shown = code + (" %s" % params if params else "")
    entry = _explanation(code)
    if entry is None:
        return "%s failed: XAPI returned %s; %s." % (action, shown, UNKNOWN_CODE_HINT)
    meaning, hint = entry
    # A host may send fewer parameters than documented: fill the gaps rather than fail here.
    padded = params + ["(not given)"] * 4
    return "%s failed: XAPI returned %s: %s; %s." % (action, shown, meaning.format(*padded), hint.format(*padded))
