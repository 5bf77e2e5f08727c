"""Keys that rotate: passwords and tokens encrypted with a key derived by scrypt, several keys
configured (the first encrypts, all decrypt), and the re-encryption that lets old keys go, each
step checked by logging in to the real Dovecot."""

import base64
import hashlib
from unittest.mock import patch

from cryptography.fernet import Fernet

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools import config

from ..tools import secret_box
from .common import WebmailCase

OPTION = secret_box.CONFIG_OPTION


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_keys")
class TestSecretKeys(WebmailCase, TransactionCase):

    def configured(self, value):
        """The configuration file's vt_webmail_secret_key, for the block."""
        return patch.dict(config.options, {OPTION: value})

    def stored(self, account):
        self.env.cr.execute("SELECT password_crypt FROM vt_webmail_account WHERE id = %s",
                            (account.id,))
        return self.env.cr.fetchone()[0]

    def logs_in(self, account):
        return account.with_user(self.user).action_test_connection()["params"]["ok"]

    def rekey(self, **kwargs):
        columns = {"vt_webmail_account": self.env["vt_webmail.account"]._secret_columns()}
        self.env.flush_all()
        kwargs.setdefault("log", lambda line: None)
        totals = secret_box.reencrypt_all(self.registry, columns, **kwargs)
        self.env.invalidate_all()
        return totals

    def test_the_key_is_derived_with_scrypt_not_a_bare_hash(self):
        with self.configured("a passphrase"):
            account = self.make_account()
            token = self.stored(account)
            scrypt_key = secret_box.derive_key("a passphrase")
            self.assertTrue(Fernet(scrypt_key).decrypt(token.encode()))
            legacy = base64.urlsafe_b64encode(hashlib.sha256(b"a passphrase").digest())
            self.assertNotEqual(scrypt_key, legacy)
            self.assertTrue(self.logs_in(account))

    def test_tokens_of_the_previous_version_still_open_and_are_rewritten(self):
        account = self.make_account()
        password = self.imap_server.users[self.mailbox_login]
        # what vt_webmail 18.0.1.0 stored: Fernet with sha256(passphrase)
        legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"old secret").digest()))
        self.env.cr.execute("UPDATE vt_webmail_account SET password_crypt = %s WHERE id = %s",
                            (legacy.encrypt(password.encode()).decode(), account.id))
        with self.configured("old secret"):
            self.assertTrue(self.logs_in(account))
            self.assertEqual(self.rekey(), {"rewritten": 1, "current": 0, "unreadable": 0})
            self.assertTrue(Fernet(secret_box.derive_key("old secret")).decrypt(
                self.stored(account).encode()))
            self.assertTrue(self.logs_in(account))

    def test_rotate_in_the_configuration_file_then_drop_the_old_key(self):
        with self.configured("old secret"):
            account = self.make_account()
            other = self.make_account(user=self.other_user, login=self.other_mailbox_login,
                                      smtp_password="an smtp password")
        before = self.stored(account)
        # 1. the new key first, the old one still there: everything still opens
        with self.configured("new secret, old secret"):
            self.assertTrue(self.logs_in(account))
            # 2. re-encrypt, a row per transaction; cut short after the first batch ...
            calls = []

            def interrupt(line):
                calls.append(line)
                raise KeyboardInterrupt

            with self.assertRaises(KeyboardInterrupt):
                self.rekey(batch=1, log=interrupt)
            # ... and run again: resumable, nothing done twice
            totals = self.rekey(batch=1)
            self.assertEqual(totals["unreadable"], 0)
            self.assertEqual(totals["rewritten"] + totals["current"], 3)  # 2 passwords, 1 smtp
            self.assertEqual(self.rekey(), {"rewritten": 0, "current": 3, "unreadable": 0})
        self.assertNotEqual(self.stored(account), before)
        # 3. the old key removed: everything still logs in
        with self.configured("new secret"):
            self.assertTrue(self.logs_in(account))
            self.assertTrue(other.with_user(self.other_user).action_test_connection()
                            ["params"]["ok"])
            self.assertEqual(other.sudo()._read_secret("smtp_password"), "an smtp password")
        # and without the new key, nothing opens: it really is the one in use
        with self.configured("old secret"), self.assertRaises(UserError):
            self.logs_in(account)

    def test_rotate_the_parameter_key(self):
        account = self.make_account()
        params = self.env["ir.config_parameter"].sudo()
        first = params.get_param(secret_box.PARAMETER)
        self.assertEqual(secret_box.add_parameter_key(self.env), 2)
        new_key = params.get_param(secret_box.PARAMETER).split(",")[0]
        self.assertNotEqual(new_key, first)
        self.assertTrue(self.logs_in(account))  # the old key still opens it
        self.assertEqual(self.rekey()["rewritten"], 1)
        secret_box.drop_old_parameter_keys(self.env)
        self.assertEqual(params.get_param(secret_box.PARAMETER), new_key)
        self.assertTrue(self.logs_in(account))
        with self.configured("a passphrase"), self.assertRaises(ValueError):
            secret_box.add_parameter_key(self.env)

    def test_a_lost_key_is_reported_not_guessed(self):
        account = self.make_account()
        self.env["ir.config_parameter"].sudo().set_param(secret_box.PARAMETER,
                                                         Fernet.generate_key().decode())
        self.assertEqual(self.rekey()["unreadable"], 1)
        with self.assertRaises(UserError) as caught:
            account.with_user(self.user).action_test_connection()
        self.assertIn("enter it again", str(caught.exception))
