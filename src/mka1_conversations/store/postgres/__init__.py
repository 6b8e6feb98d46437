"""The PostgreSQL dialect: its statements and the connection pool."""

from .backend import PostgresBackend

__all__ = ["PostgresBackend"]
