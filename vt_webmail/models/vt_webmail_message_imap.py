"""A cached mail on its IMAP server: opening it (fetching the body and its parts), flags, moving,
deleting, searching the server. Each public action is one request: one login per account
(``vt_webmail.account._imap_request``)."""

import contextlib
import logging
import time

from odoo import api, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import html_sanitize

from ..compat import domain_and
from ..core import exceptions as core_errors
from ..core.html import prepare_body
from ..core.mime import merge_notes, parse_message
from ..core.search import imap_criteria
from ..core.sync import summary_from_fetch
from ..tools.sync_store import OdooSyncStore
from .vt_webmail_message import _notice_html

#: Largest message whose body is fetched for display (bytes).
MAX_BODY_FETCH = 25 * 1024 * 1024
#: A search on the server lists at most this many mails (the newest).
SERVER_SEARCH_LIMIT = 500
#: Bodies fetched ahead by a refresh are asked for this many at a time (one UID FETCH).
PREFETCH_BATCH = 10
#: ... and no longer once the session has less than this many seconds before its deadline.
PREFETCH_DEADLINE_MARGIN = 10.0

_logger = logging.getLogger(__name__)


def _frame_html(html):
    """Odoo's sanitizer over a body cleaned for the sandboxed frame (``keep_style=True``).

    Without Odoo's tag whitelist (``sanitize_tags=False``): it is what kills ``<style>``, which
    the frame keeps; lxml's cleaner under it still removes scripts, frames, plugins, forms,
    ``<meta>``, ``<link>``, every ``on*`` attribute and ``javascript:`` URL, and empties a style
    sheet with script-like content. ``class``, ``id`` and inline styles are kept as they are.
    """
    return html_sanitize(html, sanitize_tags=False, sanitize_style=False, strip_classes=False)


class VtWebmailMessage(models.Model):
    _inherit = "vt_webmail.message"

    def action_open(self, specification=None):
        """Open these mails, as the Webmail form does when it shows one (part of the XML-RPC
        API): the body and its parts are fetched if they were never fetched, and \\Seen is
        set, in one IMAP session per account. Reads (``read``, ``web_read``, ``search_read``)
        never do either: they return what is kept.

        Never raises because of the server: a mail stays readable from the cache; when its
        body could not be fetched, ``body_html`` says why (``body_notice``) and the next call
        tries again, and the flag is left for then too.

        :param specification: optional, a ``web_read`` specification: the mails are then
            read with it after they were opened, in the same request (the Webmail form
            loads a mail so)
        :returns: True, or with ``specification`` what ``web_read(specification)`` returns
        """
        self._check_owner()
        unseen = self.filtered(lambda m: not m.is_seen)
        marked = set()
        with self.env["vt_webmail.account"]._imap_request():
            # read-write at once when \Seen follows: one SELECT, not EXAMINE then SELECT;
            # an unseen mail's body fetched with BODY[] is marked read by that very FETCH
            unreachable = self._fetch_bodies(writable=bool(unseen), marked=marked)
            unseen = unseen.filtered(lambda m: m.account_id not in unreachable)
            by_fetch = unseen.filtered(lambda m: m.id in marked)
            by_fetch._flag_in_cache("is_seen", True)
            try:
                (unseen - by_fetch)._set_flag("\\Seen", True)
            except UserError:
                # the mail stays readable from the cache when the server is unreachable
                _logger.info("Could not mark messages %s read on the server", unseen.ids)
        return self._opened(specification)

    def action_fetch_body(self, specification=None):
        """Fetch the bodies and parts of these mails if they were never fetched, with
        BODY.PEEK (flags untouched), in one IMAP session per account (part of the XML-RPC API;
        Qualify and replies use it too). Never raises because of the server: see
        :meth:`action_open`.

        :param specification: optional, as for :meth:`action_open`
        :returns: True, or with ``specification`` what ``web_read(specification)`` returns
        """
        self._check_owner()
        with self.env["vt_webmail.account"]._imap_request():
            self._fetch_bodies()
        return self._opened(specification)

    def _opened(self, specification):
        """What :meth:`action_open` and :meth:`action_fetch_body` return."""
        if specification is None:
            return True
        if not isinstance(specification, dict):
            raise UserError(self.env._("The specification must be a dictionary of fields."))
        return self.web_read(specification)

    def action_mark_read(self):
        """Set \\Seen on the server and in the cache."""
        self._set_flag("\\Seen", True)
        return True

    def action_mark_unread(self):
        self._set_flag("\\Seen", False)
        return True

    def action_flag(self):
        self._set_flag("\\Flagged", True)
        return True

    def action_unflag(self):
        self._set_flag("\\Flagged", False)
        return True

    def action_move(self, folder_id):
        """Move these messages to another folder of the same account.

        :param folder_id: id of a ``vt_webmail.folder`` of the messages' account
        """
        self._check_owner()
        destination = self.env["vt_webmail.folder"].browse(int(folder_id)).exists()
        destination.check_access("read")
        if not destination or set(self.account_id.ids) != set(destination.account_id.ids):
            raise UserError(self.env._("Mail can only be moved to a folder of its own account."))
        moving = self.filtered(lambda m: m.folder_id != destination)
        with self.env["vt_webmail.account"]._imap_request():
            for (account, folder), messages in moving._by_folder().items():
                with self._imap_errors(account), account._imap_connect() as session:
                    session.ensure_selected(folder.name, readonly=False)
                    session.move(messages.mapped("uid"), destination.name)
        moving._forget()
        return True

    def action_delete(self):
        """Delete these messages: to the account's Trash, or for good when they are in the
        Trash already or the account has none (\\Deleted, then EXPUNGE)."""
        self._check_owner()
        with self.env["vt_webmail.account"]._imap_request():
            for (account, folder), messages in self._by_folder().items():
                trash = account.folder_ids.filtered(lambda f: f.role == "trash")[:1]
                with self._imap_errors(account), account._imap_connect() as session:
                    session.ensure_selected(folder.name, readonly=False)
                    if trash and folder != trash:
                        session.move(messages.mapped("uid"), trash.name)
                    else:
                        session.delete(messages.mapped("uid"))
        self._forget()
        return True

    def action_open_move_wizard(self):
        """The "Move to" dialog for these messages."""
        self._check_owner()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Move to"),
            "res_model": "vt_webmail.message.move",
            "view_mode": "form",
            "views": [[False, "form"]],
            "target": "new",
            "context": {"default_message_ids": self.ids},
        }

    @api.model
    def action_search_server(self, domain=None):
        """Run a search of the Webmail list on the mail server (IMAP SEARCH).

        The cache knows only the headers of the synced folders; the server also searches
        bodies (the "Text" field becomes ``TEXT``) and folders that are not synced. Mails found
        there and missing from the cache are added to it (their headers only).

        :param domain: the list's domain. Its ``folder_id`` condition names the folder (else
            the inbox of the account in the domain or the context, else of the default
            account); subject, addresses, text, read/flagged/answered and date conditions
            become IMAP SEARCH keys (``core/search.py``); what the server cannot test exactly
            is applied to the cache afterwards
        :returns: a window action listing what was found (at most the newest
            :data:`SERVER_SEARCH_LIMIT`), or a notification when nothing was
        """
        domain = list(domain or [])
        folder = self._server_search_folder(domain)
        account = folder.account_id
        try:
            criteria, residual = imap_criteria(domain)
        except ValueError as exc:
            raise UserError(self.env._("This search cannot be run on the server: %s", exc))
        with self._imap_errors(account), account._imap_connect() as session:
            info = session.select(folder.name, readonly=True)
            if folder.uidvalidity and folder.uidvalidity != info.uidvalidity:
                raise UserError(self.env._(
                    "The folder %s was renumbered on the server: click Check now, then search "
                    "again.", folder.display_name))
            uids = session.search(criteria or ["ALL"])[-SERVER_SEARCH_LIMIT:]
            cached = set(self.sudo().search([
                ("folder_id", "=", folder.id), ("uidvalidity", "=", info.uidvalidity),
                ("uid", "in", uids),
            ]).mapped("uid")) if uids else set()
            missing = [uid for uid in uids if uid not in cached]
            if missing:
                fetched = session.fetch_summaries(missing)
                summaries = [summary_from_fetch(uid, fetched[uid])
                             for uid in missing if uid in fetched]
                if summaries:
                    # sudo: the owner's folder (checked above) gets the headers of their mail
                    OdooSyncStore(folder.sudo(), own_cursor=False).add(
                        folder.name, info.uidvalidity, summaries)
        found = self.search(domain_and([
            [("folder_id", "=", folder.id), ("uidvalidity", "=", info.uidvalidity),
             ("uid", "in", uids or [0])],
            residual,
        ])) if uids else self.browse()
        if not found:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": self.env._("Search on the server"),
                    "message": self.env._("Nothing found in %s on the server either.",
                                          folder.display_name),
                    "type": "info",
                    "found": 0,
                },
            }
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Found on the server in %s", folder.display_name),
            "res_model": self._name,
            "view_mode": "list,form",
            "views": [[self.env.ref("vt_webmail.vt_webmail_message_view_list").id, "list"],
                      [self.env.ref("vt_webmail.vt_webmail_message_view_form").id, "form"]],
            "domain": [("id", "in", found.ids)],
            "context": {
                "vt_webmail_mark_read": True,
                "vt_webmail_account_id": account.id,
                "vt_webmail_server_search": True,
            },
            "limit": account.emails_per_page,
            "found": len(found),
        }

    @api.model
    def _server_search_folder(self, domain):
        """The folder a server search runs in (see :meth:`action_search_server`)."""
        Folder = self.env["vt_webmail.folder"]
        folder_ids, account_ids = [], []
        for leaf in domain:
            if not isinstance(leaf, (list, tuple)) or len(leaf) != 3:
                continue
            name, operator, value = leaf
            values = value if isinstance(value, (list, tuple)) else [value]
            if operator not in ("=", "in") or not all(isinstance(v, int) for v in values):
                continue
            if name == "folder_id":
                folder_ids += values
            elif name == "account_id":
                account_ids += values
        if folder_ids:
            folder = Folder.browse(folder_ids[0]).exists()
        else:
            account_id = (account_ids or [self.env.context.get("vt_webmail_account_id")])[0]
            Account = self.env["vt_webmail.account"]
            account = Account.browse(int(account_id)).exists() if account_id else \
                Account.search([("user_id", "=", self.env.user.id), ("is_default", "=", True)],
                               limit=1)
            folder = account.folder_ids.filtered(lambda f: f.role == "inbox")[:1] \
                if account and account.user_id == self.env.user else Folder
        if not folder:
            raise UserError(self.env._("Choose a folder of one of your mail accounts first."))
        folder.check_access("read")
        if folder.user_id != self.env.user:
            raise AccessError(self.env._("You can only search your own mail."))
        return folder

    @contextlib.contextmanager
    def _imap_errors(self, account):
        """Turn engine errors into a UserError the user can read."""
        try:
            yield
        except core_errors.WebmailError as exc:
            raise UserError(account._error_message(exc)) from exc

    def _set_flag(self, flag, value):
        """Add or remove one IMAP flag on the server, then in the cache (a keyword the
        cache does not keep, such as ``$Forwarded``, on the server only)."""
        self._check_owner()
        field_name = {"\\Seen": "is_seen", "\\Flagged": "is_flagged",
                      "\\Answered": "is_answered"}.get(flag)
        todo = self.filtered(lambda m: m[field_name] != value) if field_name else self
        with self.env["vt_webmail.account"]._imap_request():
            for (account, folder), messages in todo._by_folder().items():
                with self._imap_errors(account), account._imap_connect() as session:
                    session.ensure_selected(folder.name, readonly=False)
                    session.set_flags(messages.mapped("uid"), [flag], add=value)
        if field_name:
            todo._flag_in_cache(field_name, value)

    def _flag_in_cache(self, field_name, value):
        """Write a flag the server has now (``is_seen``, ``is_flagged``, ``is_answered``)
        into the cache of these mails, whose owner was checked, and the unread counts."""
        # sudo: users have no write access to the cache itself
        self.sudo().write({field_name: value})
        if field_name == "is_seen":
            # the unread counts follow by difference: a recount reads the whole folder
            changes = {}
            for message in self:
                unread = changes.get(message.folder_id.id, (0, 0))[1]
                changes[message.folder_id.id] = (0, unread + (-1 if value else 1))
            self.env["vt_webmail.folder"].sudo()._adjust_counts(changes)

    def _fetch_bodies(self, writable=False, marked=None):
        """Fetch, parse and keep the bodies of these messages that were never fetched
        (BODY.PEEK: flags untouched), in the request's IMAP session of each account (see
        ``vt_webmail.account._imap_request``); never raises because of the server.

        A message that cannot be shown for good (gone from the server, too large) keeps a
        short notice as its body with ``body_state = 'error'``; when the server cannot be
        reached or refuses the login, ``body_notice`` says so and the next call tries again.

        :param writable: select the folders read-write (a flag is set next, in the same
            session); else read-only, unless the session has them read-write already
        :param marked: a set, with ``writable``: the unseen mails whose size is known are
            fetched with BODY[], which sets \\Seen on the server (RFC 3501 6.4.5), and their
            ids are added to it (the cache is not changed: the caller does it)
        :returns: the accounts whose server could not be reached (a recordset)
        """
        unreachable = self.env["vt_webmail.account"]
        # the caller could read these messages (record rules): the cache may be filled as sudo
        messages = self.sudo().filtered(lambda m: m.body_state == "none")
        for account in messages.account_id:
            mine = messages.filtered(lambda m, account=account: m.account_id == account)
            try:
                with account._imap_connect() as session:
                    for folder in mine.folder_id:
                        session.ensure_selected(folder.name, readonly=not writable)
                        for message in mine.filtered(lambda m, f=folder: m.folder_id == f):
                            mark = writable and marked is not None and not message.is_seen
                            if message._fetch_one_body(session, peek=not mark) and mark:
                                marked.add(message.id)
            except (core_errors.WebmailError, UserError) as exc:
                notice = account._error_message(exc) \
                    if isinstance(exc, core_errors.WebmailError) else str(exc)
                mine.filtered(lambda m: m.body_state == "none").write(
                    {"body_notice": notice[:500]})
                unreachable |= account
        return unreachable.with_env(self.env)

    def _fetch_bodies_ahead(self, max_size, until):
        """Fetch the bodies of these small mails of one account ahead of their opening (a
        refresh does, see ``vt_webmail.account._prefetch_bodies``): in the request's session,
        :data:`PREFETCH_BATCH` mails per UID FETCH, until ``until`` (``time.monotonic()``) or
        the session's deadline draws near. A server error stops it quietly: opening a mail
        fetches what is missing.

        :returns: how many bodies were kept
        """
        account = self.account_id.ensure_one()
        kept = 0
        try:
            with account._imap_connect() as session:
                for folder in self.folder_id:
                    mine = self.filtered(lambda m, f=folder: m.folder_id == f)
                    session.ensure_selected(folder.name)
                    for start in range(0, len(mine), PREFETCH_BATCH):
                        if time.monotonic() > until \
                                or session.time_left() < PREFETCH_DEADLINE_MARGIN:
                            return kept
                        batch = mine[start:start + PREFETCH_BATCH]
                        raws = session.fetch_messages(batch.mapped("uid"), max_size)
                        for message in batch.filtered(lambda m, raws=raws: m.uid in raws):
                            message._store_parsed_body(raws[message.uid])
                            kept += 1
        except core_errors.WebmailError as exc:
            _logger.info("Webmail account %s: bodies fetched ahead stopped after %d: %s",
                         account.id, kept, exc)
        return kept

    def _fetch_one_body(self, session, peek=True):
        """Fetch, parse and keep this mail's body.

        :param peek: False to fetch it with BODY[] (\\Seen set by the server) when its size
            is known; BODY.PEEK[] otherwise
        :returns: True when it was fetched with BODY[]
        """
        self.ensure_one()
        seen = False
        try:
            if 0 < self.size <= MAX_BODY_FETCH:
                # the size the sync kept: one round trip, not a FETCH of the size first (the
                # limit still holds: a larger body is refused as it arrives)
                raw = session.fetch_messages([self.uid], MAX_BODY_FETCH, peek=peek) \
                    .get(self.uid)
                if raw is None:
                    raise core_errors.MessageGone(f"UID {self.uid}", host=session.host)
                seen = not peek
            else:
                raw = session.fetch_message(self.uid, max_size=MAX_BODY_FETCH)
        except (core_errors.MessageGone, core_errors.MessageTooLarge) as exc:
            self._store_body_error(self.account_id._error_message(exc))
            return False
        self._store_parsed_body(raw)
        return seen

    def _store_parsed_body(self, raw):
        """Parse ``raw``, keep its attachments and its sanitized body."""
        parsed = parse_message(raw)
        Attachment = self.env["ir.attachment"].sudo()
        self.attachment_ids.sudo().unlink()
        cid_urls = {}
        for part in parsed.attachments:
            attachment = Attachment.create({
                "name": part.filename or self.env._("attachment"),
                "mimetype": part.content_type,
                "raw": part.data,
                "res_model": self._name,
                "res_id": self.id,
            })
            if part.content_id:
                cid_urls[part.content_id] = f"/vt_webmail/part/{self.id}/{attachment.id}"
        # a text mail's HTML is written here: a standards-mode document, which the form's
        # frame can be given inline (body_frame_document); a sender's HTML keeps its mode
        source = f"<!DOCTYPE html>{parsed.html}" if parsed.html_from_text else parsed.html
        prepared = prepare_body(source, cid_urls, allow_remote_images=False, keep_style=True)
        body = _frame_html(prepared.html)
        body_remote = False
        if prepared.has_remote_images:
            # the same body with its remote images, for "Show images" and trusted senders;
            # Odoo's sanitizer has the last word on this one too
            allowed = prepare_body(source, cid_urls, allow_remote_images=True,
                                   keep_style=True)
            body_remote = _frame_html(allowed.html)
        notes = merge_notes(self.parse_note, *parsed.notes)
        self.sudo().write({
            "body_cache": body,
            "body_cache_remote": body_remote,
            "body_state": "done",
            "body_notice": False,
            "has_remote_images": prepared.has_remote_images,
            "parse_note": notes[:500] or False,
        })

    def _store_body_error(self, notice):
        self.sudo().write({
            "body_cache": _notice_html(notice),
            "body_state": "error",
            "body_notice": False,
        })
