"""The `chimera-store` command line: a thin shell over the library."""

from __future__ import annotations

from chimera_store.cli.app import app, main

__all__ = ["app", "main"]
