"""``odoo-bin --addons-path=... vt_webmail_idle -c odoo.conf -d DATABASE``: the push worker,
as a service of its own (README, "New mail in seconds: push"). Any number of them, on any
number of machines, share the accounts through PostgreSQL (``service/push.py``). Odoo finds an
addon's command only when ``--addons-path=`` comes first, before the command's name.

The file is named after the command, and imports the addon absolutely: Odoo 19 requires a
command's name to equal its module's name, and loads ``<addon>/cli/<command>.py`` on its own as
``odoo.cli.<command>``, outside the addon's package (Odoo 18 imports the whole addon)."""

import argparse
import logging
import signal
import sys

from odoo.cli import Command
from odoo.tools import config

# absolute: Odoo 19 loads this file as odoo.cli.vt_webmail_idle (module docstring)
from odoo.addons.vt_webmail import compat  # pylint: disable=odoo-addons-relative-import
from odoo.addons.vt_webmail.core import push as core_push  # pylint: disable=odoo-addons-relative-import
from odoo.addons.vt_webmail.service import push  # pylint: disable=odoo-addons-relative-import

_logger = logging.getLogger(__name__)


class VtWebmailIdle(Command):
    """Push new mail of vt_webmail's accounts within seconds (IMAP IDLE)"""

    name = "vt_webmail_idle"

    def run(self, args):
        parser = argparse.ArgumentParser(
            prog=f"odoo-bin --addons-path=... {self.name}",
            description="Watch the mail accounts of vt_webmail with IMAP IDLE and sync a "
                        "folder as soon as its server says it changed. Several workers, on "
                        "one or several machines, share the accounts (each is watched by one); "
                        "stop with SIGTERM or Ctrl-C. The usual Odoo options (-c, -d, "
                        "--db_host...) follow; the limits default to the configuration file's "
                        f"{push.OPTION_MAX_CONNECTIONS}, {push.OPTION_MAX_PER_HOST} and "
                        f"{push.OPTION_SYNC_THREADS}.")
        parser.add_argument("--max-connections", type=int, metavar="N",
                            help="accounts watched by this worker at most (default "
                                 f"{core_push.Limits.max_connections})")
        parser.add_argument("--max-per-host", type=int, metavar="N",
                            help="accounts of one IMAP server watched by this worker at most "
                                 f"(default {core_push.Limits.max_per_host})")
        parser.add_argument("--sync-threads", type=int, metavar="N",
                            help="folders synced at once (default "
                                 f"{core_push.Limits.sync_threads})")
        parser.add_argument("--rescan", type=float, default=core_push.RESCAN_EVERY,
                            metavar="SECONDS",
                            help="how often accounts freed by a stopped worker are looked for "
                                 "(default %(default)s)")
        own, odoo_args = parser.parse_known_args(args)
        config.parse_config(odoo_args, setup_logging=True)
        databases = compat.config_databases(config)
        if not databases:
            sys.exit(f"{self.name}: give the database(s) with -d")
        for value in (own.max_connections, own.max_per_host, own.sync_threads):
            if value is not None and value < 1:
                sys.exit(f"{self.name}: the limits are at least 1")
        limits = push.limits_from_config(max_connections=own.max_connections,
                                         max_per_host=own.max_per_host,
                                         sync_threads=own.sync_threads)
        files = push.raise_open_files_limit()
        if files < limits.max_connections + 100:
            _logger.warning("%s: %d open files allowed, fewer than the %d connections it may "
                            "watch: raise the limit (ulimit -n)", self.name, files,
                            limits.max_connections)
        worker = push.PushWorker(limits, rescan_every=max(own.rescan, 1.0))

        def stop(_signum, _frame):
            worker.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        _logger.info("%s: started for %s", self.name, ", ".join(databases))
        worker.run(databases)
        _logger.info("%s: stopped", self.name)
