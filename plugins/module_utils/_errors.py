# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Exceptions raised by the XAPI client, and the table that turns XAPI error codes into sentences.

Every exception is a XenServerError whose str() is the one sentence a module passes to fail_json.
Modules catch XenServerError once, in main(); a Refused first, to report it with its checks.
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


class Refused(XenServerError):
    """A change the module will not make, found before anything was changed.

    `result` holds the checks behind the refusal, returned with the failure. A refusal is an answer,
    not a crash: modules report it without a traceback (fail_json without exception=).
    """

    def __init__(self, message, **result):
        super().__init__("%s Nothing was changed." % message)
        self.result = result


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
    # pool.join / join_force (issue 5): raised on the joining host, BEHAVIOUR.md 1.2
    "JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS": (
        "the joining host has shared storage configured",
        "detach its shared SRs (PBD.unplug, SR.forget) before the join",
    ),
    "JOINING_HOST_CANNOT_HAVE_RUNNING_VMS": (
        "the joining host has running VMs",
        "shut its VMs down before the join",
    ),
    "JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS": (
        "operations are in progress on VMs of the joining host",
        "wait until they have finished, then retry",
    ),
    "JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS": (
        "the joining host is the master of other hosts",
        "eject the other hosts from its pool first",
    ),
    "JOINING_HOST_CONNECTION_FAILED": (
        "the joining host could not connect to the pool master",
        "check that the host reaches the master's address on port 443 (set master_address if it uses another one)",
    ),
    "JOINING_HOST_SERVICE_FAILED": (
        "the pool master's API refused the joining host's connection",
        "check that the master's API runs and answers on the address given to the join",
    ),
    "HOSTS_NOT_COMPATIBLE": (
        "the hosts run different products or platform versions",
        "install the pool's release on the joining host",
    ),
    "HOSTS_NOT_HOMOGENEOUS": (
        "the hosts are not homogeneous: {0}",
        "bring the joining host to the pool's software and updates; CPU differences need force: true",
    ),
    "POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION": (
        "the joining host speaks API {0}, the pool master {1}",
        "install the same release on both",
    ),
    "POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA": (
        "the joining host has database schema {0}, the pool master {1}",
        "install the same release on both",
    ),
    "POOL_JOINING_HOST_MANAGEMENT_VLAN_DOES_NOT_MATCH": (
        "the joining host's management interface is on VLAN {0}, the pool's on VLAN {1} (-1: untagged)",
        "put the host's management interface on the pool's management VLAN",
    ),
    "POOL_JOINING_HOST_HAS_BONDS": (
        "the joining host has bonds",
        "remove them before the join; the pool's bonds are re-created on it afterwards",
    ),
    "POOL_JOINING_HOST_HAS_TUNNELS": (
        "the joining host has tunnels",
        "remove them before the join",
    ),
    "POOL_JOINING_HOST_HAS_NETWORK_SRIOVS": (
        "the joining host has SR-IOV networks",
        "remove them before the join",
    ),
    "POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS": (
        "the joining host has VLANs besides its management interface",
        "remove them before the join; the pool's VLANs are re-created on it afterwards",
    ),
    "POOL_JOINING_HOST_MUST_HAVE_ONLY_ONE_IP_ON_CLUSTERING_NETWORK": (
        "the joining host needs exactly one IP address on the pool's clustering network",
        "configure one IP on that network before the join",
    ),
    "POOL_JOINING_POOL_CANNOT_ENABLE_CLUSTERING_ON_VLAN_NETWORK": (
        "the pool's clustering network is VLAN {0}, which is not the management network",
        "cluster over the management network or an untagged network",
    ),
    "POOL_JOINING_EXTERNAL_AUTH_MISMATCH": (
        "external authentication (AD) differs between the joining host and the pool master",
        "configure the same external authentication (or none) on the host first",
    ),
    "POOL_JOINING_HOST_TLS_VERIFICATION_MISMATCH": (
        "TLS verification is on at one side of the join and off at the other",
        "enable TLS verification on the side where it is off (xs_pool tls_verification: true)",
    ),
    "POOL_JOINING_HOST_CA_CERTIFICATES_CONFLICT": (
        "CA certificates with the same name differ between the joining host and the pool",
        "remove or rename the conflicting CA certificates on the host",
    ),
    "POOL_JOINING_HOST_TRUSTED_CERTIFICATES_CONFLICT": (
        "a trusted certificate is installed on both sides for different purposes",
        "make the trusted certificates agree before the join",
    ),
    "POOL_JOINING_SM_FEATURES_INCOMPATIBLE": (
        "the joining host's storage driver lacks features the pool's has ({0}, {1})",
        "install the same storage drivers (updates, supplemental packs) as the pool hosts",
    ),
    "POOL_JOINING_MASTER_CERTIFICATE_NOT_IN_POOL_BUNDLE": (
        "the pool master's certificate is missing from the pool's certificate bundle",
        "refresh the pool's certificates (pool.certificate_sync) and retry",
    ),
    "CLUSTERING_ENABLED": (
        "clustering is enabled",
        "leave or disable the cluster first",
    ),
    "HOST_PENDING_MANDATORY_GUIDANCE_NOT_EMPTY": (
        "update guidance (for example a reboot) is pending on host {0}",
        "carry out the pending guidance first",
    ),
    "NOT_SUPPORTED_DURING_UPGRADE": (
        "this is not allowed while the pool is being upgraded or updated",
        "finish the upgrade or update first",
    ),
    "CANNOT_CONTACT_HOST": (
        "host {0} cannot be contacted",
        "check that it is up and reachable from the pool master",
    ),
    "HOST_HAS_RESIDENT_VMS": (
        "VMs are resident on host {0}",
        "shut them down or migrate them first",
    ),
    # xs_pool: HA and TLS (issue 5)
    "CANNOT_CREATE_STATE_FILE": (
        "no SR can hold the HA state file",
        "give a shared SR attached on every host as ha.heartbeat_srs",
    ),
    "REQUIRED_PIF_IS_UNPLUGGED": (
        "interfaces marked disallow_unplug are not plugged: {0}",
        "plug them (PIF.plug) first",
    ),
    "SR_OPERATION_NOT_SUPPORTED": (
        "the SR's driver does not support this operation ({0})",
        "use an SR of another type",
    ),
    "SR_SOURCE_SPACE_INSUFFICIENT": (
        "SR {0} has not enough free space",
        "free space on it or choose another SR",
    ),
    "HA_ENABLE_IN_PROGRESS": (
        "HA is being enabled right now",
        "wait until that has finished",
    ),
    "HA_DISABLE_IN_PROGRESS": (
        "HA is being disabled right now",
        "wait until that has finished",
    ),
    "TLS_VERIFICATION_ENABLE_IN_PROGRESS": (
        "TLS verification is being enabled right now",
        "wait until that has finished",
    ),
    # --- storage and networking: xs_sr, xs_pif, xs_bond (issue 6) ---
    "SR_NOT_SHARABLE": (
        "storage repository {0} is local and already attached on another host than {1}",
        "attach a local SR on one host only, or use shared storage",
    ),
    "SR_UUID_EXISTS": (
        "the pool already has an SR with uuid {0}",
        "manage that SR by its uuid instead of introducing it again",
    ),
    "SR_DEVICE_IN_USE": (
        "the storage device is already used by another SR",
        "choose another LUN or device, or introduce the existing SR (xs_sr state: probed lists it)",
    ),
    "SR_INDESTRUCTIBLE": (
        "storage repository {0} is marked indestructible (other_config:indestructible=true)",
        "remove that mark first if the SR really has to be destroyed",
    ),
    "SR_IS_CACHE_SR": (
        "the SR is the local cache SR of host {0}",
        "disable the host's local caching first",
    ),
    "PBD_EXISTS": (
        "host {1} already has a PBD for storage repository {0}",
        "plug the existing PBD instead of creating another",
    ),
    "VDI_NOT_MANAGED": (
        "virtual disk {0} is not managed by XAPI",
        "leave it to the storage it belongs to",
    ),
    "PIF_UNMANAGED": (
        "interface {0} is not managed by XAPI",
        "configure it outside XAPI",
    ),
    "PIF_HAS_NO_NETWORK_CONFIGURATION": (
        "interface {0} has no IP configuration",
        "give it an IP (xs_pif mode and ip) before making it the management interface",
    ),
    "CANNOT_PLUG_BOND_SLAVE": (
        "interface {0} is a member of a bond",
        "configure the bond's interface instead",
    ),
    "PIF_ALREADY_BONDED": (
        "interface {0} is already in a bond",
        "remove that bond first, or choose other devices",
    ),
    "PIF_BOND_MORE_THAN_ONE_IP": (
        "more than one of the bond's members has an IP configuration",
        "remove the IP of all but one member (xs_pif mode: none) first",
    ),
    "PIF_BOND_NEEDS_MORE_MEMBERS": (
        "a bond needs at least two member interfaces",
        "list at least two devices",
    ),
    "PIF_CANNOT_BOND_CROSS_HOST": (
        "the members of a bond must be on the same host",
        "this is a bug in the collection: please report it",
    ),
    "INCOMPATIBLE_PIF_PROPERTIES": (
        "the member interfaces have different properties",
        "give the NICs the same properties (for example gro) before bonding them",
    ),
    "HA_CANNOT_CHANGE_BOND_STATUS_OF_MGMT_IFACE": (
        "HA is enabled and the bond involves the management interface",
        "disable HA for this change and enable it again afterwards",
    ),
    "NETWORK_ALREADY_CONNECTED": (
        "host {0} already has an interface ({1}) on this network",
        "use another network for the bond, or remove that interface from it",
    ),
    "MAC_INVALID": (
        "{0} is not a valid MAC address",
        "give six hexadecimal pairs separated by colons",
    ),
    "PIF_VLAN_EXISTS": (
        "a VLAN already exists on interface {0}",
        "remove the VLAN first, or bond other devices",
    ),
    "INVALID_VALUE": (
        "{0} cannot be {1}",
        "check the value against the module documentation",
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
