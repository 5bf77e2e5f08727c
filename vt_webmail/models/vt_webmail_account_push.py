"""Push (IMAP IDLE) on the account: the changes push workers must hear of, the sync of one
folder they run, and the in-server start (``service/push.py`` is the worker itself)."""

import logging

from odoo import api, models
from odoo.exceptions import UserError

from ..core import exceptions as core_errors
from ..core.sync import sync_folder
from ..service import push as push_service
from ..tools.sync_store import OdooSyncStore, commit
from .vt_webmail_account_sync import SYNC_LOCK_CLASS

_logger = logging.getLogger(__name__)

#: Fields whose change a push worker must hear of at once (connection settings, archiving,
#: ownership); bookkeeping (last refresh, errors) is not among them.
PUSH_FIELDS = frozenset({
    "active", "user_id", "imap_host", "imap_port", "security", "login", "password",
    "verify_certificate", "ca_certificate", "auth_method", "oauth_identity", "needs_sign_in",
})


# One job per file (the project's convention): push here, OAuth in its own file.
class VtWebmailAccount(models.Model):
    _inherit = "vt_webmail.account"  # pylint: disable=consider-merging-classes-inherited

    @api.model_create_multi
    def create(self, vals_list):
        accounts = super().create(vals_list)
        self._push_notify()
        return accounts

    def write(self, vals):
        result = super().write(vals)
        if PUSH_FIELDS & set(vals):
            self._push_notify()
        return result

    def unlink(self):
        result = super().unlink()
        self._push_notify()
        return result

    def _register_hook(self):
        result = super()._register_hook()
        # a threaded server starts its push at once (see service/push.py for when it may)
        try:
            push_service.ensure_in_server(self.env.cr.dbname)
        except Exception:
            # never let push keep the server from starting
            _logger.exception("vt_webmail push: could not start in this server")
        return result

    @api.model
    def _cron_push_keepalive(self):
        """Scheduled action (every minute): with ``vt_webmail_push = True`` in the
        configuration file, start the push thread in the process that runs scheduled actions
        if it is not running there (the multi-process server's cron workers come and go)."""
        push_service.ensure_in_server(self.env.cr.dbname)

    def _push_notify(self):
        # NOTIFY is transactional: the push workers hear it when this transaction commits,
        # and not at all if it rolls back
        self.env.cr.execute("SELECT pg_notify(%s, %s)", (push_service.CHANNEL, "accounts"))

    def _push_sync(self, folder_name):
        """Bring one folder up to date now: what a push worker runs when the server says the
        folder changed (and once when it starts watching).

        Runs as superuser on the worker's own cursor, which it commits (like a refresh), under
        the account's refresh lock; the owner's open Webmail is told of what changed. A folder
        not cached yet (a new account, a renamed inbox) makes it a full refresh.

        :returns: the counts dict of :meth:`action_refresh` for this account
        """
        self.ensure_one()
        # a session of its own, never a pooled one (see vt_webmail_account_imap._imap_borrow)
        return self.with_context(vt_webmail_imap_pool=False)._push_sync_folder(folder_name)

    def _push_sync_folder(self, folder_name):
        outcome = {"new": 0, "changed": 0, "removed": 0, "running": False, "error": False}
        cr = self.env.cr
        try:
            settings = self._imap_settings()
        except (core_errors.WebmailError, UserError) as exc:
            outcome["error"] = self._error_message(exc) \
                if isinstance(exc, core_errors.WebmailError) else exc.args[0]
            self.write({"last_error": outcome["error"]})
            commit(cr)
            return outcome
        cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
        if not cr.fetchone()[0]:
            outcome["running"] = True
            return outcome
        try:
            folder = self.folder_ids.filtered(lambda f: f.name == folder_name)
            if not folder:
                outcome.update(self._refresh_locked(settings, list_folders=True))
                return outcome
            if not folder.is_synced:
                return outcome
            try:
                with self._imap_sync_session(settings) as session:
                    store = OdooSyncStore(folder)
                    result = sync_folder(session, folder.name, folder._sync_state(), store)
                    self._after_sync()
            except core_errors.FolderNotFound:
                outcome.update(self._refresh_locked(settings, list_folders=True))
                return outcome
            except core_errors.WebmailError as exc:
                cr.rollback()
                outcome["error"] = self._error_message(exc)
                _logger.info("Webmail push sync of account %s stopped: %s", self.id, exc)
                self.write({"last_error": outcome["error"]})
                commit(cr)
                return outcome
            outcome.update(new=result.new, changed=result.changed, removed=result.removed)
            if store.threading_deferred:
                # its mails joined the account's threading backlog (vt_webmail_account_sync.py)
                self.env.ref("vt_webmail.ir_cron_thread_backlog")._trigger()
            if result.new or result.changed or result.removed:
                self.user_id._bus_send("vt_webmail.refreshed", {
                    "account_id": self.id, "new": result.new, "changed": result.changed,
                    "removed": result.removed, "folder": folder.name, "push": True,
                })
            commit(cr)
            return outcome
        except Exception:
            cr.rollback()  # the unlock below needs a usable transaction
            raise
        finally:
            cr.execute("SELECT pg_advisory_unlock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
