"""The Odoo server is not a port scanner: the outgoing-connection policy, as a plain user sees it,
on every path (test connection, refresh, send, server search, OAuth), and its settings."""

from unittest.mock import patch

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools import config, mute_logger

from ..models.vt_webmail_account import ALLOWED_HOSTS_OPTION, ALLOWED_HOSTS_PARAMETER
from ..testing import SilentServer, closed_port
from .common import WebmailCase


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_policy")
class TestNetPolicy(WebmailCase, TransactionCase):

    with_smtp = True

    def set_policy(self, value):
        self.env["ir.config_parameter"].sudo().set_param(ALLOWED_HOSTS_PARAMETER, value)

    def test_a_plain_user_cannot_probe_ports_of_this_server(self):
        self.set_policy("")  # the default: public servers on mail ports only
        self.assertFalse(self.user.has_group("base.group_system"))
        account = self.make_account()
        with SilentServer() as listening:
            messages = {}
            for name, port in (("open", listening.port), ("closed", closed_port()),
                               ("postgresql", 5432)):
                account.write({"imap_host": "127.0.0.1", "imap_port": port})
                params = account.with_user(self.user).action_test_connection()["params"]
                self.assertFalse(params["ok"])
                self.assertEqual(params["error_code"], "host_refused")
                messages[name] = params["message"].replace(str(port), "PORT")
            self.assertEqual(len(set(messages.values())), 1, messages)
            self.assertIn("is not allowed on this Odoo server", messages["open"])
            # nothing was even tried
            self.assertEqual(listening.accepted_count(), 0)
            # a public address on a non-mail port is refused the same way (not connected to)
            account.write({"imap_host": "192.0.2.1", "imap_port": 22})
            params = account.with_user(self.user).action_test_connection()["params"]
            self.assertEqual(params["error_code"], "host_refused")

    def test_every_path_follows_the_policy(self):
        self.seed(["hello"])
        account = self.make_account(**self.smtp_values())
        self.assertEqual(account.action_refresh()["new"], 1)  # allowed: 127.0.0.1
        message = self.messages(account).with_user(self.user)
        self.set_policy("mail.example.com")
        # refresh
        result = account.with_user(self.user).action_refresh()
        self.assertIn("is not allowed on this Odoo server", result["error"])
        self.assertIn("is not allowed", account.last_error)
        # send
        with self.assertRaises(UserError) as caught:
            account.with_user(self.user).send_mail(to="bob@example.org", subject="s",
                                                   body_html="b")
        self.assertIn("is not allowed on this Odoo server", str(caught.exception))
        self.assertEqual(self.smtp.messages, [])
        # acting on a mail, searching on the server
        with self.assertRaises(UserError):
            message.action_mark_read()
        with self.assertRaises(UserError):
            self.env["vt_webmail.message"].with_user(self.user).with_context(
                vt_webmail_account_id=account.id).action_search_server(
                [("account_id", "=", account.id), ("subject", "ilike", "hello")])
        # the rule that names the server, with its port, lets it through again
        self.set_policy(f"127.0.0.1:{self.imap_server.imaps_port}, "
                        f"127.0.0.1:{self.smtp.port}")
        self.assertFalse(account.with_user(self.user).action_refresh()["error"])
        account.with_user(self.user).send_mail(to="bob@example.org", subject="s",
                                               body_html="b")
        self.assertEqual(len(self.smtp.wait_for(1)), 1)

    def test_the_configuration_file_wins(self):
        account = self.make_account()
        self.set_policy("127.0.0.1")
        with patch.dict(config.options, {ALLOWED_HOSTS_OPTION: "mail.example.com"}):
            params = account.with_user(self.user).action_test_connection()["params"]
            self.assertEqual(params["error_code"], "host_refused")
        self.assertTrue(account.with_user(self.user).action_test_connection()["params"]["ok"])

    def test_settings_refuse_a_policy_that_means_nothing(self):
        Settings = self.env["res.config.settings"]
        with self.assertRaises(ValidationError):
            Settings.create({"vt_webmail_allowed_hosts": "mail.example.com:notaport"})
        settings = Settings.create({"vt_webmail_allowed_hosts": "public, 10.0.0.0/8:993"})
        settings.execute()
        self.assertEqual(self.env["ir.config_parameter"].sudo().get_param(
            ALLOWED_HOSTS_PARAMETER), "public, 10.0.0.0/8:993")
        # a value set by hand in the system parameters that means nothing allows nothing
        self.set_policy("127.0.0.1:x")
        params = self.make_account().with_user(self.user).action_test_connection()["params"]
        self.assertEqual(params["error_code"], "host_refused")
        self.assertIn("cannot be read", params["message"])

    def test_test_connection_is_rate_limited_per_user(self):
        account = self.make_account()
        self.env["ir.config_parameter"].sudo().set_param(
            "vt_webmail.connection_tests_per_minute", "3")
        for _ in range(3):
            self.assertTrue(account.with_user(self.user).action_test_connection()["params"]["ok"])
        with self.assertRaises(UserError) as caught:
            account.with_user(self.user).action_test_connection()
        self.assertIn("wait a minute", str(caught.exception))
        # another user is not held back by it
        other = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        self.assertTrue(other.with_user(self.other_user).action_test_connection()["params"]["ok"])

    @mute_logger("odoo.addons.vt_webmail.models.vt_webmail_account_sync")
    def test_refused_account_never_blocks_the_others(self):
        good = self.make_account()
        self.seed(["for the good one"])
        bad = self.make_account(login=self.other_mailbox_login, imap_host="10.255.255.1",
                                verify_certificate=False)
        (good | bad).sudo().write({"last_attempt_at": False})
        self.env["vt_webmail.account"]._cron_refresh()
        self.assertIn("is not allowed", bad.last_error)
        self.assertFalse(good.last_error)
        self.assertEqual(self.messages(good).mapped("subject"), ["for the good one"])
