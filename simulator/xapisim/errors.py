"""XAPI failures: a code and its parameters, as `ErrorDescription` carries them."""
from __future__ import annotations


class XapiError(Exception):
    def __init__(self, code: str, *params):
        super().__init__(code, *params)
        self.code = code
        self.params = [str(p) for p in params]

    @property
    def description(self) -> list[str]:
        return [self.code, *self.params]

    def __str__(self) -> str:
        return str(self.description)
