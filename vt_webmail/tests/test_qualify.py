from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import HttpCase, TransactionCase
from odoo.tools import email_normalize, mute_logger

from .. import compat
from ..core import addresses
from ..testing import samples
from .common import WebmailCase, raw_mail

JANE = "Jane Doe <jane@example.com>"


class QualifyCase(WebmailCase):
    """A salesman ("own documents only") with the Contact Creation right, and a mailbox."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        salesman = cls.env.ref("sales_team.group_sale_salesman")
        partner_manager = cls.env.ref("base.group_partner_manager")
        for user in (cls.user, cls.other_user):
            user[compat.user_groups_field(user)] = [Command.link(salesman.id),
                                                    Command.link(partner_manager.id)]

    def setUp(self):
        super().setUp()
        self.account = self.make_account()
        self.Lead = self.env["crm.lead"].with_user(self.user)
        self.Partner = self.env["res.partner"].with_user(self.user)

    def deliver(self, *raws, folder="INBOX"):
        """APPEND these mails, refresh, and return them as webmail messages of ``self.user``."""
        uids = [self.imap_server.append(self.mailbox_login, folder, raw) for raw in raws]
        self.account.action_refresh()
        by_uid = {m.uid: m for m in self.messages(self.account, folder).with_user(self.user)}
        return [by_uid[uid] for uid in uids]

    def mail(self, sender=JANE, subject="Hello", **kwargs):
        return self.deliver(raw_mail(subject, sender=sender, **kwargs))[0]

    def lead(self, name="ACME deal", email="jane@example.com", **values):
        return self.Lead.create(dict({"name": name, "email_from": email, "type": "lead"},
                                     **values))

    def contact(self, name="Jane Doe", email="jane@example.com", **values):
        return self.Partner.create(dict({"name": name, "email": email}, **values))

    def set_create_date(self, record, when):
        record.flush_recordset()
        self.env.cr.execute(f'UPDATE "{record._table}" SET create_date = %s WHERE id = %s',
                            (when, record.id))
        record.invalidate_recordset(["create_date"])

    def entries(self, record):
        """The chatter entries made by Qualify (emails) on ``record``."""
        return self.env["mail.message"].sudo().search([
            ("model", "=", record._name), ("res_id", "=", record.id),
            ("message_type", "=", "email"),
        ])

    def open_preview(self, messages):
        action = messages.action_open_qualify()
        self.assertEqual((action["res_model"], action["target"]), ("vt_webmail.qualify", "new"))
        return self.env["vt_webmail.qualify"].with_user(self.user).browse(action["res_id"])

    def qualify(self, message):
        (result,) = message.action_qualify()
        self.assertFalse(result["error"], result["error"])
        return result


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyRules(QualifyCase, TransactionCase):
    """The seed cases and the rules around them."""

    def test_the_engines_normalised_address_is_odoos(self):
        """The engine normalises addresses (core/addresses.py) and Qualify searches Odoo's
        email_normalized columns with them: the two rules must agree, a non-ASCII local part
        included."""
        for value in ("Jane Doe <Jane.Doe@Example.COM>", "\xc9lodie <\xc9lodie@Exemple.FR>",
                      '"Doe, John" <John@Example.org>', "mia@B\xdcCHER.example", "x@y.z",
                      "a@x.org, b@y.org", "nobody", ""):
            with self.subTest(value=value):
                self.assertEqual(addresses.normalize(value, strict=True),
                                 email_normalize(value) or "")
        # a sender with a non-ASCII local part finds the contact Odoo made for it
        partner = self.env["res.partner"].create({"name": "\xc9lodie",
                                                  "email": "\xc9lodie@Exemple.fr"})
        result = self.qualify(self.mail(sender="\xc9lodie <\xc9lodie@exemple.FR>"))
        self.assertEqual((result["model"], result["res_id"]), ("res.partner", partner.id))

    def test_unknown_sender_gets_a_new_contact(self):
        message = self.mail(subject="First contact", message_id="<first-1@example.com>")
        result = self.qualify(message)
        partner = self.env["res.partner"].browse(result["res_id"])
        self.assertEqual((result["model"], result["rule"], result["created"], result["logged"]),
                         ("res.partner", "create_contact", True, True))
        self.assertEqual((partner.name, partner.email), ("Jane Doe", "jane@example.com"))
        self.assertFalse(partner.company_id, "a contact made from mail is shared, like Odoo's")
        self.assertEqual((message.qualified_model, message.qualified_res_id),
                         ("res.partner", partner.id))
        self.assertEqual(message.qualified_record_url, f"/odoo/res.partner/{partner.id}")
        self.assertEqual(message.qualified_reference, partner)
        entry = self.entries(partner)
        self.assertEqual(len(entry), 1)
        self.assertEqual(message.qualified_mail_message_id, entry)
        self.assertEqual(entry.subject, "First contact")
        self.assertEqual(entry.message_id, "<first-1@example.com>")
        self.assertEqual(str(entry.date), "2026-11-02 10:00:00")
        self.assertEqual(entry.author_id, partner)
        self.assertEqual(entry.email_from, JANE)
        self.assertIn("Hello.", entry.body)
        self.assertEqual(entry.subtype_id, self.env.ref("mail.mt_comment"))

    def test_unknown_sender_without_display_name_is_named_after_the_address(self):
        result = self.qualify(self.mail(sender="Solo@Example.com"))
        partner = self.env["res.partner"].browse(result["res_id"])
        self.assertEqual((partner.name, partner.email), ("Solo@Example.com", "solo@example.com"))

    def test_lead_wins_and_no_contact_is_created(self):
        lead = self.lead()
        partners_before = self.env["res.partner"].search_count([])
        result = self.qualify(self.mail())
        self.assertEqual((result["model"], result["res_id"], result["rule"], result["created"]),
                         ("crm.lead", lead.id, "lead", False))
        self.assertEqual(self.env["res.partner"].search_count([]), partners_before)
        entry = self.entries(lead)
        self.assertEqual(len(entry), 1)
        self.assertFalse(entry.author_id, "no contact has the address: the author is the From")
        self.assertEqual(entry.email_from, JANE)

    def test_lead_wins_over_an_older_contact(self):
        contact = self.contact()
        lead = self.lead()
        self.set_create_date(contact, "2020-01-01")
        result = self.qualify(self.mail())
        self.assertEqual((result["model"], result["res_id"], result["rule"]),
                         ("crm.lead", lead.id, "lead_over_contact"))
        self.assertEqual(self.entries(lead).author_id, contact,
                         "the sender's contact is the author of the entry on the lead")
        self.assertFalse(self.entries(contact))

    def test_converted_lead_wins_until_deleted_then_its_contact(self):
        lead = self.lead(contact_name="Jane Doe")
        convert = self.env["crm.lead2opportunity.partner"].with_user(self.user).with_context(
            active_model="crm.lead", active_id=lead.id, active_ids=lead.ids,
        ).create({"name": "convert", "action": "create"})
        convert.action_apply()
        self.assertEqual(lead.type, "opportunity")
        produced = lead.partner_id
        self.assertEqual(produced.email_normalized, "jane@example.com")

        first = self.mail(subject="before")
        result = self.qualify(first)
        self.assertEqual((result["model"], result["res_id"], result["rule"]),
                         ("crm.lead", lead.id, "converted_lead_over_contact"))
        preview = self.open_preview(self.mail(subject="preview"))
        self.assertIn(f"Lead '{lead.name}' was converted into contact '{produced.name}' and "
                      "still wins over it", preview.explanation)

        lead.sudo().unlink()  # (salesmen may not delete leads; their manager may)
        result = self.qualify(self.mail(subject="after"))
        self.assertEqual((result["model"], result["res_id"], result["rule"]),
                         ("res.partner", produced.id, "contact"))
        # the earlier mail stays where it was
        self.assertEqual((first.qualified_model, first.qualified_res_id), ("crm.lead", lead.id))

    def test_two_contacts_first_created_then_the_next_when_deleted(self):
        second = self.contact("Jane (second)")
        first = self.contact("Jane (first)")  # a higher id, but created earlier:
        self.set_create_date(first, "2020-01-01")
        self.set_create_date(second, "2021-01-01")
        result = self.qualify(self.mail(subject="one"))
        self.assertEqual((result["res_id"], result["rule"]), (first.id, "contact"))
        first.unlink()
        result = self.qualify(self.mail(subject="two"))
        self.assertEqual((result["res_id"], result["rule"]), (second.id, "contact"))

    def test_same_creation_date_lowest_id_wins(self):
        one, two = self.contact("One"), self.contact("Two")
        self.set_create_date(one, "2020-01-01")
        self.set_create_date(two, "2020-01-01")
        self.assertEqual(self.qualify(self.mail())["res_id"], min(one, two).id)

    def test_archived_records_count_as_deleted(self):
        lead = self.lead()
        contact = self.contact()
        lead.action_archive()
        first = self.mail(subject="lead archived")
        result = self.qualify(first)
        self.assertEqual((result["model"], result["res_id"]), ("res.partner", contact.id))
        contact.action_archive()
        result = self.qualify(self.mail(subject="both archived"))
        self.assertTrue(result["created"])
        self.assertNotIn(result["res_id"], (lead.id, contact.id))
        self.assertEqual(first.qualified_res_id, contact.id, "earlier mail stays")
        self.assertEqual(len(self.entries(contact)), 1)

    def test_lead_the_user_cannot_read_does_not_win(self):
        hidden = self.env["crm.lead"].create({
            "name": "Someone else's deal", "email_from": "jane@example.com",
            "user_id": self.other_user.id, "type": "opportunity",
        })
        self.assertFalse(hidden.with_user(self.user).has_access("read"))
        contact = self.contact()
        result = self.qualify(self.mail())
        self.assertEqual((result["model"], result["res_id"]), ("res.partner", contact.id))
        self.assertFalse(self.entries(hidden))

    def test_lead_of_another_company_does_not_count(self):
        company = self.env["res.company"].create({"name": "Other company"})
        self.env["crm.lead"].create({"name": "Elsewhere", "email_from": "jane@example.com",
                                     "company_id": company.id, "user_id": False})
        result = self.qualify(self.mail())
        self.assertEqual((result["model"], result["rule"]), ("res.partner", "create_contact"))

    def test_matching_ignores_case_and_display_name(self):
        contact = self.contact(email="JANE@Example.COM")
        result = self.qualify(self.mail(sender='"DOE, Jane" <Jane@EXAMPLE.com>'))
        self.assertEqual((result["model"], result["res_id"]), ("res.partner", contact.id))

    def test_mail_the_user_sent_goes_by_its_recipient(self):
        contact = self.contact()
        message = self.mail(sender=f"Wendy <{self.account.email}>", to=JANE)
        result = self.qualify(message)
        self.assertEqual((result["model"], result["res_id"]), ("res.partner", contact.id))
        self.assertEqual(self.entries(contact).author_id, self.user.partner_id)
        self.assertFalse(self.entries(self.user.partner_id))


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyLogging(QualifyCase, TransactionCase):
    """What "attach" means: once, as an email, with its attachments, notifying nobody."""

    def test_qualifying_twice_logs_once(self):
        contact = self.contact()
        message = self.mail(message_id="<twice@example.com>")
        first = self.qualify(message)
        when = message.qualified_at
        second = self.qualify(message)
        self.assertTrue(second["already_qualified"])
        self.assertFalse(second["logged"])
        self.assertEqual((second["model"], second["res_id"]), (first["model"], first["res_id"]))
        self.assertEqual(message.qualified_at, when)
        # the same mail in another folder (a copy): qualified, but not logged a second time
        (copy,) = self.deliver(raw_mail("Hello", sender=JANE, message_id="<twice@example.com>"),
                               folder="Trash")
        result = self.qualify(copy)
        self.assertEqual((result["res_id"], result["logged"]), (contact.id, False))
        self.assertEqual(len(self.entries(contact)), 1)

    def test_attachments_are_carried(self):
        contact = self.contact("Carol Diaz", "carol@example.com")
        message = self.deliver(samples.with_attachments())[0]
        self.qualify(message)
        entry = self.entries(contact)
        self.assertEqual(sorted(entry.attachment_ids.mapped("name")),
                         ["chiffres-été.csv", "report-q1.pdf"])
        self.assertEqual(set(entry.attachment_ids.mapped("res_model")), {"res.partner"})
        self.assertEqual(set(entry.attachment_ids.mapped("res_id")), {contact.id})
        pdf = entry.attachment_ids.filtered(lambda a: a.name == "report-q1.pdf")
        self.assertEqual(pdf.raw, samples.pdf_document())
        self.assertEqual(len(message.sudo().attachment_ids), 2,
                         "the webmail copies stay with the mail")

    def test_inline_images_point_at_the_copies(self):
        contact = self.contact("Example News", "news@example.org")
        message = self.deliver(samples.html_with_inline_image())[0]
        self.qualify(message)
        entry = self.entries(contact)
        (image,) = entry.attachment_ids
        self.assertEqual(image.mimetype, "image/png")
        self.assertIn(f"/web/image/{image.id}?access_token={image.access_token}", entry.body)
        self.assertNotIn("/vt_webmail/part/", entry.body)

    def test_no_follower_is_notified(self):
        contact = self.contact()
        contact.sudo().message_subscribe(partner_ids=self.other_user.partner_id.ids)
        self.other_user.notification_type = "email"
        lead = self.lead()
        lead.sudo().message_subscribe(partner_ids=self.other_user.partner_id.ids)
        mails_before = self.env["mail.mail"].sudo().search_count([])
        followers_before = (set(lead.message_partner_ids.ids),
                            set(contact.message_partner_ids.ids))
        result = self.qualify(self.mail())
        entry = self.env["mail.message"].sudo().search([
            ("model", "=", result["model"]), ("res_id", "=", result["res_id"]),
            ("message_type", "=", "email")])
        self.assertEqual(len(entry), 1)
        self.env.flush_all()
        self.assertEqual(self.env["mail.mail"].sudo().search_count([]), mails_before,
                         "no outgoing mail is queued")
        self.assertFalse(self.env["mail.notification"].sudo().search(
            [("mail_message_id", "=", entry.id)]))
        self.assertFalse(entry.partner_ids)
        self.assertEqual((set(lead.message_partner_ids.ids),
                          set(contact.message_partner_ids.ids)), followers_before,
                         "nobody is subscribed by qualifying")

    def test_only_the_owner_qualifies(self):
        message = self.mail()
        with self.assertRaises(AccessError):
            message.with_user(self.other_user).action_qualify()
        with self.assertRaises(AccessError):
            message.with_user(self.other_user).action_open_qualify()
        self.assertFalse(message.qualified_model)

    def test_body_unreadable_is_reported_and_others_go_on(self):
        self.contact()
        ok, broken = self.deliver(raw_mail("fine", sender=JANE), raw_mail("lost", sender=JANE))
        # fetched (and kept) before the server goes away
        ok.action_fetch_body()
        self.assertTrue(ok.body_html)
        self.imap_server.stop()
        self.addCleanup(self.imap_server.start)
        with mute_logger("odoo.addons.vt_webmail.models.vt_webmail_message_imap"):
            first, second = (ok | broken).action_qualify()
        self.assertFalse(first["error"])
        self.assertEqual(first["model"], "res.partner")
        self.assertIn("could not be read from the server", second["error"])
        self.assertFalse(broken.qualified_model)

    def test_user_without_contact_creation_right_gets_a_plain_refusal(self):
        plain = new_test_user(self.env, login="plain_qualifier", groups="base.group_user")
        account = self.make_account(user=plain, login=self.other_mailbox_login)
        self.imap_server.append(self.other_mailbox_login, "INBOX", raw_mail("x", sender=JANE))
        account.action_refresh()
        message = self.messages(account).with_user(plain)
        (result,) = message.action_qualify()
        self.assertIn("Contact Creation", result["error"])
        self.assertFalse(message.qualified_model)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyPreview(QualifyCase, TransactionCase):
    """The preview (one mail), the bulk report, and the reply suggestion."""

    def test_preview_names_the_rule_and_the_alternatives(self):
        contact = self.contact()
        lead = self.lead()
        message = self.mail()
        preview = self.open_preview(message)
        self.assertEqual(preview.explanation,
                         "Lead 'ACME deal' wins over contact 'Jane Doe', which has the same "
                         "address.")
        self.assertEqual(preview.choice_ids.mapped("kind"),
                         ["rules", "candidate", "create_lead", "other"])
        self.assertEqual(preview.choice_ids.mapped("label"), [
            "Lead 'ACME deal' (the rules' choice)", "Contact 'Jane Doe'",
            "Create a lead instead: 'Hello'", "Another record..."])
        self.assertEqual(preview.choice_id, preview.choice_ids[0])
        self.assertEqual((preview.choice_ids[0].res_model, preview.choice_ids[0].res_id),
                         ("crm.lead", lead.id))
        self.assertFalse(message.qualified_model, "a preview changes nothing")
        action = preview.action_confirm()
        self.assertEqual(action["params"]["next"], {"type": "ir.actions.act_window_close"})
        self.assertEqual((message.qualified_model, message.qualified_res_id,
                          message.qualified_rule), ("crm.lead", lead.id, "lead_over_contact"))
        self.assertFalse(self.entries(contact))

    def test_preview_pick_another_record(self):
        contact = self.contact()
        self.lead()
        message = self.mail()
        preview = self.open_preview(message)
        preview.choice_id = preview.choice_ids.filtered(lambda c: c.kind == "candidate")
        preview.action_confirm()
        self.assertEqual((message.qualified_model, message.qualified_res_id,
                          message.qualified_rule), ("res.partner", contact.id, "chosen"))
        self.assertEqual(len(self.entries(contact)), 1)

    def test_preview_create_a_lead_instead(self):
        self.contact()
        message = self.mail(subject="Quote for 40 chairs")
        preview = self.open_preview(message)
        self.assertIn("Contact 'Jane Doe' has the address jane@example.com",
                      preview.explanation)
        preview.choice_id = preview.choice_ids.filtered(lambda c: c.kind == "create_lead")
        preview.action_confirm()
        lead = self.env["crm.lead"].browse(message.qualified_res_id)
        self.assertEqual((message.qualified_model, message.qualified_rule),
                         ("crm.lead", "create_lead"))
        self.assertEqual((lead.name, lead.email_from, lead.contact_name, lead.user_id),
                         ("Quote for 40 chairs", "jane@example.com", "Jane Doe", self.user))
        self.assertEqual(len(self.entries(lead)), 1)

    def test_preview_unknown_sender_proposes_a_new_contact(self):
        message = self.mail(sender="Nina New <nina@example.net>")
        preview = self.open_preview(message)
        self.assertIn("a new contact 'Nina New' will be created", preview.explanation)
        self.assertEqual(preview.choice_ids.mapped("kind"),
                         ["create_contact", "create_lead", "other"])
        preview.action_confirm()
        partner = self.env["res.partner"].browse(message.qualified_res_id)
        self.assertEqual((partner.name, partner.email), ("Nina New", "nina@example.net"))

    def test_bulk_reports_what_went_where(self):
        lead = self.lead()
        contact = self.contact("Bob Stone", "bob@example.org")
        to_lead, to_contact, to_new = self.deliver(
            raw_mail("for the lead", sender=JANE),
            raw_mail("for the contact", sender="Bob Stone <bob@example.org>"),
            raw_mail("for a new one", sender="Nina New <nina@example.net>"),
        )
        self.qualify(to_contact)  # already qualified: stays
        messages = to_lead | to_contact | to_new
        preview = self.open_preview(messages)
        self.assertEqual(preview.mode, "bulk")
        self.assertEqual(preview.line_ids.mapped("state"), ["pending", "already", "pending"])
        self.assertEqual(preview.line_ids[0].proposal, "Lead 'ACME deal'")
        self.assertEqual(preview.line_ids[2].proposal, "New contact 'Nina New'")
        action = preview.action_confirm()
        self.assertEqual(action["res_id"], preview.id, "the report is the same window")
        self.assertEqual(preview.state, "done")
        self.assertEqual(preview.line_ids.mapped("state"), ["done", "already", "done"])
        self.assertEqual(preview.summary,
                         "2 qualified, 1 already qualified, 0 not qualified.")
        new_partner = self.env["res.partner"].browse(to_new.qualified_res_id)
        self.assertEqual(preview.line_ids.mapped("result"), [
            "Lead ACME deal", "Contact Bob Stone", "Contact Nina New"])
        self.assertEqual(preview.line_ids.mapped("result_reference"),
                         [lead, contact, new_partner])
        self.assertEqual(preview.line_ids.mapped("created"), [False, False, True])
        self.assertEqual([len(self.entries(r)) for r in (lead, contact, new_partner)],
                         [1, 1, 1])

    def test_buttons_in_the_mail_form_and_list(self):
        Message = self.env["vt_webmail.message"].with_user(self.user)
        views = Message.get_views([(False, "form"), (False, "list")])["views"]
        for view_type in ("form", "list"):
            self.assertIn('name="action_open_qualify"', views[view_type]["arch"])
        self.assertIn('name="qualified_reference"', views["form"]["arch"])

    def test_reply_proposes_the_record_of_the_thread_first(self):
        deal = self.lead("Chairs deal", email="buyer@example.com")
        bob = self.contact("Bob Stone", "bob@example.org")
        original = self.mail(sender="Buyer <buyer@example.com>", subject="Chairs",
                             message_id="<chairs-1@example.com>")
        self.qualify(original)
        self.assertEqual(original.qualified_res_id, deal.id)
        # Bob answers in the same thread: by the rules alone, his own contact would win
        reply = self.mail(sender="Bob Stone <bob@example.org>", subject="Re: Chairs",
                          extra_headers="In-Reply-To: <chairs-1@example.com>\r\n"
                                        "References: <chairs-1@example.com>\r\n")
        preview = self.open_preview(reply)
        self.assertEqual(preview.choice_ids.mapped("kind")[:2], ["thread", "rules"])
        self.assertEqual(preview.choice_id.kind, "thread")
        self.assertIn("This mail answers 'Chairs', which was qualified on Lead 'Chairs deal'.",
                      preview.explanation)
        self.assertIn("By the rules alone: Contact 'Bob Stone' has the address",
                      preview.explanation)
        preview.action_confirm()
        self.assertEqual((reply.qualified_model, reply.qualified_res_id, reply.qualified_rule),
                         ("crm.lead", deal.id, "thread"))
        # the rules alone (bulk, API) still go by the address
        later = self.mail(sender="Bob Stone <bob@example.org>", subject="Re: Chairs (2)",
                          extra_headers="In-Reply-To: <chairs-1@example.com>\r\n")
        self.assertEqual(self.qualify(later)["res_id"], bob.id)

    def test_reply_to_a_mail_logged_by_odoo_itself(self):
        deal = self.lead("Desk deal", email="buyer@example.com")
        posted = deal.message_post(body="Our offer", message_type="comment", subject="Offer",
                                   subtype_xmlid="mail.mt_note")
        reply = self.mail(sender="Other <other@example.net>", subject="Re: Offer",
                          extra_headers=f"In-Reply-To: {posted.message_id}\r\n")
        preview = self.open_preview(reply)
        self.assertEqual(preview.choice_id.kind, "thread")
        self.assertEqual((preview.choice_id.res_model, preview.choice_id.res_id),
                         ("crm.lead", deal.id))

    def test_reply_suggestion_ignores_a_record_now_hidden(self):
        deal = self.lead("Chairs deal", email="buyer@example.com")
        original = self.mail(sender="Buyer <buyer@example.com>",
                             message_id="<chairs-2@example.com>")
        self.qualify(original)
        deal.sudo().user_id = self.other_user
        reply = self.mail(sender="Buyer <buyer@example.com>", subject="Re: Hello",
                          extra_headers="In-Reply-To: <chairs-2@example.com>\r\n")
        preview = self.open_preview(reply)
        self.assertNotIn("thread", preview.choice_ids.mapped("kind"))
        self.assertEqual(original.qualified_record_name,
                         "a record that was deleted or that you cannot see")

    def test_preview_of_a_mail_qualified_already(self):
        contact = self.contact()
        message = self.mail()
        self.qualify(message)
        preview = self.open_preview(message)
        self.assertIn("Already qualified on Contact Jane Doe", preview.current_placement)
        action = preview.action_confirm()
        self.assertIn("nothing changed", action["params"]["message"])
        self.assertEqual(len(self.entries(contact)), 1)

    def test_preview_works_with_the_server_down(self):
        # the preview never fetches the body
        self.contact()
        message = self.mail()
        self.imap_server.stop()
        self.addCleanup(self.imap_server.start)
        preview = self.open_preview(message)
        self.assertTrue(preview.choice_ids)
        self.assertEqual(message.body_state, "none")


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyReply(QualifyCase, TransactionCase):
    """A reply to a qualified mail, written in the compose window and sent for real."""

    with_smtp = True

    def test_compose_says_where_the_original_went_and_the_sent_reply_follows(self):
        self.account.write(self.smtp_values())
        deal = self.lead("Chairs deal", email="buyer@example.com")
        self.contact("Buyer (contact)", "buyer@example.com")
        original = self.mail(sender="Buyer <buyer@example.com>", subject="Chairs",
                             message_id="<chairs-3@example.com>")
        self.qualify(original)

        action = original.action_reply()
        compose = self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])
        self.assertEqual(compose.qualify_suggestion_reference, deal)
        self.assertEqual(compose.qualify_suggestion_note,
                         "The mail you answer was qualified on Lead 'Chairs deal': when you "
                         "qualify your reply (in Sent) or the answer to it, that record is "
                         "proposed first.")
        views = compose.get_views([(False, "form")])["views"]
        self.assertIn('name="qualify_suggestion_note"', views["form"]["arch"])
        compose.action_send()
        self.smtp.wait_for(1)

        self.account.action_refresh()
        (sent,) = self.messages(self.account, "Sent").with_user(self.user)
        self.assertEqual(sent.in_reply_to, "<chairs-3@example.com>")
        preview = self.open_preview(sent)
        self.assertEqual(preview.choice_id.kind, "thread")
        self.assertEqual((preview.choice_id.res_model, preview.choice_id.res_id),
                         ("crm.lead", deal.id))
        self.assertIn("This mail answers 'Chairs', which was qualified on Lead 'Chairs deal'. "
                      "The rules agree.", preview.explanation)
        preview.action_confirm()
        self.assertEqual((sent.qualified_model, sent.qualified_res_id, sent.qualified_rule),
                         ("crm.lead", deal.id, "thread"))
        entry = sent.qualified_mail_message_id
        self.assertEqual(entry.author_id, self.user.partner_id, "the user sent it")
        self.assertEqual(len(self.entries(deal)), 2)

    def test_compose_without_a_qualified_original_says_nothing(self):
        original = self.mail()
        action = original.action_reply()
        compose = self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])
        self.assertFalse(compose.qualify_suggestion_note)
        self.assertFalse(compose.qualify_suggestion_reference)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify", "vt_webmail_tours")
class TestQualifyTour(QualifyCase, HttpCase):
    """Qualify in Chromium (static/tests/tours/vt_webmail_qualify_tour.js)."""

    def test_preview_then_bulk_in_the_browser(self):
        lead = self.lead()
        jane = self.contact()
        bob = self.contact("Bob Stone", "bob@example.org")
        question, invoice, hello = self.deliver(
            raw_mail("Question about the deal", sender=JANE),
            raw_mail("Invoice from Bob", sender="Bob Stone <bob@example.org>"),
            raw_mail("Hello from Nina", sender="Nina New <nina@example.net>"),
        )
        self.start_tour("/odoo", "vt_webmail_qualify_tour", login=self.user.login)
        self.assertEqual((question.qualified_model, question.qualified_res_id,
                          question.qualified_rule), ("res.partner", jane.id, "chosen"))
        self.assertFalse(self.entries(lead))
        self.assertEqual(invoice.qualified_res_id, bob.id)
        nina = self.env["res.partner"].browse(hello.qualified_res_id)
        self.assertEqual(nina.email, "nina@example.net")
