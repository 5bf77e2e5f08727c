"""What the module puts in the database and on Odoo's command line, the same on Odoo 18 and 19.

The table constraints are declared once (``compat.Constraint``): Odoo 18 creates them from
``_sql_constraints``, Odoo 19 from ``models.Constraint`` (it ignores ``_sql_constraints``, with a
warning, and would silently create nothing). These tests read them back from PostgreSQL's
catalog, under the names both versions give them, and see PostgreSQL enforce them.
"""

import pathlib
import subprocess
import sys

from psycopg2 import IntegrityError

import odoo
from odoo.tests import tagged
from odoo.tests.common import TransactionCase
from odoo.tools import config, mute_logger

#: table -> constraint name -> (PostgreSQL's contype: c for CHECK, u for UNIQUE, its columns)
CONSTRAINTS = {
    "vt_webmail_account": {
        "vt_webmail_account_refresh_interval_min": ("c", {"refresh_interval"}),
        "vt_webmail_account_emails_per_page_range": ("c", {"emails_per_page"}),
        "vt_webmail_account_imap_port_range": ("c", {"imap_port"}),
    },
    "vt_webmail_folder": {
        "vt_webmail_folder_account_name_unique": ("u", {"account_id", "name"}),
    },
    "vt_webmail_message": {
        "vt_webmail_message_folder_uid_unique": ("u", {"folder_id", "uidvalidity", "uid"}),
    },
    "vt_webmail_conversation": {
        "vt_webmail_conversation_account_key_unique": ("u", {"account_id", "key"}),
    },
    "vt_webmail_trusted_sender": {
        "vt_webmail_trusted_sender_user_email_unique": ("u", {"user_id", "email"}),
    },
}


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_schema")
class TestSchema(TransactionCase):

    def test_constraints_exist_in_postgresql(self):
        self.env.cr.execute("""
            SELECT rel.relname, con.conname, con.contype,
                   ARRAY(SELECT att.attname FROM pg_attribute att
                          WHERE att.attrelid = con.conrelid AND att.attnum = ANY(con.conkey))
              FROM pg_constraint con
              JOIN pg_class rel ON rel.oid = con.conrelid
             WHERE rel.relname IN %s AND con.contype IN ('c', 'u')
        """, [tuple(CONSTRAINTS)])
        found = {}
        for table, name, kind, columns in self.env.cr.fetchall():
            found.setdefault(table, {})[name] = (kind, set(columns))
        for table, constraints in CONSTRAINTS.items():
            for name, expected in constraints.items():
                with self.subTest(constraint=name):
                    self.assertEqual(found.get(table, {}).get(name), expected)

    def test_one_row_per_folder_uidvalidity_and_uid(self):
        account = self.env["vt_webmail.account"].create({
            "email": "w@example.com", "imap_host": "imap.example.com", "login": "w"})
        folder = self.env["vt_webmail.folder"].create({"account_id": account.id,
                                                       "name": "INBOX", "role": "inbox"})
        values = {"folder_id": folder.id, "account_id": account.id,
                  "user_id": account.user_id.id, "uidvalidity": 7,
                  "uid": 42, "subject": "once"}
        self.env["vt_webmail.message"].create(values)
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), \
                self.cr.savepoint():
            self.env["vt_webmail.message"].create(values)
        # another UIDVALIDITY is another message
        self.env["vt_webmail.message"].create(dict(values, uidvalidity=8))
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), \
                self.cr.savepoint():
            self.env["vt_webmail.folder"].create({"account_id": account.id, "name": "INBOX"})
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), \
                self.cr.savepoint():
            account.imap_port = 70000

    def test_the_rekey_command_is_found(self):
        # Odoo 19 loads <addon>/cli/<command>.py by the command's name, outside the addon
        # beside the odoo package (a namespace package on Odoo 19: no __file__)
        odoo_bin = next(path for path in (pathlib.Path(entry).resolve().parent / "odoo-bin"
                                          for entry in odoo.__path__) if path.is_file())
        addons_path = config["addons_path"]  # a string in Odoo 18, a list in Odoo 19
        if not isinstance(addons_path, str):
            addons_path = ",".join(addons_path)
        done = subprocess.run(
            [sys.executable, str(odoo_bin), f"--addons-path={addons_path}",
             "vt_webmail_rekey", "--help"],
            capture_output=True, text=True, timeout=120, check=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("--new-parameter-key", done.stdout)
