"""Odoo-side helpers that are not models (as in Odoo's own ``mail/tools``): the database store
behind ``core/sync.py``, the encryption of secrets, an int8 field."""
