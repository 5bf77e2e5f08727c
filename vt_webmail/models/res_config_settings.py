from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import config

from ..core import net_policy
from .vt_webmail_account import ALLOWED_HOSTS_OPTION, ALLOWED_HOSTS_PARAMETER


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    vt_webmail_allowed_hosts = fields.Char(
        string="Allowed mail servers", config_parameter=ALLOWED_HOSTS_PARAMETER,
        help="Where users' mail accounts may connect (IMAP, SMTP, OAuth endpoints): host "
             "names (*.example.com), IP addresses or networks (10.0.0.0/8), each with an "
             "optional :port, comma-separated; 'public' adds the default. Empty: any public "
             "address on the usual mail ports (143, 993, 25, 465, 587; 443 for OAuth), "
             "nothing on this server or the private network.")
    vt_webmail_allowed_hosts_in_config = fields.Char(
        string="Set in the configuration file", compute="_compute_allowed_hosts_in_config")

    def _compute_allowed_hosts_in_config(self):
        for settings in self:
            settings.vt_webmail_allowed_hosts_in_config = config.get(ALLOWED_HOSTS_OPTION) or False

    @api.constrains("vt_webmail_allowed_hosts")
    def _check_vt_webmail_allowed_hosts(self):
        for settings in self:
            try:
                net_policy.parse(settings.vt_webmail_allowed_hosts)
            except ValueError as exc:
                raise ValidationError(self.env._("Allowed mail servers: %s", exc))
