"""The `xapisim` command line.  `validate_main` implements `xapisim validate LAB.yml`."""
from __future__ import annotations

import sys

from .labfile import LabError, load


def validate_main(path: str) -> int:
    """Print `<file>: OK` or one line per problem; return 0 when valid, 1 otherwise."""
    try:
        load(path)
    except LabError as err:
        for problem in err.problems:
            print(f"{path}: {problem}", file=sys.stdout)
        return 1
    print(f"{path}: OK")
    return 0
