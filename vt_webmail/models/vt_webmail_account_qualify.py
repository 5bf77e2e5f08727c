"""Qualify on the account: whether the conversations of qualified mail are followed, and the
follow-ups logged after a refresh or a push sync, and after a mail is sent (see
``vt_webmail_message_qualify_follow.py``)."""

import logging

from odoo import fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

#: At most this many marked mails are logged after one sync (the rest after the next one).
FOLLOW_UP_BATCH = 500


class VtWebmailAccount(models.Model):
    _inherit = "vt_webmail.account"

    qualify_follow_up = fields.Boolean(
        string="Log replies on the same record",
        help="Once a mail is qualified, log the later mails of its conversation (those that "
             "answer it, and your replies sent from Webmail) on the same record "
             "automatically. Off: their form proposes it with one click.",
    )

    def _after_sync(self):
        """After a refresh or a push sync, in its IMAP session (as superuser): the new mails
        that answer a qualified mail are logged on its record."""
        result = super()._after_sync()
        for account in self:
            account._qualify_follow_up_pending()
        return result

    def _qualify_follow_up_pending(self):
        """Log the mails of this account the sync marked (the owner's rights), at most
        :data:`FOLLOW_UP_BATCH`; their marks are cleared whether they were logged or not."""
        self.ensure_one()
        cr = self.env.cr
        Message = self.env["vt_webmail.message"]
        Message.flush_model(["qualify_follow_up_pending"])
        cr.execute(SQL(
            "SELECT id FROM vt_webmail_message WHERE account_id = %s "
            "AND qualify_follow_up_pending ORDER BY date, id LIMIT %s",
            self.id, FOLLOW_UP_BATCH))
        ids = [row[0] for row in cr.fetchall()]
        if not ids:
            return {}
        results = {}
        if self.qualify_follow_up and self.active:
            try:
                with cr.savepoint():
                    results = Message.browse(ids).with_user(self.user_id)._qualify_follow_up()
            except Exception:
                # never fail the sync for it (the mails can still be qualified by hand)
                _logger.exception("Webmail account %s: logging follow-ups failed", self.id)
        cr.execute(SQL("UPDATE vt_webmail_message SET qualify_follow_up_pending = NULL "
                       "WHERE id = ANY(%s)", ids))
        Message.browse(ids).invalidate_recordset(["qualify_follow_up_pending"])
        logged = [r for r in results.values() if not r["error"]]
        if logged:
            _logger.info("Webmail account %s: %d follow-ups logged", self.id, len(logged))
        return results

    def _log_sent_on(self, message_id, model, res_id):
        """Log the mail just sent (its copy in Sent) on the record ``model``/``res_id`` the
        sender asked for (*Log the sent mail on the record*); nothing when none was asked.

        :returns: a list of warnings for the sender (the mail is sent: this never raises)
        """
        self.ensure_one()
        if not (model and res_id and message_id):
            return []
        copies = self.env["vt_webmail.message"].search([
            ("account_id", "=", self.id), ("message_id", "=", message_id)])
        if not copies:
            return [self.env._(
                "The mail was sent, but not logged on the record: no copy of it is in Sent "
                "yet. Qualify it from the Sent folder once it is there.")]
        try:
            with self.env.cr.savepoint():
                results = copies[:1].action_qualify_on(model, res_id)
        except Exception as exc:  # the mail is sent: say why it is not logged, never raise
            _logger.info("Webmail account %s: logging %s on %s,%s failed: %s", self.id,
                         message_id, model, res_id, exc)
            return [self.env._("The mail was sent, but it could not be logged on the record: "
                               "%s", exc.args[0] if exc.args else exc)]
        return [self.env._("The mail was sent, but it was not logged on the record: %s",
                           result["error"]) for result in results if result.get("error")]

    def _qualify_after_send(self, message_id, in_reply_to=None, references=None):
        """The send pipeline's hook, called once a mail from this account was sent and its
        copy saved in Sent: a reply to a qualified mail is logged on the same record, when
        the account follows conversations (``qualify_follow_up``).

        The copy in Sent is what is logged (the mail as sent, attachments included). When no
        copy is cached yet (the server saves it, or has no UIDPLUS), the next refresh brings it
        and logs it then.

        :param message_id: the Message-Id sent
        :param in_reply_to: the In-Reply-To sent (None: not a reply)
        :param references: the References sent
        :returns: a list of warnings for the sender (the mail is sent: this never raises)
        """
        self.ensure_one()
        if not (self.qualify_follow_up and message_id and (in_reply_to or references)):
            return []
        try:
            with self.env.cr.savepoint():
                copies = self.env["vt_webmail.message"].search([
                    ("account_id", "=", self.id), ("message_id", "=", message_id),
                ])
                results = copies._qualify_follow_up() if copies else {}
                if copies:
                    self.env.cr.execute(SQL(
                        "UPDATE vt_webmail_message SET qualify_follow_up_pending = NULL "
                        "WHERE id = ANY(%s)", copies.ids))
                    copies.invalidate_recordset(["qualify_follow_up_pending"])
        except Exception:
            _logger.exception("Webmail account %s: logging the reply %s failed", self.id,
                              message_id)
            return [self.env._("The mail was sent, but it could not be logged with the mail "
                               "it answers.")]
        return [self.env._("The mail was sent, but it was not logged with the mail it "
                           "answers: %s", result["error"])
                for result in results.values() if result["error"]]
