from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase
from odoo.tools import mute_logger

from ..testing import DovecotServer, SilentServer, closed_port
from .common import WebmailCase


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_account")
class TestAccount(WebmailCase, TransactionCase):

    def test_defaults(self):
        account = self.env["vt_webmail.account"].with_user(self.user).create({
            "email": "w@example.com", "imap_host": "imap.example.com", "login": "w",
        })
        self.assertEqual(account.user_id, self.user)
        self.assertEqual((account.security, account.imap_port), ("ssl", 993))
        self.assertTrue(account.verify_certificate)
        self.assertEqual((account.refresh_interval, account.emails_per_page), (5, 20))
        self.assertEqual(account.protocol, "imap4")
        self.assertTrue(account.is_default)
        account.security = "starttls"
        self.assertEqual(account.imap_port, 143)
        account.imap_port = 1143  # a custom port survives a change of security mode
        account.security = "none"
        self.assertEqual(account.imap_port, 1143)

    def test_interval_and_page_size_bounds(self):
        account = self.make_account()
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.cr.savepoint():
            account.refresh_interval = 0
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.cr.savepoint():
            account.emails_per_page = 0

    def test_one_default_account_per_user(self):
        first = self.make_account()
        second = self.make_account(login=self.add_mailbox())
        self.assertTrue(first.is_default)
        self.assertFalse(second.is_default)
        second.is_default = True
        self.assertEqual((first.is_default, second.is_default), (False, True))
        second.active = False
        self.assertTrue(first.is_default)

    def test_password_is_never_read_back(self):
        account = self.make_account()
        secret = self.imap_server.users[self.mailbox_login]
        for reader in (self.user, self.env.ref("base.user_admin")):
            as_reader = account.with_user(reader)
            self.assertFalse(as_reader.read(["password", "smtp_password"])[0]["password"])
            rows = as_reader.search_read([("id", "=", account.id)])
            self.assertNotIn(secret, repr(rows))
            self.assertNotIn(secret, repr(as_reader.web_read({"password": {}, "email": {}})))
        self.assertTrue(account.has_password)
        self.env.cr.execute("SELECT password_crypt FROM vt_webmail_account WHERE id = %s",
                            (account.id,))
        stored = self.env.cr.fetchone()[0]
        self.assertTrue(stored)
        self.assertNotIn(secret, stored)
        # the key lives outside the row: in the system parameters (or odoo.conf)
        self.assertTrue(self.env["ir.config_parameter"].sudo().get_param(
            "vt_webmail.secret_key"))
        self.assertEqual(account._read_secret("password"), secret)
        # an empty value from the web client keeps the stored password
        account.write({"password": False})
        self.assertEqual(account._read_secret("password"), secret)
        account.password = "replaced"
        self.assertEqual(account._read_secret("password"), "replaced")

    def test_users_see_only_their_accounts(self):
        mine = self.make_account()
        theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        Account = self.env["vt_webmail.account"].with_user(self.user)
        self.assertEqual(Account.search([]), mine)
        with self.assertRaises(AccessError):
            theirs.with_user(self.user).read(["email"])
        with self.assertRaises(AccessError):
            theirs.with_user(self.user).write({"imap_host": "evil.example.com"})

    def test_webmail_admin_fixes_settings_never_uses_passwords(self):
        admin = new_test_user(self.env, login="webmail_admin", name="Ada Admin",
                              groups="base.group_user,vt_webmail.group_webmail_admin")
        theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        as_admin = theirs.with_user(admin)
        self.assertEqual(as_admin.read(["email"])[0]["email"], theirs.email)
        as_admin.write({"imap_host": "localhost", "refresh_interval": 10})
        self.assertEqual(theirs.refresh_interval, 10)
        self.assertFalse(as_admin.read(["password"])[0]["password"])
        with self.assertRaises(AccessError):
            as_admin._read_secret("password")
        with self.assertRaises(AccessError):
            as_admin.action_refresh()
        with self.assertRaises(AccessError):
            as_admin.unlink()

    def test_connection_test_success_lists_capabilities(self):
        for security in ("ssl", "starttls", "none"):
            account = self.make_account(security=security, login=self.add_mailbox())
            params = account.action_test_connection()["params"]
            self.assertTrue(params["ok"], params["message"])
            self.assertEqual(params["capabilities"], [
                "IDLE", "CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS", "SPECIAL-USE", "ESEARCH"])
            self.assertEqual(params["missing"], [])
            self.assertIn("QRESYNC", params["message"])
            # Dovecot answers ID (RFC 2971) with its name
            self.assertEqual(params["server"]["name"], "Dovecot")
            self.assertIn("Server: Dovecot", params["message"])

    def test_connection_test_says_what_is_missing_and_what_it_costs(self):
        with DovecotServer(capabilities=["IMAP4rev1", "LITERAL+", "UIDPLUS"]) as old:
            old.add_user("old", "pw")
            account = self.env["vt_webmail.account"].with_user(self.user).create({
                "email": "old@example.com", "imap_host": old.hostname,
                "imap_port": old.imaps_port, "login": "old", "password": "pw",
                "ca_certificate": old.ca_path.read_text(),
            })
            params = account.action_test_connection()["params"]
        self.assertTrue(params["ok"], params["message"])
        self.assertEqual(params["capabilities"], ["UIDPLUS"])
        self.assertEqual(params["missing"], [
            "IDLE", "CONDSTORE", "QRESYNC", "MOVE", "SPECIAL-USE", "ESEARCH"])
        self.assertIn("No CONDSTORE: flag changes are read the slow way", params["message"])
        self.assertIn("No MOVE: moving a mail copies it", params["message"])
        # no ID in that capability list: the greeting names the software instead
        self.assertFalse(params["server"]["name"])
        self.assertIn("ready", params["server"]["greeting"])

    def test_connection_test_failures_in_plain_words(self):
        account = self.make_account()
        stranger = self.imap_server.pki.unknown_ca_path.read_text()
        self.env["ir.config_parameter"].sudo().set_param("vt_webmail.timeout", "1")
        with SilentServer() as silent:
            cases = [
                ({"imap_host": "no-such-host.invalid"}, "host_not_found", "could not be found"),
                ({"imap_host": "127.0.0.1", "imap_port": closed_port()}, "connection_refused",
                 "refused the connection"),
                ({"imap_host": "127.0.0.1", "imap_port": silent.port}, "timeout",
                 "did not answer in time"),
                ({"ca_certificate": stranger}, "certificate_untrusted", "is not trusted"),
                ({"imap_host": "127.0.0.1"}, "hostname_mismatch", "not valid for the name"),
                ({"password": "wrong"}, "login_rejected", "rejected the user name or password"),
                ({"imap_port": self.imap_server.imap_port}, "tls_failed", "TLS handshake failed"),
            ]
            for values, code, words in cases:
                with self.subTest(code=code):
                    account.write(dict(self.account_values(self.mailbox_login), **values))
                    params = account.action_test_connection()["params"]
                    self.assertFalse(params["ok"])
                    self.assertEqual(params["error_code"], code)
                    self.assertIn(words, params["message"])
                    self.assertNotIn(self.imap_server.users[self.mailbox_login], params["message"])

    def test_protocol_accepts_imap2_and_imap4(self):
        account = self.make_account(protocol="imap2")
        self.assertTrue(account.action_test_connection()["params"]["ok"])
        help_text = account._fields["protocol"].help
        self.assertIn("IMAP4rev1", help_text)

    def test_undecryptable_password_asks_to_enter_it_again(self):
        account = self.make_account()
        self.env["ir.config_parameter"].sudo().set_param(
            "vt_webmail.secret_key", "x" * 43 + "=")
        with self.assertRaises(UserError) as caught:
            account._imap_settings()
        self.assertIn("enter it again", str(caught.exception))
