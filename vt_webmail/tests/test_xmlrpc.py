"""The external API over the real ``/xmlrpc/2`` endpoint (Odoo 18 and 19) and ``/json/2``
(Odoo 19), as a non-admin internal user.

The README's examples are extracted and run as they are (only their settings block is
replaced), so the documentation cannot drift from the API.
"""

import contextlib
import datetime
import importlib.util
import io
import pathlib
import re
import textwrap
import unittest
import xmlrpc.client

from odoo import Command, fields
from odoo.tests import tagged
from odoo.tests.common import HttpCase, get_db_name
from odoo.tools import mute_logger

from .. import compat
from .common import WebmailCase, raw_mail

README = pathlib.Path(__file__).resolve().parents[1] / "README.rst"
#: Odoo 19's XML-RPC endpoint warns at each call that XML-RPC is deprecated (README, "External
#: API"): expected here, so muted
XMLRPC_DEPRECATION_LOGGER = "odoo.addons.rpc.controllers.xmlrpc"
SETTINGS_BLOCK = re.compile(r"# -- your settings -+\n.*?# -- end of your settings -+\n", re.S)


def readme_example(title):
    """The Python code block of the README's section ``title`` (a subsection of "External
    API")."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n{title}\n{'-' * len(title)}\n", 1)[1]
    section = re.split(r"\n[^\n]+\n[=-]+\n", section, maxsplit=1)[0]
    block = section.split(".. code-block:: python\n", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def run_readme_example(case, title, settings):
    """Run the README's example ``title`` with ``settings`` (Python source) in place of its
    settings block, as ``case.user`` would from their own machine; return what it printed."""
    code = readme_example(title)
    case.assertRegex(code, SETTINGS_BLOCK, "the README keeps its settings block")
    code = SETTINGS_BLOCK.sub(lambda _m: textwrap.dedent(settings), code, count=1)
    output = io.StringIO()
    case.env.flush_all()
    # the example's own HTTP client, like any integration's
    with contextlib.redirect_stdout(output), compat.requests_allowed(case):
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    case.env.invalidate_all()
    return output.getvalue()


class ApiCase(WebmailCase, HttpCase):
    """A salesman with the Contact Creation right, its mailbox, and a real SMTP server."""

    with_smtp = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = [cls.env.ref("sales_team.group_sale_salesman"),
                  cls.env.ref("base.group_partner_manager")]
        for user in (cls.user, cls.other_user):
            user[compat.user_groups_field(user)] = [Command.link(g.id) for g in groups]
            # new_test_user's password is the login
        cls.db = get_db_name()

    def seed_readme_mailbox(self):
        """What the README's examples find: a lead for Jane, mail from Jane, Nina and Bob."""
        self.env["crm.lead"].create({"name": "ACME deal", "email_from": "jane@example.com",
                                     "user_id": self.user.id, "type": "lead"})
        self.seed(["Invoice 42"], sender="Jane Doe <jane@example.com>")
        self.seed(["Invoice 43"], sender="Nina New <nina@example.net>")
        self.seed(["Lunch"], sender="Bob <bob@example.org>")

    def assertReadmeExampleDid(self, printed):
        """What each README example does to the mailbox, the CRM and the SMTP server."""
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


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_api")
class TestXmlRpc(ApiCase):
    def setUp(self):
        super().setUp()
        muted = mute_logger(XMLRPC_DEPRECATION_LOGGER)
        muted.__enter__()
        self.addCleanup(muted.__exit__, None, None, None)
        self.common = self.xmlrpc_common
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
        self.assertEqual(caught.exception.faultCode, compat.xmlrpc_access_error_code(),
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

    def test_reader_api_conversations_all_inboxes_and_the_layout(self):
        me = f"{self.mailbox_login}@example.com"
        self.imap_server.append(self.mailbox_login, "INBOX", raw_mail(
            "Plan", message_id="<plan@x>", body="Shall we meet?"))
        self.imap_server.append(self.mailbox_login, self.folder("Sent"), raw_mail(
            "Re: Plan", sender=me, message_id="<reply@me>",
            body="Yes.\n\nOn Mon, Alice wrote:\n> Shall we meet?",
            extra_headers="In-Reply-To: <plan@x>\r\n"))
        team_login = self.add_mailbox()
        self.seed(["Team news"], login=team_login)
        account_id = self.create_account_over_rpc()
        team_id = self.call("vt_webmail.account", "create", self.account_values(team_login))
        for refreshed in (account_id, team_id):
            self.call("vt_webmail.account", "action_refresh", [refreshed])
        # a conversation read as the reader shows it: Sent included, quotes folded
        [conversation] = self.call("vt_webmail.conversation", "search_read",
                                   [("account_id", "=", account_id)],
                                   fields=["subject", "message_count", "has_unread"])
        self.assertEqual((conversation["subject"], conversation["message_count"]), ("Plan", 2))
        self.assertTrue(conversation["has_unread"])
        self.assertTrue(self.call("vt_webmail.conversation", "action_read",
                                  [conversation["id"]]))
        mails = self.call("vt_webmail.conversation", "read_mails", [conversation["id"]])
        self.assertEqual(sorted(m["folder_role"] for m in mails), ["inbox", "sent"])
        self.assertTrue(all(m["is_seen"] for m in mails))
        [reply] = [m for m in mails if m["folder_role"] == "sent"]
        self.assertEqual(reply["quotes"], 1)
        # All inboxes: both accounts
        action = self.call("vt_webmail.account", "action_open_unified", "inbox")
        rows = self.call("vt_webmail.message", "search_read", action["domain"],
                         fields=["subject", "account_id"])
        self.assertEqual({r["subject"]: r["account_id"][0] for r in rows},
                         {"Plan": account_id, "Team news": team_id})
        # the layout: each user reads and writes their own
        self.assertTrue(self.call("res.users", "write", [self.uid],
                                  {"vt_webmail_layout": "pane"}))
        self.assertEqual(self.call("res.users", "read", [self.uid],
                                   ["vt_webmail_layout"])[0]["vt_webmail_layout"], "pane")
        # someone else's conversation is refused
        theirs = self.env["vt_webmail.conversation"].sudo().create({
            "account_id": self.make_account(user=self.other_user,
                                            login=self.other_mailbox_login).id,
            "user_id": self.other_user.id, "key": "theirs"})
        self.assertRefused("vt_webmail.conversation", "read_mails", [theirs.id])

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

    def test_qualify_beyond_the_rules(self):
        """Any offered record, remembered; the proposal; the conversation followed; Qualify
        on a conversation; un-qualify: each as a salesman, refused where it should be."""
        lead = self.env["crm.lead"].create({"name": "ACME deal", "email_from": "jane@example.com",
                                            "user_id": self.user.id, "type": "lead"})
        theirs = self.env["crm.lead"].sudo().create({
            "name": "Their deal", "user_id": self.other_user.id, "type": "opportunity"})
        self.seed(["Chairs"], sender="Jane Doe <jane@example.com>",
                  message_id="<chairs-rpc@example.com>")
        self.seed(["Re: Chairs"], sender="Bob <bob@example.org>",
                  extra_headers="In-Reply-To: <chairs-rpc@example.com>\r\n")
        account_id = self.create_account_over_rpc()
        self.call("vt_webmail.account", "action_refresh", [account_id])
        original_id, reply_id = self.call("vt_webmail.message", "search",
                                          [("account_id", "=", account_id)], order="subject")

        models = [row["model"] for row in self.call("vt_webmail.message", "qualify_models")]
        self.assertIn("crm.lead", models)
        proposal = self.call("vt_webmail.message", "get_qualify_proposal", [original_id])
        self.assertEqual((proposal["rule"], proposal["target"]["res_id"]), ("lead", lead.id))
        self.assertFalse(proposal["qualified"])
        contact_id = self.call("res.partner", "create", {"name": "Jane (contact)",
                                                         "email": "jane@example.com"})
        (result,) = self.call("vt_webmail.message", "action_qualify_on", [original_id],
                              "res.partner", contact_id, remember=True)
        self.assertEqual((result["model"], result["res_id"], result["rule"], result["logged"]),
                         ("res.partner", contact_id, "chosen", True))
        again = self.call("vt_webmail.message", "get_qualify_proposal", [original_id])
        self.assertEqual(again["remembered"]["res_id"], contact_id)
        self.assertEqual(again["qualified"]["res_id"], contact_id)
        # a record the user may not see, a model not offered, someone else's mail: refused
        self.assertRefused("vt_webmail.message", "action_qualify_on", [reply_id], "crm.lead",
                           theirs.id)
        with self.assertRaises(xmlrpc.client.Fault) as caught, \
                mute_logger("odoo.http", "odoo.addons.base.models.ir_rule"):
            self.call("vt_webmail.message", "action_qualify_on", [reply_id], "res.country", 1)
        self.assertIn("cannot be logged on records of res.country", caught.exception.faultString)

        # the reply: one click to the record of the mail it answers
        self.assertEqual(self.call("vt_webmail.message", "read", [reply_id],
                                   ["qualify_thread_reference"])[0]["qualify_thread_reference"],
                         f"res.partner,{contact_id}")
        (result,) = self.call("vt_webmail.message", "action_qualify_follow_up", [reply_id])
        self.assertEqual((result["res_id"], result["rule"]), (contact_id, "thread"))
        self.assertTrue(self.call("vt_webmail.account", "write", [account_id],
                                  {"qualify_follow_up": True}))

        # un-qualify both: the entries leave the contact's history
        results = self.call("vt_webmail.message", "action_unqualify", [original_id, reply_id])
        self.assertEqual([r["removed"] for r in results], [True, True])
        entries = self.env["mail.message"].sudo().search_count([
            ("model", "=", "res.partner"), ("res_id", "=", contact_id),
            ("message_type", "=", "email")])
        self.assertEqual(entries, 0)

        # the conversation, at once, on the lead
        conversation_id = self.env["vt_webmail.message"].browse(original_id).conversation_id.id
        results = self.call("vt_webmail.conversation", "action_qualify", [conversation_id])
        self.assertEqual({(r["model"], r["res_id"]) for r in results}, {("crm.lead", lead.id)})
        # now the lead is a colleague's: un-qualifying is refused, and nothing changes
        lead.sudo().user_id = self.other_user
        self.assertRefused("vt_webmail.message", "action_unqualify", [original_id])
        self.assertEqual(self.env["vt_webmail.message"].browse(original_id).qualified_res_id,
                         lead.id)

        # another user's mail and conversation
        mine = self.env["vt_webmail.account"].browse(account_id)
        other = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        self.imap_server.append(self.other_mailbox_login, "INBOX",
                                raw_mail("private", sender="Jane Doe <jane@example.com>"))
        other.action_refresh()
        (their_message,) = self.messages(other)
        self.assertRefused("vt_webmail.message", "action_qualify_on", [their_message.id],
                           "res.partner", contact_id)
        self.assertRefused("vt_webmail.message", "action_unqualify", [their_message.id])
        self.assertRefused("vt_webmail.message", "get_qualify_proposal", [their_message.id])
        self.assertRefused("vt_webmail.message", "action_qualify_follow_up",
                           [their_message.id])
        self.assertRefused("vt_webmail.conversation", "action_qualify",
                           [their_message.conversation_id.id])
        self.assertRefused("vt_webmail.account", "write", [other.id],
                           {"qualify_follow_up": True})
        self.assertFalse(their_message.qualified_model)
        self.assertFalse(other.qualify_follow_up)
        self.assertTrue(mine.qualify_follow_up)

    def test_a_database_constraint_says_why(self):
        # the message declared with the constraint reaches the caller, on Odoo 18 and 19
        account_id = self.create_account_over_rpc()
        with self.assertRaises(xmlrpc.client.Fault) as caught, \
                mute_logger("odoo.sql_db", "odoo.http", "odoo.service.model"):
            self.call("vt_webmail.account", "write", [account_id], {"imap_port": 70000})
        self.assertIn("The IMAP port must be between 1 and 65535.",
                      caught.exception.faultString)
        self.assertNotEqual(self.env["vt_webmail.account"].browse(account_id).imap_port, 70000)

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

    def test_send_later_and_the_outbox_over_xmlrpc(self):
        account_id = self.create_account_over_rpc(**self.smtp_values())
        later = "2099-01-01 09:00:00"
        result = self.call("vt_webmail.account", "send_mail", [account_id],
                           to="someone@example.com", subject="Later", body_html="<p>later</p>",
                           send_at=later)
        self.assertEqual(result["message_id"], False)
        [row] = self.call("vt_webmail.outbox", "search_read", [],
                          fields=["state", "send_at", "subject", "email_to"])
        self.assertEqual((row["id"], row["state"], row["send_at"], row["subject"]),
                         (result["outbox_id"], "queued", later, "Later"))
        # users read their Outbox; its state is the system's
        self.assertRefused("vt_webmail.outbox", "write", [row["id"]], {"state": "sent"})
        self.assertRefused("vt_webmail.outbox", "unlink", [row["id"]])
        sent = self.call("vt_webmail.outbox", "action_send_now", [row["id"]])
        self.assertEqual(sent["params"]["type"], "success")
        (received,) = self.smtp.wait_for(1)
        self.assertIn(b"Subject: Later", received.data)
        self.assertEqual(self.call("vt_webmail.outbox", "read", [row["id"]], ["state"])[0]
                         ["state"], "sent")
        # another user sees none of it
        self.uid = self.common.authenticate(self.db, self.other_user.login,
                                            self.other_user.login, {})
        self.user, saved = self.other_user, self.user
        try:
            self.assertEqual(self.call("vt_webmail.outbox", "search", []), [])
            self.assertRefused("vt_webmail.outbox", "action_send_now", [row["id"]])
            self.assertEqual(self.call("vt_webmail.compose", "search_recipients", "someone"),
                             [])
        finally:
            self.user = saved

    # -- the README's example ----------------------------------------------------------------

    def test_readme_example_runs(self):
        self.seed_readme_mailbox()
        account = self.account_values(self.mailbox_login, **self.smtp_values())
        printed = run_readme_example(self, "XML-RPC example", f"""\
            URL = {self.base_url()!r}
            DB = {self.db!r}
            LOGIN = {self.user.login!r}
            PASSWORD = {self.user.login!r}
            ACCOUNT = {account!r}
            SEND_TO = "someone@example.com"
        """)
        self.assertReadmeExampleDid(printed)

    # -- helpers ------------------------------------------------------------------------------

    def server_flags(self, uid, folder="INBOX"):
        client = self.imap()
        try:
            client.select_folder(folder, readonly=True)
            return client.get_flags([uid])[uid]
        finally:
            client.logout()


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_api")
class TestJson2(ApiCase):
    """Odoo 19's JSON-2 API (``POST /json/2/<model>/<method>``, an API key as bearer token):
    the README's example, and another user's account refused."""

    @classmethod
    def setUpClass(cls):
        # served by Odoo 19's rpc addon; Odoo 18 has neither
        try:
            json2 = importlib.util.find_spec("odoo.addons.rpc.controllers.json2")
        except ModuleNotFoundError:
            json2 = None
        if json2 is None:
            raise unittest.SkipTest("no JSON-2 API in this Odoo (it came with Odoo 19)")
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.api_key = self.env["res.users.apikeys"].with_user(self.user)._generate(
            None, "vt_webmail JSON-2 test", fields.Datetime.now() + datetime.timedelta(days=1))

    def post(self, model, method, api_key=None, **arguments):
        """(HTTP status, decoded JSON answer) of a JSON-2 call as ``self.user``."""
        self.env.flush_all()
        response = self.url_open(
            f"/json/2/{model}/{method}", json=arguments, timeout=120,
            headers={"Authorization": f"bearer {api_key or self.api_key}",
                     "X-Odoo-Database": self.db})
        self.env.invalidate_all()
        return response.status_code, response.json()

    def test_readme_example_runs(self):
        self.seed_readme_mailbox()
        account = self.account_values(self.mailbox_login, **self.smtp_values())
        printed = run_readme_example(self, "JSON-2 example (Odoo 19)", f"""\
            URL = {self.base_url()!r}
            DB = {self.db!r}
            API_KEY = {self.api_key!r}
            ACCOUNT = {account!r}
            SEND_TO = "someone@example.com"
        """)
        self.assertReadmeExampleDid(printed)

    def test_another_users_account_is_refused_and_a_bad_key_too(self):
        theirs = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        with mute_logger("odoo.http", "odoo.addons.base.models.ir_rule"):
            status, answer = self.post("vt_webmail.account", "read", ids=[theirs.id],
                                       fields=["email"])
            self.assertEqual(status, 403, answer)
            self.assertEqual(answer["name"], "odoo.exceptions.AccessError")
            status, _answer = self.post("vt_webmail.account", "action_refresh",
                                        ids=[theirs.id])
            self.assertEqual(status, 403)
            status, _answer = self.post("vt_webmail.account", "search_read", domain=[],
                                        fields=["email"], api_key="not-a-key")
            self.assertEqual(status, 401)
        status, answer = self.post("vt_webmail.account", "search_read", domain=[],
                                   fields=["email"])
        self.assertEqual((status, answer), (200, []), "nobody else's accounts are listed")
        self.assertFalse(theirs.last_attempt_at, "their account was not refreshed")
