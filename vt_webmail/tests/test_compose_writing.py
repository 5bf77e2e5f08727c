"""Writing: signatures (the account's, the company's default; above or below the quote; their
pictures sent inside the mail), Odoo templates filled in with the record a conversation is
qualified on, the user's snippets. Real Dovecot, real aiosmtpd."""

import base64

from markupsafe import Markup

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from .. import compat
from ..core.mime import parse_message
from ..testing import samples
from .common import WebmailCase, raw_mail


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_compose")
class TestComposeWriting(WebmailCase, TransactionCase):

    with_smtp = True

    def setUp(self):
        super().setUp()
        self.user.vt_webmail_undo_delay = 0
        self.user.vt_webmail_signature_position = "above"
        self.user.company_id.vt_webmail_signature_html = False

    def make_sender(self, **values):
        account = self.make_account(**dict(self.smtp_values(), **values)).with_user(self.user)
        self.assertFalse(account.action_refresh()["error"])
        return account

    def wizard(self, action):
        return self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])

    def original(self, account, subject="Question", sender="Alice <alice@example.org>"):
        self.imap_server.append(self.mailbox_login, "INBOX", raw_mail(
            subject, sender=sender, to=account.email, body="The quoted text."))
        account.action_refresh()
        return self.messages(account).filtered(
            lambda m: m.subject == subject).with_user(self.user)

    # -- signatures ------------------------------------------------------------------------------

    def test_account_signature_with_pictures_in_a_new_mail(self):
        logo = self.env["ir.attachment"].with_user(self.user).create({
            "name": "logo.png", "raw": samples.png_image(), "mimetype": "image/png",
            "res_model": "vt_webmail.account"})
        dot = base64.b64encode(samples.png_image(8, 8)).decode()
        account = self.make_sender(signature_html=Markup(
            f'<p>Wendy, <b>ACME</b></p><p><img src="/web/image/{logo.id}">'
            f'<img src="data:image/png;base64,{dot}"></p>'))
        wizard = self.wizard(account.action_compose())
        self.assertIn("o_vt_webmail_signature", wizard.body_html)
        self.assertRegex(wizard.body_html, r"Wendy, <b[^>]*>ACME</b>")
        wizard.write({"email_to": "bob@example.org", "subject": "Signed"})
        wizard.action_send()
        [received] = self.smtp.wait_for(1)
        parsed = parse_message(received.data)
        self.assertIn("ACME", parsed.text)
        inline = sorted(a.data for a in parsed.attachments if a.inline)
        self.assertEqual(inline, sorted([samples.png_image(), samples.png_image(8, 8)]))
        self.assertNotIn("/web/image/", parsed.html)
        self.assertEqual(parsed.html.count("cid:"), 2)

    def test_company_signature_and_its_place_in_a_reply(self):
        account = self.make_sender()
        self.user.company_id.vt_webmail_signature_html = Markup("<p>The ACME team</p>")
        original = self.original(account)
        body = self.wizard(original.action_reply()).body_html
        self.assertLess(body.index("The ACME team"), body.index("The quoted text."))
        self.user.vt_webmail_signature_position = "below"
        body = self.wizard(original.action_reply()).body_html
        self.assertGreater(body.index("The ACME team"), body.index("The quoted text."))
        body = self.wizard(original.action_forward()).body_html
        self.assertGreater(body.index("The ACME team"), body.index("The quoted text."))
        # the account's own signature wins over the company's
        account.signature_html = Markup("<p>Wendy alone</p>")
        body = self.wizard(account.action_compose()).body_html
        self.assertIn("Wendy alone", body)
        self.assertNotIn("The ACME team", body)
        # set by an administrator in Settings
        settings = self.env["res.config.settings"].create({
            "vt_webmail_signature_html": "<p>Set in Settings</p>"})
        settings.execute()
        self.assertIn("Set in Settings", self.env.company.vt_webmail_signature_html)

    # -- templates -------------------------------------------------------------------------------

    def test_template_filled_in_with_the_qualified_lead(self):
        salesman = self.env.ref("sales_team.group_sale_salesman")
        self.user[compat.user_groups_field(self.user)] = [Command.link(salesman.id)]
        account = self.make_sender()
        lead = self.env["crm.lead"].create({"name": "Big deal", "email_from": "alice@example.org",
                                            "user_id": self.user.id,
                                            "contact_name": "Alice Lead"})
        template = self.env["mail.template"].create({
            "name": "Lead follow-up", "model_id": self.env.ref("crm.model_crm_lead").id,
            "subject": "About {{ object.name }}",
            "body_html": "<p>Dear <t t-out=\"object.contact_name\"/>, about "
                         "<t t-out=\"object.name\"/>.</p>"})
        original = self.original(account)
        original.sudo().write({"qualified_model": "crm.lead", "qualified_res_id": lead.id})
        wizard = self.wizard(original.action_reply())
        wizard.action_apply_template(template.id)
        self.assertIn("Dear Alice Lead, about Big deal.", wizard.body_html)
        self.assertLess(wizard.body_html.index("Dear Alice Lead"),
                        wizard.body_html.index("The quoted text."))
        self.assertEqual(wizard.subject, "Re: Question")  # a reply keeps its subject
        wizard.action_send()
        [received] = self.smtp.wait_for(1)
        self.assertIn("Dear Alice Lead, about Big deal.", parse_message(received.data).text)

    def test_contact_template_for_a_new_mail_and_no_record(self):
        account = self.make_sender()
        self.env["res.partner"].create({"name": "Bob Contact", "email": "bob@example.org"})
        template = self.env["mail.template"].create({
            "name": "Hello contact", "model_id": self.env.ref("base.model_res_partner").id,
            "subject": "Hello {{ object.name }}",
            "body_html": "<p>Hi <t t-out=\"object.name\"/></p>"})
        wizard = self.wizard(account.action_compose())
        with self.assertRaises(UserError):  # no recipient yet: no contact to fill it in with
            wizard.action_apply_template(template.id)
        wizard.email_to = "Bob <bob@example.org>"
        wizard.action_apply_template(template.id)
        self.assertEqual(wizard.subject, "Hello Bob Contact")
        self.assertIn("Hi Bob Contact", wizard.body_html)
        # the composer's field does the same through its onchange
        wizard.body_html = False
        wizard.template_id = template
        wizard._onchange_template_id()
        self.assertIn("Hi Bob Contact", wizard.body_html)
        self.assertFalse(wizard.template_id)

    # -- snippets ------------------------------------------------------------------------------

    def test_snippets_are_the_users_own(self):
        account = self.make_sender()
        Snippet = self.env["vt_webmail.snippet"]
        mine = Snippet.with_user(self.user).create({"name": "Thanks",
                                                    "body_html": "<p>Thanks, back soon.</p>"})
        theirs = Snippet.with_user(self.other_user).create({"name": "Theirs",
                                                            "body_html": "<p>secret</p>"})
        self.assertEqual(Snippet.with_user(self.user).search([]), mine)
        with self.assertRaises(AccessError):
            theirs.with_user(self.user).read(["body_html"])
        wizard = self.wizard(account.action_compose())
        wizard.snippet_id = mine
        wizard._onchange_snippet_id()
        self.assertTrue(wizard.body_html.startswith("<p>Thanks, back soon.</p>"))
        self.assertFalse(wizard.snippet_id)

    # -- recipients ------------------------------------------------------------------------------

    def test_recipients_from_recent_mail_contacts_and_leads(self):
        salesman = self.env.ref("sales_team.group_sale_salesman")
        self.user[compat.user_groups_field(self.user)] = [Command.link(salesman.id)]
        account = self.make_sender()
        self.env["res.partner"].create({"name": "Zed Contact", "email": "zed.contact@example.org"})
        self.env["crm.lead"].create({"name": "Zed deal", "contact_name": "Zed Lead",
                                     "email_from": "zed.lead@example.org",
                                     "user_id": self.user.id})
        self.imap_server.append(self.mailbox_login, "INBOX", raw_mail(
            "Hi", sender="Zed Recent <zed.recent@example.org>",
            to=f"{account.email}, Zed Cc <zed.copied@example.org>"))
        account.action_refresh()
        # within the last RECENT_DAYS (raw_mail's date is fixed)
        self.messages(account).sudo().write({"date": fields.Datetime.now()})
        Compose = self.env["vt_webmail.compose"].with_user(self.user)
        found = Compose.search_recipients("zed", limit=10)
        self.assertEqual([(s["email"], s["source"]) for s in found], [
            ("zed.recent@example.org", "recent"), ("zed.copied@example.org", "recent"),
            ("zed.contact@example.org", "contact"), ("zed.lead@example.org", "lead")])
        self.assertEqual(found[3]["label"], "Zed Lead <zed.lead@example.org>")
        # never the user's own address; LIKE's wildcards are plain characters
        self.assertFalse([s for s in Compose.search_recipients(self.mailbox_login)
                          if s["email"] == account.email])
        self.assertEqual(Compose.search_recipients("%%%"), [])
        # two characters: only the user's correspondents (contacts and leads from three)
        self.assertEqual({s["source"] for s in Compose.search_recipients("ze", limit=10)},
                         {"recent"})
        self.assertEqual(Compose.search_recipients("zed", limit=2)[1]["source"], "recent")
        # another user sees none of this user's correspondents
        other = self.env["vt_webmail.compose"].with_user(self.other_user)
        self.assertFalse([s for s in other.search_recipients("zed") if s["source"] == "recent"])

    # -- documents of the qualified record, and logging the sent mail there ----------------------

    def qualified_reply(self, account):
        salesman = self.env.ref("sales_team.group_sale_salesman")
        self.user[compat.user_groups_field(self.user)] = [Command.link(salesman.id)]
        lead = self.env["crm.lead"].create({"name": "Docs deal", "email_from": "alice@example.org",
                                            "user_id": self.user.id})
        document = self.env["ir.attachment"].create({
            "name": "offer.pdf", "raw": samples.pdf_document(), "mimetype": "application/pdf",
            "res_model": "crm.lead", "res_id": lead.id})
        original = self.original(account)
        original.sudo().write({"qualified_model": "crm.lead", "qualified_res_id": lead.id})
        return lead, document, self.wizard(original.action_reply())

    def lead_mails(self, lead):
        return self.env["mail.message"].search([
            ("model", "=", "crm.lead"), ("res_id", "=", lead.id),
            ("message_type", "=", "email")])

    def test_attach_a_document_of_the_record_and_log_the_sent_mail_there(self):
        account = self.make_sender()
        lead, document, wizard = self.qualified_reply(account)
        self.assertEqual((wizard.qualify_res_model, wizard.qualify_res_id),
                         ("crm.lead", lead.id))
        wizard.write({"record_attachment_ids": [Command.link(document.id)],
                      "log_on_record": True})
        result = wizard.action_send()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        [received] = self.smtp.wait_for(1)
        self.assertEqual([(a.filename, a.data) for a in parse_message(received.data).attachments],
                         [("offer.pdf", samples.pdf_document())])
        [logged] = self.lead_mails(lead)
        self.assertEqual(logged.subject, "Re: Question")

    def test_logged_from_the_outbox_too(self):
        account = self.make_sender()
        self.user.vt_webmail_undo_delay = 5
        lead, _document, wizard = self.qualified_reply(account)
        wizard.log_on_record = True
        outbox = self.env["vt_webmail.outbox"].with_user(self.user).browse(
            wizard.action_send()["res_id"])
        self.assertEqual((outbox.log_model, outbox.log_res_id), ("crm.lead", lead.id))
        self.assertFalse(self.lead_mails(lead))
        outbox.action_send_now()
        self.assertEqual(outbox.state, "sent")
        self.assertEqual(len(self.lead_mails(lead)), 1)

    def test_only_documents_of_that_record(self):
        account = self.make_sender()
        _lead, _document, wizard = self.qualified_reply(account)
        elsewhere = self.env["ir.attachment"].with_user(self.user).create({
            "name": "mine.txt", "raw": b"mine", "res_model": "res.partner",
            "res_id": self.user.partner_id.id})
        wizard.record_attachment_ids = [Command.link(elsewhere.id)]
        with self.assertRaises(AccessError):
            wizard.action_send()
        self.assertEqual(self.smtp.messages, [])
