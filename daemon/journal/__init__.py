"""The order journal: the SQLite store and its file (opening, creating, migrating)."""
