"""The ORM-free engine of vt_webmail: IMAP sessions, folder sync, MIME, sending, Qualify rules.

Only the standard library, ``imapclient`` and ``lxml`` are imported here; never Odoo, never the
addon around it (a ruff rule in ``ruff.toml`` enforces both). The Odoo models are thin layers
that call into this package and turn its :mod:`.exceptions` into user messages.
"""
