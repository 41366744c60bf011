"""Opening connections to the resolved database, with errors already translated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from chimera_store.config import resolve_target
from chimera_store.dberrors import translate, translate_connect_error

APPLICATION_NAME = "chimera-store"


@contextmanager
def connect_sync(
    url: str | None = None, *, autocommit: bool = True, connect_timeout: float | None = None
) -> Iterator[psycopg.Connection[Any]]:
    target_url = url or resolve_target().url
    # libpq's own connect_timeout (whole seconds); unset, the URL's or none.
    timeout: dict[str, Any] = (
        {} if connect_timeout is None else {"connect_timeout": max(1, round(connect_timeout))}
    )
    try:
        conn = psycopg.connect(
            target_url,
            autocommit=autocommit,
            application_name=APPLICATION_NAME,
            prepare_threshold=None,  # admin queries: not hot; safe behind pgbouncer
            **timeout,
        )
    except psycopg.Error as exc:
        raise translate_connect_error(exc) from None
    with conn:
        try:
            yield conn
        except psycopg.Error as exc:  # the admin reads (status, check): typed, like the data API
            raise translate(exc) from None
