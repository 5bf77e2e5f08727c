"""The Outbox: Undo send (nothing reaches the SMTP server before the delay ends, Undo brings
the mail back into the composer), scheduled send (the scheduled action sends what is due),
a failed send kept as a draft, a mail interrupted while sending, attachments over the
account's limit. Real Dovecot, real aiosmtpd. (A restart of Odoo between scheduling and
sending: tests/processes/test_outbox_restart.py.)"""

import base64
import datetime

from markupsafe import Markup

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools import mute_logger

from ..core.mime import parse_message
from ..models.vt_webmail_outbox import STUCK_AFTER
from ..testing import samples
from .common import WebmailCase, on_every_imap_server
from .test_compose import received_message


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_compose")
class TestComposeOutbox(WebmailCase, TransactionCase):

    with_smtp = True

    def setUp(self):
        super().setUp()
        self.user.vt_webmail_undo_delay = 0

    def make_sender(self, **values):
        account = self.make_account(**dict(self.smtp_values(), **values)).with_user(self.user)
        self.assertFalse(account.action_refresh()["error"])
        return account

    def compose(self, account, **values):
        action = account.action_compose()
        wizard = self.env["vt_webmail.compose"].with_user(self.user).browse(action["res_id"])
        wizard.write(dict({"email_to": "alice@example.org", "subject": "Outbox",
                           "body_html": "<p>Waiting text</p>"}, **values))
        return wizard

    def outbox(self):
        return self.env["vt_webmail.outbox"].with_user(self.user).search([])

    def attach(self, wizard, name, data):
        attachment = self.env["ir.attachment"].with_user(self.user).create({
            "name": name, "raw": data, "res_model": "vt_webmail.compose", "res_id": wizard.id})
        wizard.attachment_ids = [Command.link(attachment.id)]

    def test_undo_within_the_delay_sends_nothing_and_reopens_the_composer(self):
        account = self.make_sender()
        self.user.vt_webmail_undo_delay = 10
        wizard = self.compose(account, email_bcc="hidden@example.net")
        self.attach(wizard, "plan.txt", b"the plan")
        action = wizard.action_send()
        self.assertEqual((action["res_model"], action["target"]), ("vt_webmail.outbox", "new"))
        outbox = self.outbox()
        self.assertEqual(outbox.id, action["res_id"])
        self.assertEqual((outbox.state, outbox.is_undo), ("queued", True))
        self.assertAlmostEqual(outbox.seconds_left, 10, delta=3)
        self.assertFalse(wizard.exists())
        self.assertEqual(self.smtp.messages, [])

        back = outbox.action_undo()
        self.assertEqual((back["res_model"], back["target"]), ("vt_webmail.compose", "new"))
        reopened = self.env["vt_webmail.compose"].with_user(self.user).browse(back["res_id"])
        self.assertEqual((reopened.email_to, reopened.email_bcc, reopened.subject),
                         ("alice@example.org", "hidden@example.net", "Outbox"))
        self.assertIn("Waiting text", reopened.body_html)
        self.assertEqual([(a.name, a.raw) for a in reopened.attachment_ids],
                         [("plan.txt", b"the plan")])
        self.assertFalse(outbox.exists())
        # the scheduled action, even once the delay is over, has nothing to send
        self.env["vt_webmail.outbox"]._cron_send_due()
        self.assertEqual(self.smtp.messages, [])

        # sent again from the composer, now without a delay
        self.user.vt_webmail_undo_delay = 0
        reopened.action_send()
        [received] = self.smtp.wait_for(1)
        self.assertEqual(parse_message(received.data).attachments[0].data, b"the plan")

    def test_countdown_end_sends_once(self):
        account = self.make_sender()
        self.user.vt_webmail_undo_delay = 5
        wizard = self.compose(account)
        # a picture pasted in the editor: an attachment of the window, shown by its URL
        picture = self.env["ir.attachment"].with_user(self.user).create({
            "name": "pasted.png", "raw": samples.png_image(), "mimetype": "image/png",
            "res_model": "vt_webmail.compose", "res_id": wizard.id})
        wizard.body_html = Markup(f'<p>Waiting text</p><img src="/web/image/{picture.id}">')
        outbox = self.env["vt_webmail.outbox"].with_user(self.user).browse(
            wizard.action_send()["res_id"])
        self.assertEqual((picture.res_model, picture.res_id), ("vt_webmail.outbox", outbox.id))
        result = outbox.action_send_now()
        self.assertEqual(result["params"]["type"], "success")
        [received] = self.smtp.wait_for(1)
        self.assertEqual(received_message(received)["Subject"], "Outbox")
        self.assertEqual(outbox.state, "sent")
        self.assertEqual(outbox.message_id, received_message(received)["Message-ID"])
        [inline] = [a for a in parse_message(received.data).attachments if a.inline]
        self.assertEqual(inline.data, samples.png_image())
        self.assertFalse(outbox.attachment_ids)
        self.assertFalse(picture.exists())
        # the browser and the scheduled action both trying: still one mail
        self.assertEqual(outbox.action_send_now()["params"]["type"], "info")
        self.env["vt_webmail.outbox"]._cron_send_due()
        self.assertEqual(len(self.smtp.messages), 1)
        with self.assertRaises(UserError):
            outbox.action_undo()  # too late
        self.assertEqual(len(self.server_messages("Sent")), 1)

    def test_scheduled_send_waits_for_its_time(self):
        account = self.make_sender()
        wizard = self.compose(account)
        wizard.scheduled_at = fields.Datetime.now() - datetime.timedelta(minutes=1)
        with self.assertRaises(UserError):
            wizard.action_schedule()
        wizard.scheduled_at = fields.Datetime.now() + datetime.timedelta(hours=2)
        self.assertEqual(wizard.action_schedule()["params"]["title"], "Mail scheduled")
        outbox = self.outbox()
        self.assertEqual((outbox.state, outbox.is_undo), ("queued", False))
        self.env["vt_webmail.outbox"]._cron_send_due()
        self.assertEqual(self.smtp.messages, [])  # not yet
        outbox.sudo().send_at = fields.Datetime.now() - datetime.timedelta(seconds=1)
        self.env["vt_webmail.outbox"]._cron_send_due()
        [received] = self.smtp.wait_for(1)
        self.assertEqual(received.rcpt_tos, ["alice@example.org"])
        self.assertEqual(outbox.state, "sent")
        # the Outbox menu lists what is not sent yet
        action = self.env.ref("vt_webmail.vt_webmail_outbox_action")
        self.assertIn("search_default_unsent", action.context)

    def test_send_mail_send_at_over_rpc(self):
        account = self.make_sender()
        later = fields.Datetime.to_string(fields.Datetime.now() + datetime.timedelta(days=1))
        result = account.send_mail("bob@example.org", "Tomorrow", "<p>Later</p>",
                                   attachments=[["a.txt", base64.b64encode(b"A").decode()]],
                                   send_at=later)
        self.assertEqual(result["message_id"], False)
        outbox = self.env["vt_webmail.outbox"].with_user(self.user).browse(result["outbox_id"])
        self.assertEqual((outbox.state, fields.Datetime.to_string(outbox.send_at)),
                         ("queued", later))
        self.assertEqual(outbox.attachment_ids.mapped("name"), ["a.txt"])
        with self.assertRaises(UserError):
            account.send_mail("bob@example.org", "x", "x", send_at="tomorrow")
        with self.assertRaises(UserError):  # checked now, not when due
            account.send_mail("not an address", "x", "x", send_at=later)
        self.assertEqual(len(self.outbox()), 1)
        self.assertEqual(self.smtp.messages, [])

    def test_a_failed_send_is_kept_as_a_draft(self):
        account = self.make_sender(smtp_password="wrong")
        self.user.vt_webmail_undo_delay = 3
        outbox = self.env["vt_webmail.outbox"].with_user(self.user).browse(
            self.compose(account).action_send()["res_id"])
        with mute_logger("odoo.addons.vt_webmail.models.vt_webmail_outbox"):
            result = outbox.action_send_now()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("rejected the user name or password", result["params"]["message"])
        self.assertEqual(outbox.state, "failed")
        self.assertIn("A copy was saved in your Drafts folder.", outbox.error)
        [(uid, (flags, raw))] = self.server_messages("Drafts").items()
        self.assertIn("\\Draft", flags)
        self.assertIn(b"Waiting text", raw)
        self.assertEqual(self.smtp.messages, [])
        # Edit: back in the composer, which knows the draft (sending it will remove it)
        back = outbox.action_undo()
        reopened = self.env["vt_webmail.compose"].with_user(self.user).browse(back["res_id"])
        self.assertEqual(reopened.draft_uid, uid)

    def test_interrupted_sending_is_marked_failed_not_sent_again(self):
        account = self.make_sender()
        self.user.vt_webmail_undo_delay = 1
        outbox = self.env["vt_webmail.outbox"].with_user(self.user).browse(
            self.compose(account).action_send()["res_id"]).sudo()
        outbox.write({"state": "sending"})
        outbox.flush_recordset()
        self.env.cr.execute("UPDATE vt_webmail_outbox SET write_date = %s WHERE id = %s",
                            (fields.Datetime.now() - STUCK_AFTER - datetime.timedelta(minutes=1),
                             outbox.id))
        outbox.invalidate_recordset()
        self.env["vt_webmail.outbox"]._cron_send_due()
        self.assertEqual(outbox.state, "failed")
        self.assertIn("check your Sent folder", outbox.error)
        self.assertEqual(self.smtp.messages, [])

    def test_bad_input_is_refused_before_the_outbox(self):
        account = self.make_sender(max_message_size=1)
        self.user.vt_webmail_undo_delay = 10
        for to in ("not an address", "a@example.org\r\nBcc: x@example.net", ""):
            with self.subTest(to=to), self.assertRaises(UserError):
                self.compose(account, email_to=to).action_send()
        wizard = self.compose(account)
        self.attach(wizard, "big.bin", b"x" * (900 * 1024))
        with self.assertRaises(UserError) as caught:
            wizard.action_send()
        self.assertIn("0.9 MB", caught.exception.args[0])
        self.assertIn("above the 1 MB", caught.exception.args[0])
        self.user.vt_webmail_undo_delay = 0
        with self.assertRaises(UserError):
            wizard.action_send()
        self.assertFalse(self.outbox())
        self.assertEqual(self.smtp.messages, [])
        with self.assertRaises(ValidationError):
            self.user.vt_webmail_undo_delay = 31

    def test_only_the_owner_acts_on_an_outbox_mail(self):
        account = self.make_sender()
        self.user.vt_webmail_undo_delay = 10
        outbox = self.env["vt_webmail.outbox"].browse(
            self.compose(account).action_send()["res_id"])
        for method in ("action_send_now", "action_undo"):
            with self.subTest(method=method), self.assertRaises(AccessError):
                getattr(outbox.with_user(self.other_user), method)()
        with self.assertRaises(AccessError):
            outbox.with_user(self.user).write({"state": "sent"})
        self.assertEqual(outbox.state, "queued")
        self.assertEqual(self.smtp.messages, [])

    def test_refused_recipients_are_named_and_nothing_is_sent(self):
        account = self.make_sender()
        self.smtp.refused = {"nobody@example.org"}
        self.addCleanup(setattr, self.smtp, "refused", set())
        wizard = self.compose(account, email_to="alice@example.org, Nobody <nobody@example.org>")
        message = wizard.action_send()["params"]["message"]
        self.assertIn("refused the recipients: nobody@example.org (550", message)
        self.assertNotIn("alice@example.org", message)
        self.assertIn("Your message is still here", message)
        self.assertEqual(self.smtp.messages, [])
        self.assertEqual(self.server_messages("Sent"), {})
        self.assertEqual(len(self.server_messages("Drafts")), 1)
        # from the Outbox: failed, kept as a draft
        self.user.vt_webmail_undo_delay = 2
        outbox = self.env["vt_webmail.outbox"].with_user(self.user).browse(
            wizard.action_send()["res_id"])
        with mute_logger("odoo.addons.vt_webmail.models.vt_webmail_outbox"):
            outbox.action_send_now()
        self.assertEqual(outbox.state, "failed")
        self.assertIn("nobody@example.org", outbox.error)
        # the Outbox keeps the draft it came from: still one copy
        self.assertEqual(len(self.server_messages("Drafts")), 1)
        self.assertEqual(self.smtp.messages, [])


# the same tests against Cyrus IMAP and Courier-IMAP
TestComposeOutboxCyrus, TestComposeOutboxCourier = on_every_imap_server(TestComposeOutbox)
