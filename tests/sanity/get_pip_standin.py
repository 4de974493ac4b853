# Copyright (c) 2026, xenserver.pools contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com.

ansible-test bootstraps pip into each sanity-test virtualenv with that script. `make sanity` copies
this file to ~/.ansible/test/cache/get_pip_<version>.py (when nothing is cached there yet), so the
bootstrap needs only the Python standard library (ensurepip) and PyPI. It is called the way
get-pip.py is: `python get_pip.py [pip options] pip==X ... --no-setuptools --no-wheel`.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + arguments)


if __name__ == "__main__":
    main()
