"""Refreshing an account: the button and the API (``action_refresh``), the scheduled job, one
account's refresh on a cursor of its own under its advisory lock, the folder list, and the
bodies fetched ahead for the newest mail."""

import datetime
import logging
import time

from odoo import api, fields, models

from ..compat import cron_progress
from ..core import exceptions as core_errors
from ..core.sync import sync_folder
from ..tools.sync_store import OdooSyncStore, commit
from .vt_webmail_folder import ROLE_ORDER, SYNCED_ROLES

_logger = logging.getLogger(__name__)

#: First key of the PostgreSQL advisory lock that serialises refreshes of one account
#: (the second key is the account id). Any constant unlikely to collide will do.
SYNC_LOCK_CLASS = 0x76776D  # "vwm"
#: Folders are listed again (LIST) at most this often by scheduled refreshes.
FOLDER_LIST_MAX_AGE = datetime.timedelta(hours=1)
#: A scheduled refresh may start this much before its interval has fully elapsed, so an
#: account with a 5-minute interval is not pushed to 6 minutes by the cron's own jitter.
SCHEDULE_SLACK = datetime.timedelta(seconds=30)
#: A scheduled refresh stops after this many seconds and says what remains (Odoo runs it again
#: at once, up to 10 times per job run: a run stays under Odoo's 120 s thread time limit).
CRON_BATCH_SECONDS = 10
#: A refresh fetches the bodies of the newest mails ahead, so that opening them needs no round
#: trip: at most this many per synced folder (system parameter vt_webmail.prefetch_bodies;
#: 0: none), ...
PREFETCH_BODIES = 30
#: ... of at most this size (bytes; vt_webmail.prefetch_max_size), ...
PREFETCH_MAX_SIZE = 100 * 1024
#: ... for at most this many seconds per refresh.
PREFETCH_SECONDS = 5.0
#: The threading backlog (mails a first sync stored unthreaded) is worked off in batches of
#: this many mails, each committed, ...
THREAD_BATCH = 5000
#: ... for at most this many seconds per run of the scheduled action (Odoo runs it again at
#: once while some remains).
THREAD_SECONDS = 20


# One job per file (the project's convention): refreshing here, the IMAP server in
# vt_webmail_account_imap.py, settings in vt_webmail_account.py.
class VtWebmailAccount(models.Model):
    _inherit = "vt_webmail.account"  # pylint: disable=consider-merging-classes-inherited

    threading_pending = fields.Boolean(
        readonly=True, copy=False,
        help="Some mails are not in their conversations yet (after a first sync): the "
             "conversation list leaves this account out until they are.")

    # -- actions -------------------------------------------------------------------------------

    def action_refresh(self):
        """Refresh these accounts now (button and XML-RPC).

        :returns: ``{"new": n, "changed": n, "removed": n, "running": bool, "error": str|False}``
            summed over the accounts; ``running`` is true when a refresh of one of them was
            already under way elsewhere (this call then did nothing for it)
        """
        totals = {"new": 0, "changed": 0, "removed": 0, "running": False, "error": False}
        errors = []
        for account in self:
            outcome = account._refresh_one(list_folders=not account.folder_ids)
            for key in ("new", "changed", "removed"):
                totals[key] += outcome[key]
            totals["running"] = totals["running"] or outcome["running"]
            if outcome["error"]:
                errors.append(outcome["error"])
        totals["error"] = "\n".join(errors) or False
        return totals

    def action_refresh_folders(self):
        """List the account's folders on the server again, then refresh."""
        return self._refresh_one(list_folders=True) if len(self) == 1 else {
            account.id: account._refresh_one(list_folders=True) for account in self
        }

    # -- the scheduled job ---------------------------------------------------------------------

    @api.model
    def _cron_refresh(self):
        """Scheduled action (every minute): refresh the accounts whose interval has elapsed.

        Accounts are taken least recently refreshed first; a failing account records its
        error and the next one goes on. Each refresh takes the account's advisory lock, so a
        button click or another process running the same job at the same moment skips it,
        and checks under the lock that the account is still due, so one that another process
        refreshed since this one listed it is not refreshed twice. After
        :data:`CRON_BATCH_SECONDS` the job stops and reports what remains: Odoo runs it again
        at once, on whichever server's cron worker is free, and no run holds a worker long
        enough to be killed for it.
        """
        started = time.monotonic()
        now = fields.Datetime.now()
        # sudo: the scheduler refreshes every user's account with their own stored settings
        accounts = self.sudo().search([("active", "=", True)])
        due = accounts.filtered(
            lambda a: not a.last_attempt_at
            or a.last_attempt_at + datetime.timedelta(minutes=a.refresh_interval)
            <= now + SCHEDULE_SLACK
        ).sorted(lambda a: a.last_attempt_at or datetime.datetime.min)
        round_trips = refreshed = 0
        for done, account in enumerate(due, start=1):
            try:
                outcome = account._refresh_one(only_if_due=True)
                if not outcome.get("skipped") and not outcome["running"]:
                    refreshed += 1
                    round_trips += outcome.get("round_trips", 0)
            except Exception:
                # one broken account must never stop the others (its error is logged)
                _logger.exception("Webmail refresh of account %s failed", account.id)
            cron_progress(self.env["ir.cron"], done=done, remaining=len(due) - done)
            if time.monotonic() - started > CRON_BATCH_SECONDS:
                break
        if due:
            _logger.info("Webmail scheduled refresh: %d accounts refreshed of %d due, %d IMAP "
                         "round trips, %.1f s", refreshed, len(due), round_trips,
                         time.monotonic() - started)

    # -- conversations after a first sync ------------------------------------------------------

    @api.model
    def _cron_thread_backlog(self):
        """Put into their conversations the mails a first sync stored unthreaded, in batches of
        :data:`THREAD_BATCH`, each committed (an interruption loses nothing: the next run goes
        on from the mails still unthreaded), for at most :data:`THREAD_SECONDS`."""
        started = time.monotonic()
        self.env.cr.execute("SELECT id FROM vt_webmail_account WHERE threading_pending "
                            "ORDER BY id")
        account_ids = [row[0] for row in self.env.cr.fetchall()]
        crons = self.env["ir.cron"]
        remaining = False
        for account in self.browse(account_ids):
            if time.monotonic() - started > THREAD_SECONDS:
                remaining = True
                break
            remaining = account._thread_backlog(started + THREAD_SECONDS) or remaining
        if remaining:
            cron_progress(crons, done=1, remaining=1)
            self.env.ref("vt_webmail.ir_cron_thread_backlog")._trigger()

    def _thread_backlog(self, until):
        """Thread this account's backlog until ``until`` (``time.monotonic()``), batch by
        batch on a cursor of its own, each batch under the account's sync lock (a refresh can
        run between two batches; while it runs, it threads nothing of a backlog larger than
        ``sync_store.THREAD_AT_ONCE``). Returns whether some remains."""
        self.ensure_one()
        with self.env.registry.cursor() as cr:
            Message = self.env(cr=cr, su=True)["vt_webmail.message"]
            while time.monotonic() < until:
                cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
                if not cr.fetchone()[0]:
                    return False  # a refresh holds it: it triggers this job again when it ends
                try:
                    if not Message._thread_backlog_batch(self.id, THREAD_BATCH):
                        cr.execute("UPDATE vt_webmail_account SET threading_pending = FALSE "
                                   "WHERE id = %s", (self.id,))
                        commit(cr)
                        return False
                    commit(cr)
                finally:
                    cr.execute("SELECT pg_advisory_unlock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
            return True

    # -- one refresh ---------------------------------------------------------------------------

    def _refresh_one(self, list_folders=None, only_if_due=False):
        """Refresh one account on a cursor of its own, under its advisory lock.

        Access is checked here, with the caller's rights (only the owner, or the scheduler,
        can use the stored password); the work then runs as superuser on the new cursor, which
        commits batch by batch (see ``sync_store``). Returns the counts dict of
        :meth:`action_refresh` for this account (plus ``skipped``: ``only_if_due`` and another
        process refreshed it since it was found due; ``round_trips``: IMAP round trips).
        """
        self.ensure_one()
        outcome = {"new": 0, "changed": 0, "removed": 0, "running": False, "error": False}
        try:
            settings = self._imap_settings()
        except core_errors.WebmailError as exc:
            # no sign-in token (the provider refused or could not be reached): nothing to do
            # with the server; the account says why
            outcome["error"] = self._error_message(exc)
            # sudo: the bookkeeping fields are read-only to users; the owner was checked
            self.sudo().write({"last_error": outcome["error"],
                               "last_attempt_at": fields.Datetime.now()})
            return outcome
        # the sync cursor must see what this transaction wrote so far (same connection in tests)
        self.env.flush_all()
        with self.env.registry.cursor() as cr:
            cr.execute("SELECT pg_try_advisory_lock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
            if not cr.fetchone()[0]:
                outcome["running"] = True
                outcome["error"] = self.env._("A refresh of %s is already running.", self.email)
                return outcome
            try:
                if only_if_due and not self._still_due(cr):
                    outcome["skipped"] = True
                    return outcome
                account = self.with_env(self.env(cr=cr, su=True))
                outcome.update(account._refresh_locked(settings, list_folders))
            finally:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", (SYNC_LOCK_CLASS, self.id))
        # what the sync cursor wrote is not in this environment's cache
        self.env.invalidate_all()
        return outcome

    def _still_due(self, cr):
        """Whether the account's interval has elapsed, as the database says now (under its
        lock: a refresh that ended in another process meanwhile is seen)."""
        # the lock was taken in this transaction's first statement, whose snapshot may predate
        # the commit of the refresh that released it: a new transaction sees it
        commit(cr)
        cr.execute("SELECT active, last_attempt_at, refresh_interval FROM vt_webmail_account "
                   "WHERE id = %s", (self.id,))
        row = cr.fetchone()
        if not row or not row[0]:
            return False
        return not row[1] or row[1] + datetime.timedelta(minutes=row[2]) \
            <= fields.Datetime.now() + SCHEDULE_SLACK

    def _refresh_locked(self, settings, list_folders):
        counts = {"new": 0, "changed": 0, "removed": 0, "error": False, "round_trips": 0}
        cr = self.env.cr
        deferred = False
        try:
            with self._imap_sync_session(settings) as session:
                stale = not self.folders_listed_at or (
                    fields.Datetime.now() - self.folders_listed_at > FOLDER_LIST_MAX_AGE)
                if list_folders or (list_folders is None and stale) or not self.folder_ids:
                    self._sync_folder_list(session)
                    commit(cr)
                for folder in self.folder_ids.filtered("is_synced"):
                    store = OdooSyncStore(folder)
                    try:
                        result = sync_folder(session, folder.name, folder._sync_state(), store)
                        counts["round_trips"] += result.round_trips
                    except core_errors.FolderNotFound:
                        # deleted on the server by another client since the last LIST
                        folder.unlink()
                        commit(cr)
                        continue
                    deferred = deferred or store.threading_deferred
                    counts["new"] += result.new
                    counts["changed"] += result.changed
                    counts["removed"] += result.removed
                self._after_sync()
        except core_errors.WebmailError as exc:
            cr.rollback()
            counts["error"] = self._error_message(exc)
            _logger.info("Webmail refresh of account %s stopped: %s", self.id, exc)
        now = fields.Datetime.now()
        values = {"last_attempt_at": now, "last_error": counts["error"]}
        if not counts["error"]:
            values["last_sync_at"] = now
        self.write(values)
        cr.execute("SELECT threading_pending FROM vt_webmail_account WHERE id = %s", (self.id,))
        if deferred or cr.fetchone()[0]:
            # the conversations of a first sync: built after it, by the scheduled action
            self.env.ref("vt_webmail.ir_cron_thread_backlog")._trigger()
        if counts["new"] or counts["changed"] or counts["removed"]:
            self.user_id._bus_send("vt_webmail.refreshed", {
                "account_id": self.id,
                "new": counts["new"], "changed": counts["changed"], "removed": counts["removed"],
            })
        commit(cr)
        return counts

    def _sync_folder_list(self, session):
        """Mirror the server's folder list (LIST); INBOX and special-use folders are synced."""
        self.ensure_one()
        listed = {info.name: info for info in session.list_folders() if info.selectable}
        existing = {folder.name: folder for folder in self.folder_ids}
        for name, info in listed.items():
            values = {
                "delimiter": info.delimiter,
                "role": info.role or False,
                "sequence": ROLE_ORDER.get(info.role, 10),
            }
            if name in existing:
                folder = existing[name]
                changed = {k: v for k, v in values.items() if folder[k] != v}
                if changed:
                    folder.write(changed)
            else:
                self.env["vt_webmail.folder"].create(dict(
                    values, account_id=self.id, name=name, is_synced=info.role in SYNCED_ROLES,
                ))
        self.folder_ids.filtered(lambda f: f.name not in listed).unlink()
        self.folders_listed_at = fields.Datetime.now()

    def _after_sync(self):
        """What a refresh or a push sync does once its folders are up to date, in its IMAP
        session, on its cursor (committed after), as superuser: the small bodies of the newest
        mails are fetched ahead (:meth:`_prefetch_bodies`); Qualify then logs the follow-ups
        of qualified conversations (vt_webmail_account_qualify.py)."""
        for account in self:
            account._prefetch_bodies()

    def _prefetch_bodies(self):
        """Fetch ahead the bodies never fetched of the newest :data:`PREFETCH_BODIES` mails of
        each synced folder, those of at most :data:`PREFETCH_MAX_SIZE` bytes, for at most
        :data:`PREFETCH_SECONDS`: opening one of them is then a read of the cache (and setting
        \\Seen). Mails that were tried already (fetched, refused, or the server unreachable
        last time) are left to their opening.

        :returns: how many bodies were kept
        """
        self.ensure_one()
        count = self._int_parameter("vt_webmail.prefetch_bodies", PREFETCH_BODIES)
        max_size = self._int_parameter("vt_webmail.prefetch_max_size", PREFETCH_MAX_SIZE)
        if count <= 0 or max_size <= 0:
            return 0
        until = time.monotonic() + PREFETCH_SECONDS
        Message = self.env["vt_webmail.message"]
        todo = Message
        for folder in self.folder_ids.filtered("is_synced"):
            # the list's index gives the newest rows of a folder at once
            newest = Message.search([("folder_id", "=", folder.id)], limit=count)
            todo |= newest.filtered(lambda m: m.body_state == "none" and not m.body_notice
                                    and 0 < m.size <= max_size)
        return todo._fetch_bodies_ahead(max_size, until) if todo else 0

    def _int_parameter(self, name, default):
        # sudo: a technical setting, not a secret
        value = self.env["ir.config_parameter"].sudo().get_param(name, str(default))
        try:
            return int(value)
        except ValueError:
            return default
