"""Encryption of the mail passwords and OAuth tokens kept in the database, with keys that rotate.

A secret is stored as a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``, which
Odoo itself requires) in a column that no ORM field maps, so ``read``, ``search_read``, exports
and XML-RPC cannot return it, to anyone.

The keys do not live in the account's row:

1. ``vt_webmail_secret_key`` in the Odoo configuration file (``[options]``) when set: one or
   more passphrases, comma-separated. The first encrypts; every one decrypts. Each is turned
   into a Fernet key by scrypt (n=2**15, r=8, p=1; a fixed salt, so that every Odoo server of
   the database derives the same key), computed once per process. This is the recommended
   setup: a copy of the database alone does not reveal the secrets.
2. Otherwise random Fernet keys generated on first use and kept, comma-separated, in the
   system parameter ``vt_webmail.secret_key`` (first one encrypts), readable by Settings
   administrators only. A database dump then holds both keys and tokens: better than plain
   text, not a defence against a stolen dump.

Tokens made before keys were derived with scrypt (a bare SHA-256 of the passphrase) still
decrypt: each passphrase's old key is tried last. :func:`reencrypt_all` (the command
``odoo-bin vt_webmail_rekey``, README "Rotating the key") re-encrypts every stored secret with
the first key, batch by batch, so that the other keys can then be removed.

If no configured key opens a token, the account reports that its password must be entered
again (nothing is silently lost or guessed).
"""

import base64
import functools
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL, config

_logger = logging.getLogger(__name__)

CONFIG_OPTION = "vt_webmail_secret_key"
PARAMETER = "vt_webmail.secret_key"
#: scrypt's salt: fixed, so that every Odoo server derives the same key from a passphrase
KDF_SALT = b"vt_webmail secret box, scrypt, v2"
#: a re-encryption commits after this many rows
REKEY_BATCH = 200


class SecretUnavailable(Exception):
    """The stored token cannot be decrypted with any configured key."""


@functools.lru_cache(maxsize=16)
def derive_key(passphrase):
    """The Fernet key of a passphrase (scrypt; ~0.1 s, hence cached)."""
    kdf = Scrypt(salt=KDF_SALT, length=32, n=2**15, r=8, p=1)
    return base64.urlsafe_b64encode(kdf.derive(passphrase.encode()))


def _legacy_key(passphrase):
    """The key of vt_webmail 18.0.1.0: a bare SHA-256 of the passphrase (decrypt only)."""
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())


def _split(text):
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def keys(env):
    """``(keys that decrypt, first one encrypting)`` as Fernet keys, configuration first."""
    passphrases = _split(config.get(CONFIG_OPTION))
    if passphrases:
        derived = [derive_key(passphrase) for passphrase in passphrases]
        return derived + [_legacy_key(passphrase) for passphrase in passphrases]
    # sudo: the key parameter is restricted to Settings administrators; only this module reads
    # it
    params = env["ir.config_parameter"].sudo()
    stored = _split(params.get_param(PARAMETER))
    if not stored:
        stored = [Fernet.generate_key().decode()]
        params.set_param(PARAMETER, stored[0])
    return [key.encode() for key in stored]


def _fernet(env):
    return MultiFernet([Fernet(key) for key in keys(env)])


def encrypt(env, plaintext):
    """Return the token for ``plaintext`` (``None`` for an empty secret), with the first key."""
    if not plaintext:
        return None
    return _fernet(env).encrypt(plaintext.encode()).decode()


def decrypt(env, token):
    """Return the secret of ``token``; raise :class:`SecretUnavailable` if no key opens it."""
    if not token:
        return ""
    try:
        return _fernet(env).decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnavailable() from exc


def add_parameter_key(env):
    """Make a new random key the first of ``vt_webmail.secret_key`` (the others still decrypt).

    Only for databases whose keys live in that parameter (no ``vt_webmail_secret_key`` in the
    configuration file: then the administrator changes the file instead).
    :returns: how many keys the parameter holds now
    """
    if _split(config.get(CONFIG_OPTION)):
        raise ValueError(f"the keys come from the configuration file ({CONFIG_OPTION}): put a "
                         "new passphrase first there")
    params = env["ir.config_parameter"].sudo()
    stored = _split(params.get_param(PARAMETER))
    params.set_param(PARAMETER, ",".join([Fernet.generate_key().decode(), *stored]))
    return len(stored) + 1


def drop_old_parameter_keys(env):
    """Keep only the first key of ``vt_webmail.secret_key`` (after :func:`reencrypt_all`)."""
    params = env["ir.config_parameter"].sudo()
    stored = _split(params.get_param(PARAMETER))
    if stored:
        params.set_param(PARAMETER, stored[0])


def _opens(fernet, token):
    try:
        fernet.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def reencrypt_all(registry, columns, *, batch=REKEY_BATCH, log=_logger.info):
    """Re-encrypt every stored secret with the first key.

    Safe while Odoo serves users: each batch is its own transaction, and its rows are locked
    (``FOR UPDATE``) while they are rewritten, so a password typed meanwhile is neither lost nor
    overwritten. Resumable: a token the first key already opens is left as it is, so a run
    cut short is simply run again.

    :param registry: the database's Odoo registry
    :param columns: ``{table: (column, ...)}`` of the encrypted columns
    :returns: ``{"rewritten": n, "current": n, "unreadable": n}``; an unreadable token (no
        configured key opens it) is left untouched and counted
    """
    totals = {"rewritten": 0, "current": 0, "unreadable": 0}
    for table, names in columns.items():
        last_id = 0
        while True:
            with registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                all_keys = [Fernet(key) for key in keys(env)]
                first, every = all_keys[0], MultiFernet(all_keys)
                cr.execute(SQL(
                    "SELECT id, %s FROM %s WHERE id > %s ORDER BY id LIMIT %s FOR UPDATE",
                    SQL(", ").join(SQL.identifier(name) for name in names),
                    SQL.identifier(table), last_id, batch,
                ))
                rows = cr.fetchall()
                if not rows:
                    break
                for row_id, *tokens in rows:
                    updates = {}
                    for name, token in zip(names, tokens, strict=True):
                        if not token:
                            continue
                        if _opens(first, token):
                            totals["current"] += 1
                        elif _opens(every, token):
                            updates[name] = every.rotate(token.encode()).decode()
                        else:
                            totals["unreadable"] += 1
                    if updates:
                        cr.execute(SQL(
                            "UPDATE %s SET %s WHERE id = %s", SQL.identifier(table),
                            SQL(", ").join(SQL("%s = %s", SQL.identifier(name), value)
                                           for name, value in updates.items()),
                            row_id,
                        ))
                        totals["rewritten"] += len(updates)
                last_id = rows[-1][0]
                # the context manager commits this batch
            log(f"{table}: up to id {last_id}: {totals['rewritten']} re-encrypted, "
                f"{totals['current']} already current, {totals['unreadable']} unreadable")
    return totals
