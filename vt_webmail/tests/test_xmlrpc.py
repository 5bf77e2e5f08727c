"""The external API over the real ``/xmlrpc/2`` endpoint, as a non-admin internal user.

The README's example is extracted and run as is (only its settings block is replaced), so the
documentation cannot drift from the API.
"""

import contextlib
import io
import pathlib
import re
import textwrap
import xmlrpc.client

from odoo import Command
from odoo.tests import tagged
from odoo.tests.common import HttpCase, get_db_name
from odoo.tools import mute_logger

from odoo.addons.base.controllers.rpc import RPC_FAULT_CODE_ACCESS_ERROR

from .common import WebmailCase, raw_mail

README = pathlib.Path(__file__).resolve().parents[1] / "README.rst"
SETTINGS_BLOCK = re.compile(r"# -- your settings -+\n.*?# -- end of your settings -+\n", re.S)


def readme_example():
    """The Python code block of the README's "External API (XML-RPC)" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("External API (XML-RPC)\n======================\n", 1)[1]
    section = re.split(r"\n[^\n]+\n=+\n", section, maxsplit=1)[0]
    block = section.split(".. code-block:: python\n", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_api")
class TestXmlRpc(WebmailCase, HttpCase):
    with_smtp = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = [cls.env.ref("sales_team.group_sale_salesman"),
                  cls.env.ref("base.group_partner_manager")]
        for user in (cls.user, cls.other_user):
            user.groups_id = [Command.link(g.id) for g in groups]
            # new_test_user's password is the login
        cls.db = get_db_name()

    def setUp(self):
        super().setUp()
        self.common = xmlrpc.client.ServerProxy(self.xmlrpc_url + "common")
        self.uid = self.common.authenticate(self.db, self.user.login, self.user.login, {})
        self.assertEqual(self.uid, self.user.id)
        self.assertFalse(self.user._is_admin())

    def call(self, model, method, *args, **kwargs):
        """``execute_kw`` as ``self.user``, through the real endpoint."""
        self.env.flush_all()
        try:
            return self.xmlrpc_object.execute_kw(self.db, self.uid, self.user.login, model,
                                                 method, list(args), kwargs)
        finally:
            self.env.invalidate_all()

    def assertRefused(self, model, method, *args, **kwargs):
        with self.assertRaises(xmlrpc.client.Fault) as caught, \
                mute_logger("odoo.http", "odoo.addons.base.models.ir_rule",
                            "odoo.addons.base.models.ir_model"):
            self.call(model, method, *args, **kwargs)
        self.assertEqual(caught.exception.faultCode, RPC_FAULT_CODE_ACCESS_ERROR,
                         caught.exception.faultString)
        return caught.exception

    def create_account_over_rpc(self, **values):
        return self.call("vt_webmail.account", "create",
                         self.account_values(self.mailbox_login, **values))

    # -- accounts and mail -------------------------------------------------------------------

    def test_account_refresh_list_search_read_and_flags(self):
        self.seed(["Invoice 42", "Lunch"], sender="Jane Doe <jane@example.com>")
        account_id = self.create_account_over_rpc()
        account = self.env["vt_webmail.account"].browse(account_id)
        self.assertEqual(account.user_id, self.user)
        test = self.call("vt_webmail.account", "action_test_connection", [account_id])
        self.assertTrue(test["params"]["ok"], test["params"]["message"])
        self.assertIn("IDLE", test["params"]["capabilities"])
        result = self.call("vt_webmail.account", "action_refresh", [account_id])
        self.assertEqual(result, {"new": 2, "changed": 0, "removed": 0, "running": False,
                                  "error": False})
        self.assertFalse(self.call("vt_webmail.account", "read", [account_id],
                                   ["password"])[0]["password"])

        rows = self.call("vt_webmail.message", "search_read",
                         [("account_id", "=", account_id), ("folder_id.role", "=", "inbox")],
                         fields=["subject", "email_from", "is_seen", "date"])
        self.assertEqual(sorted(r["subject"] for r in rows), ["Invoice 42", "Lunch"])
        found = self.call("vt_webmail.message", "search",
                          [("account_id", "=", account_id), ("subject", "ilike", "invoice")])
        self.assertEqual(len(found), 1)
        # a read returns what is kept: nothing until the body is fetched, explicitly
        self.assertFalse(self.call("vt_webmail.message", "read", found,
                                   ["body_html"])[0]["body_html"])
        self.assertTrue(self.call("vt_webmail.message", "action_fetch_body", found))
        body = self.call("vt_webmail.message", "read", found, ["body_html"])[0]["body_html"]
        self.assertIn("Hello.", body)
        message = self.env["vt_webmail.message"].browse(found)
        self.assertFalse(message.is_seen, "fetching the body over the API marks nothing")

        self.assertTrue(self.call("vt_webmail.message", "action_mark_read", found))
        self.assertTrue(message.is_seen)
        self.assertIn(b"\\Seen", self.server_flags(message.uid))
        self.assertTrue(self.call("vt_webmail.message", "action_mark_unread", found))
        self.assertFalse(message.is_seen)
        self.assertNotIn(b"\\Seen", self.server_flags(message.uid))

    def test_qualify_one_and_several(self):
        lead = self.env["crm.lead"].create({"name": "ACME deal", "email_from": "jane@example.com",
                                            "user_id": self.user.id, "type": "lead"})
        self.seed(["from Jane"], sender="Jane Doe <jane@example.com>")
        self.seed(["from Nina"], sender="Nina New <nina@example.net>")
        account_id = self.create_account_over_rpc()
        self.call("vt_webmail.account", "action_refresh", [account_id])
        ids = self.call("vt_webmail.message", "search", [("account_id", "=", account_id)],
                        order="subject")
        jane_id, nina_id = ids
        results = self.call("vt_webmail.message", "action_qualify", ids)
        self.assertEqual([(r["id"], r["model"], r["rule"], r["created"]) for r in results], [
            (jane_id, "crm.lead", "lead", False),
            (nina_id, "res.partner", "create_contact", True),
        ])
        self.assertEqual(results[0]["res_id"], lead.id)
        self.assertEqual(results[0]["name"], "ACME deal")
        self.assertFalse(any(r["error"] for r in results))
        rows = self.call("vt_webmail.message", "read", ids,
                         ["qualified_model", "qualified_res_id", "qualified_rule",
                          "qualified_record_url"])
        self.assertEqual([(r["qualified_model"], r["qualified_res_id"]) for r in rows],
                         [(r["model"], r["res_id"]) for r in results])
        self.assertEqual(rows[0]["qualified_record_url"], f"/odoo/crm.lead/{lead.id}")
        # again: nothing changes
        again = self.call("vt_webmail.message", "action_qualify", [jane_id])
        self.assertTrue(again[0]["already_qualified"])
        self.assertFalse(again[0]["logged"])
        entries = self.env["mail.message"].search_count([
            ("model", "=", "crm.lead"), ("res_id", "=", lead.id), ("message_type", "=", "email")])
        self.assertEqual(entries, 1)

    def test_another_users_accounts_and_mail_are_refused(self):
        theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        self.imap_server.append(self.other_mailbox_login, "INBOX",
                            raw_mail("private", sender="Jane Doe <jane@example.com>"))
        theirs.action_refresh()
        (their_message,) = self.messages(theirs)

        self.assertEqual(self.call("vt_webmail.account", "search", []), [])
        self.assertEqual(self.call("vt_webmail.message", "search", []), [])
        self.assertRefused("vt_webmail.account", "read", [theirs.id], ["email"])
        self.assertRefused("vt_webmail.account", "write", [theirs.id], {"imap_host": "evil"})
        self.assertRefused("vt_webmail.account", "action_refresh", [theirs.id])
        self.assertRefused("vt_webmail.account", "action_test_connection", [theirs.id])
        self.assertRefused("vt_webmail.account", "unlink", [theirs.id])
        self.assertRefused("vt_webmail.message", "read", [their_message.id], ["subject"])
        self.assertRefused("vt_webmail.message", "read", [their_message.id], ["body_html"])
        self.assertRefused("vt_webmail.message", "action_mark_read", [their_message.id])
        self.assertRefused("vt_webmail.message", "action_open", [their_message.id])
        self.assertRefused("vt_webmail.message", "action_fetch_body", [their_message.id])
        self.assertRefused("vt_webmail.message", "action_qualify", [their_message.id])
        self.assertRefused("vt_webmail.message", "action_open_qualify", [their_message.id])
        self.assertRefused("vt_webmail.account", "send_mail", [theirs.id], to="x@example.com",
                           subject="as someone else", body_html="<p>no</p>")
        mine = self.create_account_over_rpc()
        self.assertRefused("vt_webmail.account", "send_mail", [mine], to="x@example.com",
                           subject="Re: private", body_html="<p>no</p>",
                           reply_to_message_id=their_message.id)
        # and nothing happened to them
        self.assertEqual(theirs.imap_host, self.imap_server.hostname)
        self.assertFalse(their_message.is_seen)
        self.assertFalse(their_message.qualified_model)
        self.assertEqual(their_message.body_state, "none")
        self.assertFalse(their_message.is_answered)

    # -- the README's example ----------------------------------------------------------------

    def test_readme_example_runs(self):
        self.env["crm.lead"].create({"name": "ACME deal", "email_from": "jane@example.com",
                                     "user_id": self.user.id, "type": "lead"})
        self.seed(["Invoice 42"], sender="Jane Doe <jane@example.com>")
        self.seed(["Invoice 43"], sender="Nina New <nina@example.net>")
        self.seed(["Lunch"], sender="Bob <bob@example.org>")
        account = self.account_values(self.mailbox_login, **self.smtp_values())
        settings = textwrap.dedent(f"""\
            URL = {self.base_url()!r}
            DB = {self.db!r}
            LOGIN = {self.user.login!r}
            PASSWORD = {self.user.login!r}
            ACCOUNT = {account!r}
            SEND_TO = "someone@example.com"
        """)
        code = readme_example()
        self.assertRegex(code, SETTINGS_BLOCK, "the README keeps its settings block")
        code = SETTINGS_BLOCK.sub(lambda _m: settings, code, count=1)
        output = io.StringIO()
        self.env.flush_all()
        with contextlib.redirect_stdout(output):
            exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
        self.env.invalidate_all()
        printed = output.getvalue()
        self.assertIn("connection: True", printed)
        self.assertIn("refresh: {'new': 3,", printed)
        self.assertIn("about invoices: 2", printed)
        self.assertRegex(printed, r"-> crm\.lead \d+ ACME deal lead")
        self.assertRegex(printed, r"-> res\.partner \d+ Nina New create_contact")
        messages = self.env["vt_webmail.message"].search([("user_id", "=", self.user.id),
                                                          ("folder_id.role", "=", "inbox")])
        qualified = messages.filtered("qualified_model")
        self.assertEqual(sorted(qualified.mapped("subject")), ["Invoice 42", "Invoice 43"])
        self.assertFalse(messages.filtered("is_seen"), "marked read, then unread again")
        (sent,) = self.smtp.wait_for(1)
        self.assertEqual(sent.rcpt_tos, ["someone@example.com"])
        self.assertIn(b"Subject: Hello from the API", sent.data)
        self.assertRegex(printed, r"sent: <[^>]+>")

    # -- helpers ------------------------------------------------------------------------------

    def server_flags(self, uid, folder="INBOX"):
        client = self.imap()
        try:
            client.select_folder(folder, readonly=True)
            return client.get_flags([uid])[uid]
        finally:
            client.logout()
