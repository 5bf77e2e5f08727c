from odoo import models

from .. import compat


class ResGroups(models.Model):
    _inherit = "res.groups"

    def _vt_webmail_file_under(self, category_xmlid, privilege_xmlid):
        """Show these groups in the user form's section of ``category_xmlid``; called by the
        XML data (security/vt_webmail_groups.xml), the way the running Odoo files groups
        (:func:`compat.file_groups_under`)."""
        compat.file_groups_under(self, self.env.ref(category_xmlid), privilege_xmlid)
