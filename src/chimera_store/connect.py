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
    url: str | None = None, *, autocommit: bool = True
) -> Iterator[psycopg.Connection[Any]]:
    target_url = url or resolve_target().url
    try:
        conn = psycopg.connect(
            target_url,
            autocommit=autocommit,
            application_name=APPLICATION_NAME,
            prepare_threshold=None,  # admin queries: not hot; safe behind pgbouncer
        )
    except psycopg.Error as exc:
        raise translate_connect_error(exc) from None
    with conn:
        try:
            yield conn
        except psycopg.Error as exc:  # the admin reads (status, check): typed, like the data API
            raise translate(exc) from None
