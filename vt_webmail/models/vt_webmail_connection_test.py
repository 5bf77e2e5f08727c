import datetime

from odoo import api, fields, models
from odoo.exceptions import UserError


class VtWebmailConnectionTest(models.Model):
    """When each user ran *Test connection*: it opens a connection to a host and port of the
    user's choosing, so it is rate-limited (see ``_check_rate``). Rows older than a day go."""

    _name = "vt_webmail.connection.test"
    _description = "Webmail connection test (rate limit)"
    _log_access = False

    user_id = fields.Many2one("res.users", required=True, index=True, ondelete="cascade")
    tested_at = fields.Datetime(required=True, index=True)

    @api.model
    def _check_rate(self, per_minute):
        """Record a test by the current user, or refuse when they ran ``per_minute`` in the
        last minute.

        :raises UserError: too many tests: wait a minute
        """
        now = fields.Datetime.now()
        # sudo: the table is bookkeeping that users never read or write themselves
        tests = self.sudo()
        recent = tests.search_count([("user_id", "=", self.env.uid),
                                     ("tested_at", ">", now - datetime.timedelta(minutes=1))])
        if recent >= per_minute:
            raise UserError(self.env._(
                "You tested connections %s times in the last minute: wait a minute before the "
                "next test.", recent))
        tests.create({"user_id": self.env.uid, "tested_at": now})

    @api.autovacuum
    def _gc_old_tests(self):
        old = fields.Datetime.now() - datetime.timedelta(days=1)
        self.sudo().search([("tested_at", "<", old)]).unlink()
