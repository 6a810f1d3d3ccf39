"""Where the two engines' SQL differs, and nothing else: the query builders in query.py write
one statement for both, with `?` placeholders and quoted reserved names, and ask the store's
dialect for the few pieces that are spelled differently."""

from __future__ import annotations

from dataclasses import dataclass

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str  # what a `?` of the shared SQL becomes

    def sql(self, text: str) -> str:
        """The shared SQL (`?` placeholders) in this engine's form. Statements here are built
        from constant text (column names, `?`), never from values, so a `?` is always a
        placeholder; psycopg reads `%` as the start of one, so a literal one is doubled."""
        if self.placeholder == "?":
            return text
        return text.replace("%", "%%").replace("?", self.placeholder)

    def contains(self, haystack: str) -> str:
        """SQL true when the bound needle (already lower-cased in Python) is a substring of
        `haystack` lower-cased as SQLite's lower() does it: ASCII letters only, so that both
        engines keep the same records for a search with non-ASCII letters (PostgreSQL's
        lower() folds every letter)."""
        if self.name == "sqlite":
            return f"instr(lower({haystack}), ?) > 0"
        return f"strpos(translate({haystack}, '{_UPPER}', '{_UPPER.lower()}'), ?) > 0"


SQLITE = Dialect("sqlite", "?")
POSTGRES = Dialect("postgres", "%s")


def quoted(column: str) -> str:
    """A column name as the shared SQL writes it: `user` is a reserved word in PostgreSQL,
    where an unquoted `user` silently means CURRENT_USER; SQLite accepts the quotes too."""
    return f'"{column}"' if column in ("user", "window") else column
