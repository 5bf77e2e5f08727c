import datetime
import time

from odoo import fields
from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools import mute_logger

from ..testing.hostile_imap import LOGIN, PASSWORD, SCENARIOS, HostileImapServer
from .common import WebmailCase

#: What a user reads in ``last_error``, by error code (see ``_error_message``).
WORDS = {
    "too_slow": "took longer than 5 seconds",
    "response_too_large": "sent more than the webmail accepts",
    "protocol_error": "sent an answer that could not be understood",
    "tls_failed": "could not be set up",
    "timeout": "did not answer in time",
    "server_gone": "was lost",
}
#: A representative handful: time, size, nesting, numbers, UIDs, folders, TLS, tolerated damage.
SCENARIO_NAMES = (
    "greeting_slowloris", "untagged_flood", "literal_2gb_header", "bodystructure_deep",
    "uid_never_asked", "uidvalidity_every_select", "fetch_answers_nothing", "list_100k_folders",
    "list_without_inbox",
    "starttls_refused", "folder_names_hostile", "headers_bad_utf8_nul",
)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_hostile")
class TestHostileServer(WebmailCase, TransactionCase):
    """The scheduled refresh over two accounts: one on the scripted hostile server of
    ``testing/hostile_imap.py``, one on Dovecot. The good one gets its mail; the hostile one
    ends with its error in plain words (or syncs, where reading past the damage is right),
    within the session deadline, and keeps the mail it had cached."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hostile = HostileImapServer().start()
        cls.addClassCleanup(cls.hostile.close)

    def setUp(self):
        super().setUp()
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("vt_webmail.timeout", "1")
        params.set_param("vt_webmail.session_deadline", "5")

    def hostile_account(self, security):
        return self.env["vt_webmail.account"].with_user(self.other_user).create({
            "email": "hostile@example.com", "imap_host": self.hostile.hostname,
            "imap_port": self.hostile.port, "security": security, "login": LOGIN,
            "password": PASSWORD, "ca_certificate": self.hostile.ca_path.read_text(),
        })

    def test_the_scheduled_refresh_goes_on_past_a_hostile_server(self):
        long_ago = fields.Datetime.now() - datetime.timedelta(days=1)
        for name in SCENARIO_NAMES:
            with self.subTest(scenario=name):
                scenario = SCENARIOS[name]
                # a hostile account with mails 1-5 cached, from the server when it was honest
                self.hostile.scenario = "honest"
                del self.hostile.messages[5:]
                hostile = self.hostile_account(scenario.security)
                self.assertFalse(hostile.action_refresh()["error"])
                self.assertEqual(sorted(self.messages(hostile).mapped("uid")), [1, 2, 3, 4, 5])
                # then mail 6 arrives, and the server turns hostile
                self.hostile.add_message()
                self.hostile.scenario = name
                login = self.add_mailbox()
                self.seed(["for the good account"], login=login)
                good = self.make_account(login=login)
                # both due, the hostile one first (least recently refreshed); LIST asked again
                hostile.sudo().write({"last_attempt_at": long_ago, "folders_listed_at": False})
                good.sudo().write({"last_attempt_at": long_ago + datetime.timedelta(hours=1)})

                started = time.monotonic()
                with mute_logger("odoo.addons.vt_webmail.models.vt_webmail_account_sync"):
                    self.env["vt_webmail.account"]._cron_refresh()
                elapsed = time.monotonic() - started

                self.assertFalse(good.last_error)
                self.assertEqual(self.messages(good).mapped("subject"), ["for the good account"])
                cached = sorted(self.messages(hostile).mapped("uid"))
                if scenario.expected == "ok":
                    self.assertFalse(hostile.last_error)
                    self.assertEqual(cached, [1, 2, 3, 4, 5, 6])
                else:
                    # a flood may meet the deadline first on a loaded machine
                    self.assertTrue(any(WORDS[code] in (hostile.last_error or "<none>")
                                        for code in (scenario.expected, scenario.also) if code),
                                    hostile.last_error)
                    self.assertEqual(cached, [1, 2, 3, 4, 5], "the cached mail is kept")
                self.assertTrue(hostile.last_attempt_at > long_ago)
                self.assertLess(elapsed, 5 + 10, "the session deadline (5 s), and a little")
                if name == "folder_names_hostile":
                    # unusable names left out, never a NUL for PostgreSQL
                    self.assertEqual(sorted(hostile.folder_ids.mapped("name")),
                                     sorted(["INBOX", "Sent", "Trash", "Café"]))
                (good | hostile).sudo().active = False  # not refreshed by the next subtest
