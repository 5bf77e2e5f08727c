"""Contacts: trigram indexes on their name and address, for the composer's recipient
suggestions (``vt_webmail.compose.search_recipients``: ``ilike '%term%'`` on both), which
otherwise read every contact at each key stroke."""

from odoo import models
from odoo.tools import SQL

#: ``(index name, column)`` of the indexes made (once; dropped with the module's tables only by
#: hand: they are on Odoo's table)
PARTNER_INDEXES = (("res_partner_vt_webmail_name_trgm", "name"),
                   ("res_partner_vt_webmail_email_trgm", "email"))


class ResPartner(models.Model):
    _inherit = "res.partner"

    def init(self):
        result = super().init()
        cr = self.env.cr
        Message = self.env["vt_webmail.message"]
        for index, column in PARTNER_INDEXES:
            cr.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [index])
            if cr.fetchone() or not Message._ensure_extension("pg_trgm"):
                continue
            cr.execute(SQL("CREATE INDEX %s ON res_partner USING gin (%s gin_trgm_ops)",
                           SQL.identifier(index),
                           Message._trigram_column(column)))
        return result
