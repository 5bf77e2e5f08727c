"""Qualify beyond vtiger (issue #15): any record, the conversation followed, attachments once,
the company of the domain, un-qualify, Qualify on a conversation, and the batch's queries.

vtiger's own cases are in test_qualify.py and do not change."""

import datetime

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase

from ..models.vt_webmail_message_qualify import (
    OFFERED_MODELS_PARAMETER,
    PUBLIC_DOMAINS_PARAMETER,
)
from ..testing import samples
from .common import raw_mail
from .test_qualify import JANE, QualifyCase

BUYER = "Buyer <buyer@example.com>"


def reply_headers(*message_ids):
    """In-Reply-To the last of ``message_ids``, References all of them."""
    return (f"In-Reply-To: {message_ids[-1]}\r\n"
            f"References: {' '.join(message_ids)}\r\n")


class BeyondCase(QualifyCase):
    def offer(self, *models):
        self.env["ir.config_parameter"].sudo().set_param(OFFERED_MODELS_PARAMETER,
                                                         ",".join(models))

    def event(self, name="Kick-off", user=None):
        start = datetime.datetime(2026, 11, 10, 9, 0)
        return self.env["calendar.event"].with_user(user or self.user).create({
            "name": name, "start": start, "stop": start + datetime.timedelta(hours=1)})

    def count_attachments(self, record):
        return self.env["ir.attachment"].sudo().search_count([
            ("res_model", "=", record._name), ("res_id", "=", record.id)])


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyAnyRecord(BeyondCase, TransactionCase):
    """A record of any model the administrator offers, picked in the preview."""

    def test_the_administrator_offers_models_with_a_chatter_only(self):
        Message = self.env["vt_webmail.message"].with_user(self.user)
        offered = [row["model"] for row in Message.qualify_models()]
        self.assertIn("crm.lead", offered)
        self.assertIn("res.partner", offered)
        self.assertNotIn("calendar.event", offered, "not offered until chosen")
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(set(settings.vt_webmail_qualify_model_ids.mapped("model")),
                         set(offered))
        event_model = self.env["ir.model"]._get("calendar.event")
        settings.vt_webmail_qualify_model_ids = [Command.set(
            [event_model.id, self.env["ir.model"]._get("crm.lead").id])]
        settings.execute()
        self.assertEqual([row["model"] for row in Message.qualify_models()],
                         ["calendar.event", "crm.lead"])
        # a model without a chatter is refused, in the settings and in the parameter
        settings = self.env["res.config.settings"].create({})
        settings.vt_webmail_qualify_model_ids = [Command.link(
            self.env["ir.model"]._get("res.country").id)]
        with self.assertRaises(ValidationError):
            settings.execute()
        self.offer("res.country", "calendar.event")
        self.assertEqual([row["model"] for row in Message.qualify_models()],
                         ["calendar.event"])

    def test_log_on_an_offered_record_from_the_preview_and_remember_it(self):
        self.offer("crm.lead", "res.partner", "calendar.event")
        lead = self.lead()
        event = self.event()
        message = self.mail(subject="About the kick-off")
        preview = self.open_preview(message)
        self.assertEqual(preview.choice_id.kind, "rules", "the rules' choice stays first")
        self.assertEqual((preview.choice_id.res_model, preview.choice_id.res_id),
                         ("crm.lead", lead.id))
        self.assertIn(("calendar.event", "Calendar Event"),
                      preview._fields["other_reference"]._description_selection(self.env))
        preview.choice_id = preview.choice_ids.filtered(lambda c: c.kind == "other")
        preview.other_reference = event
        preview.remember = True
        preview.action_confirm()
        self.assertEqual((message.qualified_model, message.qualified_res_id,
                          message.qualified_rule), ("calendar.event", event.id, "chosen"))
        self.assertEqual(len(self.entries(event)), 1)
        self.assertFalse(self.entries(lead))
        self.assertEqual(message.qualified_reference, event)
        self.assertEqual(message.qualified_record_name, "Calendar Event Kick-off")
        self.assertEqual(message.qualified_record_url, f"/odoo/calendar.event/{event.id}")

        # Jane's next mail: the rules still come first, the remembered record right after
        preview = self.open_preview(self.mail(subject="Next one"))
        self.assertEqual(preview.choice_ids.mapped("kind")[:2], ["rules", "remembered"])
        self.assertEqual(preview.choice_id.kind, "rules")
        remembered = preview.choice_ids[1]
        self.assertEqual((remembered.res_model, remembered.res_id),
                         ("calendar.event", event.id))
        self.assertEqual(remembered.label,
                         "Calendar Event 'Kick-off' (your choice for this sender last time)")
        # remembered per user: the colleague's preview of Jane's mail knows nothing of it
        memory = self.env["vt_webmail.qualify.memory"].with_user(self.other_user)
        self.assertFalse(memory.search([]))
        self.assertEqual(len(memory.with_user(self.user).search([])), 1)

    def test_a_record_the_user_may_read_but_not_write_is_refused(self):
        plain = new_test_user(self.env, login="plain_reader", groups="base.group_user",
                              email="plain@example.com")
        account = self.make_account(user=plain, login=self.other_mailbox_login)
        self.imap_server.append(self.other_mailbox_login, "INBOX", raw_mail("x", sender=JANE))
        account.action_refresh()
        message = self.messages(account).with_user(plain)
        partner = self.env["res.partner"].create({"name": "Jane Doe",
                                                  "email": "jane@example.com"})
        self.assertTrue(partner.with_user(plain).has_access("read"))
        self.assertFalse(partner.with_user(plain).has_access("write"))
        with self.assertRaisesRegex(AccessError, "You may not add to the history of Contact"):
            message.action_qualify_on("res.partner", partner.id)
        self.assertFalse(message.qualified_model)
        self.assertFalse(self.entries(partner))
        # the rules say the same: the contact is the rules' choice, and refused
        (result,) = message.action_qualify()
        self.assertIn("You may not add to the history", result["error"])

    def test_only_offered_models_and_existing_records(self):
        message = self.mail()
        with self.assertRaisesRegex(UserError, "cannot be logged on records of calendar.event"):
            message.action_qualify_on("calendar.event", self.event().id)
        with self.assertRaisesRegex(UserError, "records of res.country"):
            message.action_qualify_on("res.country", self.env.ref("base.be").id)
        with self.assertRaises(AccessError):
            message.action_qualify_on("crm.lead", 10**9)
        hidden = self.env["crm.lead"].create({"name": "Not yours", "user_id": self.other_user.id,
                                              "type": "opportunity"})
        with self.assertRaises(AccessError):
            message.action_qualify_on("crm.lead", hidden.id)
        with self.assertRaises(UserError):
            message.action_qualify_on("crm.lead", "1; DROP TABLE crm_lead")
        self.assertFalse(message.qualified_model)
        self.assertFalse(self.entries(hidden))

    def test_the_proposal_over_the_api_changes_nothing(self):
        lead = self.lead()
        message = self.mail()
        proposal = message.get_qualify_proposal()
        self.assertEqual(proposal["rule"], "lead")
        self.assertEqual(proposal["target"],
                         {"model": "crm.lead", "res_id": lead.id, "name": "ACME deal"})
        self.assertEqual(proposal["party"], {"name": "Jane Doe", "address": "jane@example.com",
                                             "basis": "sender"})
        self.assertFalse(proposal["company"])
        self.assertFalse(proposal["qualified"])
        self.assertFalse(message.qualified_model)
        self.assertEqual(message.body_state, "none", "nothing fetched")


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyFollowUp(BeyondCase, TransactionCase):
    """Later mail of a qualified conversation: logged by itself, or one click away."""

    def qualified_original(self, message_id="<deal-1@example.com>"):
        deal = self.lead("Chairs deal", email="buyer@example.com")
        original = self.mail(sender=BUYER, subject="Chairs", message_id=message_id)
        self.qualify(original)
        self.assertEqual(original.qualified_res_id, deal.id)
        return deal, original

    def test_an_incoming_reply_is_logged_when_the_account_follows(self):
        self.account.qualify_follow_up = True
        deal, _original = self.qualified_original()
        # Bob answers: by the rules alone his own contact would win
        bob = self.contact("Bob Stone", "bob@example.org")
        reply = self.mail(sender="Bob Stone <bob@example.org>", subject="Re: Chairs",
                          message_id="<deal-2@example.com>",
                          extra_headers=reply_headers("<deal-1@example.com>"))
        self.assertEqual((reply.qualified_model, reply.qualified_res_id, reply.qualified_rule),
                         ("crm.lead", deal.id, "follow_up"))
        self.assertEqual(reply.qualified_mail_message_id.author_id, bob)
        self.assertFalse(self.entries(bob))
        # a reply to the reply (In-Reply-To only) and a copy of the reply in another folder
        answer, copy = self.deliver(
            raw_mail("Re: Re: Chairs", sender=BUYER, message_id="<deal-3@example.com>",
                     extra_headers="In-Reply-To: <deal-2@example.com>\r\n"),
            raw_mail("Re: Chairs", sender="Bob Stone <bob@example.org>",
                     message_id="<deal-2@example.com>",
                     extra_headers=reply_headers("<deal-1@example.com>")))
        self.assertEqual((answer.qualified_res_id, copy.qualified_res_id), (deal.id, deal.id))
        self.assertEqual(len(self.entries(deal)), 3, "each mail once, the copy included")
        self.assertFalse(self.env["vt_webmail.message"].sudo().search(
            [("qualify_follow_up_pending", "=", True)]), "no mark left behind")
        self.account.action_refresh()
        self.assertEqual(len(self.entries(deal)), 3, "a refresh logs nothing again")

    def test_an_incoming_reply_is_proposed_with_one_click_otherwise(self):
        deal, _original = self.qualified_original()
        reply = self.mail(sender=BUYER, subject="Re: Chairs",
                          extra_headers=reply_headers("<deal-1@example.com>"))
        self.assertFalse(reply.qualified_model, "not followed: not logged")
        self.assertEqual(reply.qualify_thread_reference, deal)
        self.assertEqual(reply.qualify_thread_name, "Lead Chairs deal")
        form = reply.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="action_qualify_follow_up"', form)
        (result,) = reply.action_qualify_follow_up()
        self.assertEqual((result["model"], result["res_id"], result["rule"], result["logged"]),
                         ("crm.lead", deal.id, "thread", True))
        self.assertFalse(reply.qualify_thread_reference, "qualified: nothing to propose")
        (again,) = reply.action_qualify_follow_up()
        self.assertTrue(again["already_qualified"])
        self.assertEqual(len(self.entries(deal)), 2)
        unrelated = self.mail(subject="Something else")
        (result,) = unrelated.action_qualify_follow_up()
        self.assertIn("answers no qualified mail", result["error"])

    def test_never_on_a_record_the_user_cannot_write(self):
        self.account.qualify_follow_up = True
        deal, _original = self.qualified_original()
        deal.sudo().user_id = self.other_user  # a salesman sees his own leads only
        reply = self.mail(sender=BUYER, subject="Re: Chairs",
                          extra_headers=reply_headers("<deal-1@example.com>"))
        self.assertFalse(reply.qualified_model)
        self.assertFalse(reply.qualify_thread_reference)
        self.assertEqual(len(self.entries(deal)), 1)

    def test_nothing_is_logged_for_mail_that_answers_nothing_qualified(self):
        self.account.qualify_follow_up = True
        self.lead("Chairs deal", email="buyer@example.com")
        self.mail(sender=BUYER, subject="Chairs", message_id="<deal-9@example.com>")
        reply = self.mail(sender=BUYER, subject="Re: Chairs",
                          extra_headers=reply_headers("<deal-9@example.com>"))
        self.assertFalse(reply.qualified_model, "its original is not qualified")


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyFollowUpSent(BeyondCase, TransactionCase):
    """A reply sent from Webmail follows the mail it answers."""

    with_smtp = True

    def setUp(self):
        super().setUp()
        self.account.write(self.smtp_values())

    def send_reply(self, original):
        action = original.action_reply()
        compose = self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])
        done = compose.action_send()
        self.smtp.wait_for(1)
        (sent,) = self.messages(self.account, "Sent").with_user(self.user)
        return compose, done, sent

    def test_a_sent_reply_is_logged_when_the_account_follows(self):
        self.account.qualify_follow_up = True
        deal = self.lead("Chairs deal", email="buyer@example.com")
        original = self.mail(sender=BUYER, subject="Chairs", message_id="<sent-1@example.com>")
        self.qualify(original)
        action = original.action_reply()
        compose = self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])
        self.assertEqual(compose.qualify_suggestion_note,
                         "The mail you answer was qualified on Lead 'Chairs deal': your reply "
                         "will be logged there once it is sent.")
        done = compose.action_send()
        self.assertEqual(done["params"]["type"], "success", done["params"]["message"])
        self.smtp.wait_for(1)
        (sent,) = self.messages(self.account, "Sent").with_user(self.user)
        self.assertEqual((sent.qualified_model, sent.qualified_res_id, sent.qualified_rule),
                         ("crm.lead", deal.id, "follow_up"))
        entry = sent.qualified_mail_message_id
        self.assertEqual(entry.author_id, self.user.partner_id)
        self.assertEqual(entry.message_id, sent.message_id)
        self.assertEqual(len(self.entries(deal)), 2)
        # the next refresh sees the copy again and logs nothing more
        self.account.action_refresh()
        self.assertEqual(len(self.entries(deal)), 2)

    def test_a_sent_reply_is_left_alone_otherwise(self):
        deal = self.lead("Chairs deal", email="buyer@example.com")
        original = self.mail(sender=BUYER, subject="Chairs", message_id="<sent-2@example.com>")
        self.qualify(original)
        _compose, _done, sent = self.send_reply(original)
        self.assertFalse(sent.qualified_model)
        self.assertEqual(sent.qualify_thread_reference, deal, "one click away")
        self.assertEqual(len(self.entries(deal)), 1)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyAttachments(BeyondCase, TransactionCase):
    """A qualified mail's files are on the record once, and the mail says where."""

    def test_files_are_attached_once_and_the_mail_shows_where(self):
        carol = self.contact("Carol Diaz", "carol@example.com")
        first, second = self.deliver(
            samples.with_attachments(),
            samples.with_attachments(message_id="<attachments-2@example.com>",
                                     subject="Re: Figures for Q1"))
        self.qualify(first)
        self.assertEqual(self.count_attachments(carol), 2)
        self.assertEqual(first.qualified_attachment_count, 2)
        # the same files again, in another mail: linked to its entry, not copied again
        self.qualify(second)
        self.assertEqual(self.count_attachments(carol), 2)
        self.assertEqual(second.qualified_mail_message_id.attachment_ids,
                         first.qualified_mail_message_id.attachment_ids)
        self.assertEqual(second.qualified_attachment_count, 2)
        self.assertEqual(first.qualified_record_url, f"/odoo/res.partner/{carol.id}")
        views = first.get_views([(False, "list"), (False, "form")])["views"]
        self.assertIn('widget="vt_webmail_record_link"', views["list"]["arch"])
        self.assertIn('name="qualified_attachment_count"', views["form"]["arch"])
        self.assertIn('name="qualified_reference"', views["form"]["arch"])

    def test_the_same_file_twice_in_one_batch_is_copied_once(self):
        carol = self.contact("Carol Diaz", "carol@example.com")
        mails = self.deliver(
            samples.with_attachments(),
            samples.with_attachments(message_id="<attachments-3@example.com>"))
        (mails[0] | mails[1]).action_qualify()
        self.assertEqual(self.count_attachments(carol), 2)
        self.assertEqual(len(self.entries(carol)), 2)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyCompany(BeyondCase, TransactionCase):
    """When nothing matches the address, the company of its domain is a second choice."""

    def setUp(self):
        super().setUp()
        self.acme = self.Partner.create({"name": "ACME Corp", "is_company": True})
        for name in ("Bob", "Carol"):
            self.Partner.create({"name": name, "parent_id": self.acme.id,
                                 "email": f"{name.lower()}@acme.example"})
        other = self.Partner.create({"name": "ACME Old", "is_company": True})
        self.Partner.create({"name": "Zed", "parent_id": other.id, "email": "zed@acme.example"})

    def test_the_company_is_offered_beside_the_new_contact(self):
        message = self.mail(sender="Dave <dave@acme.example>")
        preview = self.open_preview(message)
        self.assertEqual(preview.choice_ids.mapped("kind"),
                         ["create_contact", "company", "create_lead", "other"])
        self.assertEqual(preview.choice_id.kind, "create_contact", "vtiger's default stays")
        company = preview.choice_ids.filtered(lambda c: c.kind == "company")
        self.assertEqual((company.res_model, company.res_id), ("res.partner", self.acme.id))
        self.assertEqual(company.label, "Company 'ACME Corp' (2 of its contacts you can see "
                                        "write from @acme.example.)")
        # the rules (bulk, API) create the contact, as vtiger did
        (result,) = message.action_qualify()
        self.assertEqual((result["rule"], result["created"]), ("create_contact", True))

        other = self.mail(sender="Erin <erin@acme.example>")
        preview = self.open_preview(other)
        preview.choice_id = preview.choice_ids.filtered(lambda c: c.kind == "company")
        preview.action_confirm()
        self.assertEqual((other.qualified_model, other.qualified_res_id, other.qualified_rule),
                         ("res.partner", self.acme.id, "company"))
        self.assertEqual(other.get_qualify_proposal()["company"]["res_id"], self.acme.id)

    def test_no_company_for_a_public_domain(self):
        gmail = self.Partner.create({"name": "Gmail users", "is_company": True})
        for name in ("ann", "ben"):
            self.Partner.create({"name": name, "parent_id": gmail.id,
                                 "email": f"{name}@gmail.com"})
        preview = self.open_preview(self.mail(sender="Cat <cat@gmail.com>"))
        self.assertNotIn("company", preview.choice_ids.mapped("kind"))
        # the administrator's own public domains count too
        self.env["ir.config_parameter"].sudo().set_param(PUBLIC_DOMAINS_PARAMETER,
                                                         "isp.example, acme.example")
        proposal = self.mail(sender="Dave <dave@acme.example>").get_qualify_proposal()
        self.assertFalse(proposal["company"])

    def test_no_company_when_something_matches(self):
        self.lead(email="dave@acme.example")
        preview = self.open_preview(self.mail(sender="Dave <dave@acme.example>"))
        self.assertNotIn("company", preview.choice_ids.mapped("kind"))


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestUnqualify(BeyondCase, TransactionCase):
    """Un-qualify: the entry and its files leave the record, with the user's rights."""

    def test_unqualify_removes_the_entry_and_its_files(self):
        carol = self.contact("Carol Diaz", "carol@example.com")
        message = self.deliver(samples.with_attachments())[0]
        self.qualify(message)
        self.assertEqual((len(self.entries(carol)), self.count_attachments(carol)), (1, 2))
        form = message.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="action_unqualify"', form)
        (result,) = message.action_unqualify()
        self.assertEqual(result, {"id": message.id, "model": "res.partner", "res_id": carol.id,
                                  "removed": True, "attachments_removed": 2})
        self.assertEqual((len(self.entries(carol)), self.count_attachments(carol)), (0, 0))
        self.assertFalse(message.qualified_model)
        self.assertFalse(message.qualified_mail_message_id)
        self.assertEqual(len(message.sudo().attachment_ids), 2, "the mail keeps its own files")
        # and it can be qualified again
        self.assertTrue(self.qualify(message)["logged"])
        self.assertEqual(self.count_attachments(carol), 2)

    def test_files_another_entry_shows_and_entries_qualify_did_not_make_stay(self):
        carol = self.contact("Carol Diaz", "carol@example.com")
        first, second = self.deliver(
            samples.with_attachments(),
            samples.with_attachments(message_id="<attachments-4@example.com>"))
        self.qualify(first)
        self.qualify(second)
        (result,) = first.action_unqualify()
        self.assertEqual((result["removed"], result["attachments_removed"]), (True, 0))
        self.assertEqual(self.count_attachments(carol), 2, "the second entry shows them")
        # a mail that was in the history before Qualify (received by Odoo itself)
        entry = carol.sudo()._message_create([{
            "model": "res.partner", "res_id": carol.id, "message_type": "email",
            "message_id": "<by-odoo@example.com>", "body": "<p>received by Odoo</p>",
        }])
        (third,) = self.deliver(raw_mail("x", sender="Carol <carol@example.com>",
                                         message_id="<by-odoo@example.com>"))
        self.assertFalse(self.qualify(third)["logged"])
        (result,) = third.action_unqualify()
        self.assertFalse(result["removed"])
        self.assertTrue(entry.exists())
        self.assertFalse(third.qualified_model)

    def test_unqualify_needs_the_right_to_write_the_record(self):
        deal = self.lead("Chairs deal", email="buyer@example.com")
        message = self.mail(sender=BUYER)
        self.qualify(message)
        deal.sudo().user_id = self.other_user
        with self.assertRaises(AccessError):
            message.action_unqualify()
        self.assertEqual(message.qualified_res_id, deal.id)
        self.assertEqual(len(self.entries(deal)), 1)
        with self.assertRaises(AccessError):
            message.with_user(self.other_user).action_unqualify()
        # a record deleted since: the mail is simply no longer qualified
        deal.sudo().unlink()
        (result,) = message.action_unqualify()
        self.assertFalse(result["removed"])
        self.assertFalse(message.qualified_model)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyConversation(BeyondCase, TransactionCase):
    """Qualify on a conversation: each of its mails once, on one record (issue #13)."""

    def test_each_mail_once_and_again_changes_nothing(self):
        lead = self.lead()
        me = self.account.email
        original, reply, copy = self.deliver(
            raw_mail("Plan", sender=JANE, message_id="<plan-1@example.com>"),
            raw_mail("Re: Plan", sender="Bob <bob@example.org>",
                     message_id="<plan-2@example.com>",
                     extra_headers=reply_headers("<plan-1@example.com>")),
            raw_mail("Re: Plan", sender="Bob <bob@example.org>",
                     message_id="<plan-2@example.com>",
                     extra_headers=reply_headers("<plan-1@example.com>")))
        (sent,) = self.deliver(raw_mail("Re: Plan", sender=me, to=JANE,
                                        message_id="<plan-3@example.com>",
                                        extra_headers=reply_headers("<plan-1@example.com>",
                                                                    "<plan-2@example.com>")),
                               folder="Sent")
        conversation = original.conversation_id.with_user(self.user)
        self.assertTrue(conversation)
        self.assertEqual(conversation.message_ids, original | reply | copy | sent)
        results = conversation.action_qualify()
        self.assertEqual([r["id"] for r in results][:1], [original.id], "oldest first")
        self.assertEqual({(r["model"], r["res_id"]) for r in results}, {("crm.lead", lead.id)})
        self.assertEqual(results[0]["rule"], "lead")
        self.assertEqual({r["rule"] for r in results[1:]}, {"conversation"})
        self.assertFalse(any(r["error"] for r in results))
        self.assertEqual(len(self.entries(lead)), 3, "the copy makes no second entry")
        again = conversation.action_qualify()
        self.assertTrue(all(r["already_qualified"] for r in again))
        self.assertEqual(len(self.entries(lead)), 3)
        action = conversation.action_qualify_button()
        self.assertEqual(action["params"]["message"], "0 mails logged on ACME deal.")

    def test_a_conversation_qualified_in_part_goes_where_it_was_or_where_you_say(self):
        contact = self.contact("Bob Stone", "bob@example.org")
        event = self.event()
        self.offer("calendar.event")
        original, reply = self.deliver(
            raw_mail("Plan", sender=JANE, message_id="<plan-5@example.com>"),
            raw_mail("Re: Plan", sender="Bob Stone <bob@example.org>",
                     message_id="<plan-6@example.com>",
                     extra_headers=reply_headers("<plan-5@example.com>")))
        self.qualify(reply)  # Bob's contact, by the rules
        conversation = original.conversation_id.with_user(self.user)
        results = conversation.action_qualify()
        self.assertEqual([(r["id"], r["res_id"]) for r in results],
                         [(original.id, contact.id), (reply.id, contact.id)])
        self.assertTrue(results[1]["already_qualified"])
        # another conversation, on the record given
        (other,) = self.deliver(raw_mail("Agenda", sender=JANE))
        results = other.conversation_id.with_user(self.user).action_qualify(
            res_model="calendar.event", res_id=event.id)
        self.assertEqual((results[0]["model"], results[0]["res_id"], results[0]["rule"]),
                         ("calendar.event", event.id, "conversation"))
        with self.assertRaises(AccessError):
            other.conversation_id.with_user(self.other_user).action_qualify()


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_qualify")
class TestQualifyBatch(BeyondCase, TransactionCase):
    """Bulk Qualify costs a few queries per model, not per mail."""

    def queries(self, messages):
        self.env.flush_all()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        results = messages.action_qualify()
        self.env.flush_all()
        self.assertFalse([r["error"] for r in results if r["error"]])
        return self.env.cr.sql_log_count - before

    def batch(self, count, tag):
        """``count`` mails: a third for leads, a third for contacts, a third from new senders,
        their bodies fetched (the IMAP part is not what is counted)."""
        raws = []
        for index in range(count):
            kind = index % 3
            sender = (f"Lead {tag}{index} <lead{tag}{index}@example.com>" if kind == 0 else
                      f"Contact {tag}{index} <contact{tag}{index}@example.com>" if kind == 1
                      else f"New {tag}{index} <new{tag}{index}@example.net>")
            if kind == 0:
                self.lead(f"Deal {tag}{index}", email=f"lead{tag}{index}@example.com")
            elif kind == 1:
                self.contact(f"Contact {tag}{index}", f"contact{tag}{index}@example.com")
            raws.append(raw_mail(f"Mail {tag}{index}", sender=sender))
        messages = self.env["vt_webmail.message"].with_user(self.user)
        for message in self.deliver(*raws):
            messages |= message
        messages.action_fetch_body()
        return messages

    def test_queries_do_not_grow_with_the_mails(self):
        small = self.queries(self.batch(6, "a"))
        large = self.queries(self.batch(30, "b"))
        # five times the mails, the same queries: none is made per mail
        self.assertLessEqual(large - small, 2, (small, large))

