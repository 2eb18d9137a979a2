"""Passwords in URLs never reach a log, a param, a tag, an artifact or a message.

`redact` masks the password of every URL in a text (`postgresql://user:***@host/db`);
`redact_values` does it for every string in nested config values. A config may name a URL through
an environment variable (`${PG_URL}`); it is resolved where the URL is used (`resolve_env`) and
stored only as written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

# scheme://user:password@ — the password is everything up to the last '@' before the host
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^\s/]*)@")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "***"


def redact(text: str) -> str:
    """The text with the password of every URL in it masked."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}@" if m["password"] != MASK else m[0], text)


def has_password(text: str) -> bool:
    return redact(text) != text


def redact_values(values: Any) -> Any:
    """Nested dicts and lists with every string redacted."""
    if isinstance(values, str):
        return redact(values)
    if isinstance(values, dict):
        return {key: redact_values(value) for key, value in values.items()}
    if isinstance(values, (list, tuple)):
        return [redact_values(value) for value in values]
    return values


def env_references(text: str) -> list[str]:
    """The environment variables a value names as ${VAR}."""
    return _ENV_REFERENCE.findall(text)


def resolve_env(text: str, key: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with each ${VAR} replaced by the variable's value in `environ` (default: this process's
    environment, read, never written); an unset one is a ValueError naming it."""
    environ = os.environ if environ is None else environ
    missing = [name for name in env_references(text) if name not in environ]
    if missing:
        raise ValueError(f"{key} names ${{{missing[0]}}}, which is not set in this environment; "
                         f"export {missing[0]}=… where the run starts (it is read at run time and never stored)")
    return _ENV_REFERENCE.sub(lambda m: environ[m[1]], text)
