# -*- coding: utf-8 -*-

# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import re

import pytest

from ansible_collections.xenserver.pools.plugins.module_utils._errors import (
    ERROR_EXPLANATIONS,
    UNKNOWN_CODE_HINT,
    describe_failure,
)


@pytest.mark.parametrize("details, expected", [
    (["HOST_IS_SLAVE", "192.0.2.1"],
     "Reading the pool failed: XAPI returned HOST_IS_SLAVE ['192.0.2.1']: this host is a pool member and "
     "names 192.0.2.1 as its pool master; point hostname at the pool master 192.0.2.1."),
    (["OTHER_OPERATION_IN_PROGRESS", "host", "OpaqueRef:h1", "evacuate", "OpaqueRef:t"],
     "Reading the pool failed: XAPI returned OTHER_OPERATION_IN_PROGRESS ['host', 'OpaqueRef:h1', 'evacuate', "
     "'OpaqueRef:t']: another operation (evacuate) is already running on host OpaqueRef:h1; wait for it to "
     "finish, then retry."),
    (["SR_BACKEND_FAILURE_73", "", "NFS mount error", "mount.nfs: access denied"],
     "Reading the pool failed: XAPI returned SR_BACKEND_FAILURE_73 ['', 'NFS mount error', "
     "'mount.nfs: access denied']: the storage backend failed: NFS mount error mount.nfs: access denied; "
     "check the storage server and the device_config values."),
])
def test_known_codes_give_meaning_and_hint(details, expected):
    assert describe_failure(details, "Reading the pool") == expected


def test_unknown_codes_are_shown_in_full():
    message = describe_failure(["SOMETHING_NEW", "a", "b"], "Joining host xs2")
    assert message == ("Joining host xs2 failed: XAPI returned SOMETHING_NEW ['a', 'b']; %s." % UNKNOWN_CODE_HINT)


def test_missing_parameters_do_not_break_the_sentence():
    message = describe_failure(["HOST_OFFLINE"], "Disabling host xs2")
    assert message == ("Disabling host xs2 failed: XAPI returned HOST_OFFLINE: host (not given) is offline "
                       "(not live in the pool); power the host on or wait until it is live again, then retry.")


@pytest.mark.parametrize("code", sorted(ERROR_EXPLANATIONS))
def test_every_table_entry_is_one_sentence(code):
    message = describe_failure([code, "p1", "p2", "p3", "p4"], "Doing X")
    assert message.startswith("Doing X failed: XAPI returned %s ['p1'" % code)
    assert message.endswith(".") and "\n" not in message
    assert not re.search(r"\{\d\}", message)
