"""The SQLite dialect: its statements, the inline single writer, checkpoints."""

from .backend import SQLiteBackend, sqlite_path_from_url

__all__ = ["SQLiteBackend", "sqlite_path_from_url"]
