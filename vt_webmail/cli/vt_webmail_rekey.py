"""``odoo-bin --addons-path=... vt_webmail_rekey -c odoo.conf -d DATABASE``: re-encrypt every
stored mail password and OAuth token with the first configured key (README, "Rotating the
key"). Odoo finds an addon's command only when ``--addons-path=`` comes first, before the
command's name.

The file is named after the command, and imports the addon absolutely: Odoo 19 requires a
command's name to equal its module's name, and loads ``<addon>/cli/<command>.py`` on its own as
``odoo.cli.<command>``, outside the addon's package (Odoo 18 imports the whole addon)."""

# A command run in a terminal: it talks to its user on standard output, as Odoo's own do.
# pylint: disable=print-used

import argparse
import sys

from odoo.api import SUPERUSER_ID, Environment
from odoo.cli import Command
from odoo.modules.registry import Registry
from odoo.tools import config

# absolute: Odoo 19 loads this file as odoo.cli.vt_webmail_rekey (module docstring)
from odoo.addons.vt_webmail import compat  # pylint: disable=odoo-addons-relative-import
from odoo.addons.vt_webmail.tools import secret_box  # pylint: disable=odoo-addons-relative-import


class VtWebmailRekey(Command):
    """Re-encrypt vt_webmail's stored passwords and tokens with the first key"""

    name = "vt_webmail_rekey"

    def run(self, args):
        parser = argparse.ArgumentParser(
            prog=f"odoo-bin --addons-path=... {self.name}",
            description="Re-encrypt every mail password and OAuth token of vt_webmail with the "
                        "first key of vt_webmail_secret_key (configuration file) or of the "
                        "system parameter vt_webmail.secret_key. Safe while Odoo runs; "
                        "resumable: run it again after an interruption. The usual Odoo "
                        "options (-c, -d, --db_host...) follow.")
        parser.add_argument("--new-parameter-key", action="store_true",
                            help="without keys in the configuration file: first add a new "
                                 "random key in front of vt_webmail.secret_key")
        parser.add_argument("--drop-old-parameter-keys", action="store_true",
                            help="afterwards, when every secret was re-encrypted, keep only "
                                 "the first key of vt_webmail.secret_key")
        parser.add_argument("--batch", type=int, default=secret_box.REKEY_BATCH,
                            help="rows per transaction (default %(default)s)")
        own, odoo_args = parser.parse_known_args(args)
        config.parse_config(odoo_args, setup_logging=True)
        databases = compat.config_databases(config)
        if len(databases) != 1:
            sys.exit(f"{self.name}: give one database with -d")
        registry = Registry(databases[0])
        with registry.cursor() as cr:
            env = Environment(cr, SUPERUSER_ID, {})
            columns = {env["vt_webmail.account"]._table:
                       env["vt_webmail.account"]._secret_columns()}
            if own.new_parameter_key:
                try:
                    count = secret_box.add_parameter_key(env)
                except ValueError as exc:
                    sys.exit(f"{self.name}: {exc}")
                print(f"{self.name}: a new key is first of {secret_box.PARAMETER} "
                      f"({count} keys)")
        totals = secret_box.reencrypt_all(registry, columns, batch=max(own.batch, 1),
                                          log=lambda line: print(f"{self.name}: {line}"))
        print(f"{self.name}: done: {totals['rewritten']} re-encrypted, {totals['current']} "
              f"already with the first key, {totals['unreadable']} unreadable (no configured "
              f"key opens them: their accounts ask for the password again)")
        if own.drop_old_parameter_keys:
            if totals["unreadable"]:
                sys.exit(f"{self.name}: old keys kept: {totals['unreadable']} secrets are "
                         "unreadable")
            with registry.cursor() as cr:
                secret_box.drop_old_parameter_keys(Environment(cr, SUPERUSER_ID, {}))
            print(f"{self.name}: only the first key of {secret_box.PARAMETER} is kept")
        sys.exit(1 if totals["unreadable"] else 0)
