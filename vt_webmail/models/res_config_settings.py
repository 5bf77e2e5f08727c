from odoo import Command, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import config

from ..core import net_policy
from .vt_webmail_account import ALLOWED_HOSTS_OPTION, ALLOWED_HOSTS_PARAMETER
from .vt_webmail_message_qualify import OFFERED_MODELS_PARAMETER, PUBLIC_DOMAINS_PARAMETER


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
    vt_webmail_qualify_model_ids = fields.Many2many(
        "ir.model", "vt_webmail_settings_qualify_model_rel", "settings_id", "model_id",
        string="Qualify on", domain=[("is_mail_thread", "=", True), ("transient", "=", False)],
        help="The kinds of records a mail may be logged on by choice in Qualify (records with "
             "a chatter). Leads and contacts are always possible: the rules choose them.")
    vt_webmail_public_mail_domains = fields.Char(
        string="Public mail domains", config_parameter=PUBLIC_DOMAINS_PARAMETER,
        help="Mail domains shared by unrelated people (comma-separated), besides the large "
             "providers Webmail knows (gmail.com...): Qualify offers no company for them.")

    vt_webmail_signature_html = fields.Html(
        related="company_id.vt_webmail_signature_html", readonly=False)

    @api.model
    def get_values(self):
        values = super().get_values()
        names = self.env["vt_webmail.message"]._qualify_offered_models()
        models_ = self.env["ir.model"].search([("model", "in", names)])
        values["vt_webmail_qualify_model_ids"] = [Command.set(models_.ids)]
        return values

    def set_values(self):
        result = super().set_values()
        for settings in self:
            chosen = settings.vt_webmail_qualify_model_ids
            wrong = chosen.filtered(lambda m: not m.is_mail_thread or m.transient)
            if wrong:
                raise ValidationError(self.env._(
                    "Mail can only be logged on records with a chatter: %s",
                    ", ".join(wrong.mapped("name"))))
            names = sorted(chosen.mapped("model"))
            if names == sorted(self.env["vt_webmail.message"]._qualify_offered_models()):
                continue  # unchanged: a default list stays the default (new apps join it)
            # an empty list offers none (not the default): leads and contacts stay, by rule
            self.env["ir.config_parameter"].sudo().set_param(
                OFFERED_MODELS_PARAMETER, ",".join(names) or ",")
        return result

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
