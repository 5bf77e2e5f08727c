"""Encryption of the mail passwords kept in the database.

A password is stored as a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``, which
Odoo itself requires) in a column that no ORM field maps, so ``read``, ``search_read``, exports
and XML-RPC cannot return it, to anyone.

The key does not live in the account's row:

1. ``vt_webmail_secret_key`` in the Odoo configuration file (``[options]``) when set. This is the
   recommended setup: a copy of the database alone does not reveal the passwords.
2. Otherwise a random key generated on first use and kept in the system parameter
   ``vt_webmail.secret_key``, readable by Settings administrators only. A database dump then
   holds both key and tokens: better than plain text, not a defence against a stolen dump.

If the key changes, existing tokens no longer decrypt: the account reports that its password
must be entered again (nothing is silently lost or guessed).
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from odoo.tools import config

CONFIG_OPTION = "vt_webmail_secret_key"
PARAMETER = "vt_webmail.secret_key"


class SecretUnavailable(Exception):
    """The stored token cannot be decrypted with the current key."""


def _fernet(env):
    configured = config.get(CONFIG_OPTION)
    if configured:
        # any passphrase works: derive a 32-byte Fernet key from it
        key = base64.urlsafe_b64encode(hashlib.sha256(configured.encode()).digest())
        return Fernet(key)
    # sudo: the key parameter is restricted to Settings administrators; only this module reads it
    params = env["ir.config_parameter"].sudo()
    key = params.get_param(PARAMETER)
    if not key:
        key = Fernet.generate_key().decode()
        params.set_param(PARAMETER, key)
    return Fernet(key.encode())


def encrypt(env, plaintext):
    """Return the token for ``plaintext`` (``None`` for an empty password)."""
    if not plaintext:
        return None
    return _fernet(env).encrypt(plaintext.encode()).decode()


def decrypt(env, token):
    """Return the password of ``token``; raise :class:`SecretUnavailable` if it cannot be read."""
    if not token:
        return ""
    try:
        return _fernet(env).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnavailable() from exc
