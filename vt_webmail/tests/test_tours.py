"""Webmail in Chromium: reading, showing images, marking unread, new mail arriving by itself.

The tours are in ``static/tests/tours/vt_webmail_read_tour.js``; the mail they read is put on
the class's Dovecot here first. Odoo skips browser tests when Chromium is missing.
"""

import datetime
import threading
from unittest.mock import patch

from odoo.tests import HttpCase, tagged

from odoo.addons.bus.models.bus import dispatch
from odoo.addons.bus.websocket import WebsocketConnectionHandler

from ..testing import samples
from .common import WebmailCase, raw_mail


def _push_bus_notifications():
    """What the bus does after each commit, and tests never do (a test cursor drops post-commit
    hooks): tell every open websocket that notifications wait."""
    for websockets in list(dispatch._channels_to_ws.values()):
        for websocket in list(websockets):
            websocket.trigger_notification_dispatching()


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_tours")
class TestWebmailTours(WebmailCase, HttpCase):

    def _account_with(self, *raws):
        for raw in raws:
            self.imap_server.append(self.mailbox_login, "INBOX", raw)
        account = self.make_account()
        account.action_refresh()
        return account

    def test_read_show_images_mark_unread(self):
        later = samples.SAMPLE_DATE + datetime.timedelta(days=1)
        account = self._account_with(samples.html_with_inline_image(),
                                     samples.remote_images(date=later))
        self.start_tour("/odoo", "vt_webmail_read_tour", login=self.user.login)
        # every step acted on the server
        client = self.imap()
        client.select_folder("INBOX", readonly=True)
        flags = {uid: values[b"FLAGS"] for uid, values in
                 client.fetch(client.search(["ALL"]), ["FLAGS"]).items()}
        client.logout()
        messages = {m.subject: m for m in self.messages(account)}
        self.assertNotIn(b"\\Seen", flags[messages["Spring collection is here"].uid])
        self.assertIn(b"\\Seen", flags[messages["Our March newsletter"].uid])
        self.assertTrue(messages["Spring collection is here"].images_allowed)

    def test_style_sheet_stays_in_its_frame(self):
        account = self._account_with(samples.styled_newsletter())
        self.start_tour("/odoo", "vt_webmail_style_frame_tour", login=self.user.login)
        [message] = self.messages(account)
        self.assertTrue(message.images_allowed)

    def test_flag_search_on_server_move_delete(self):
        account = self._account_with(
            raw_mail("Delete me"), raw_mail("Move me"),
            raw_mail("Meeting notes", body="The secret word is pineapple."), raw_mail("Keep me"))
        self.start_tour("/odoo", "vt_webmail_act_tour", login=self.user.login)
        client = self.imap()
        try:
            found = {}
            for folder in ("INBOX", "Archive", "Trash"):
                client.select_folder(folder, readonly=True)
                uids = client.search(["ALL"])
                fetched = client.fetch(uids, ["FLAGS", "ENVELOPE"]) if uids else {}
                found[folder] = {values[b"ENVELOPE"].subject.decode(): values[b"FLAGS"]
                                 for values in fetched.values()}
        finally:
            client.logout()
        self.assertEqual(sorted(found["INBOX"]), ["Keep me", "Meeting notes"])
        self.assertIn(b"\\Flagged", found["INBOX"]["Keep me"])
        self.assertEqual(list(found["Archive"]), ["Move me"])
        self.assertEqual(list(found["Trash"]), ["Delete me"])
        self.assertEqual(sorted(self.messages(account).mapped("subject")),
                         ["Keep me", "Meeting notes"])

    def test_switch_account(self):
        self._account_with(raw_mail("For the first account"))
        second = self.add_mailbox()
        self.imap_server.append(second, "INBOX", raw_mail("For the second account"))
        self.make_account(login=second, email=f"second@{second}.example.com")
        self.start_tour("/odoo", "vt_webmail_switch_account_tour", login=self.user.login)

    def test_check_now(self):
        self._account_with(raw_mail("Arrived before"), raw_mail("Also before"))
        self.seed(["Arrived later"])
        self.start_tour("/odoo", "vt_webmail_check_now_tour", login=self.user.login)

    def test_new_mail_arrives_without_reloading(self):
        """A refresh that the page did not ask for (the scheduler's) reaches the open list
        through the bus: Odoo's real websocket, the browser's real bus worker."""
        self._account_with(raw_mail("Arrived before"), raw_mail("Also before"))
        self.seed(["Arrived later"])
        # Odoo refuses websockets while tests run; the bus tests let them in the same way
        self.startPatcher(patch.object(WebsocketConnectionHandler, "websocket_allowed",
                                       return_value=True))
        BusBus = type(self.env["bus.bus"])
        send_one = BusBus._sendone

        def _sendone(bus, *args, **kwargs):
            send_one(bus, *args, **kwargs)
            # once the refresh's transaction is over, as after a real commit
            threading.Timer(0.5, _push_bus_notifications).start()

        self.startPatcher(patch.object(BusBus, "_sendone", _sendone))
        self.start_tour("/odoo", "vt_webmail_new_mail_tour", login=self.user.login)

    def test_text_filter_counts_up_to_a_thousand(self):
        """The pager bounds its count of a Text filter's matches at 1,000 ("1000+", exact on
        a click); the list without the filter keeps Odoo's bound (an exact 1,010 here)."""
        account = self._account_with(raw_mail("Arrived by sync"))
        inbox = account.folder_ids.filtered(lambda f: f.role == "inbox")
        start = datetime.datetime(2026, 1, 1)
        # the cache's rows as a sync stores headers (no server needed to count them)
        self.env["vt_webmail.message"].sudo().create([{
            "account_id": account.id, "folder_id": inbox.id, "user_id": self.user.id,
            "uidvalidity": inbox.uidvalidity, "uid": 1000 + n,
            "subject": f"Zebra crossing {n}" if n < 1005 else f"Other {n}",
            "date": start + datetime.timedelta(minutes=n),
        } for n in range(1009)])
        self.env.flush_all()
        self.start_tour("/odoo", "vt_webmail_text_count_tour", login=self.user.login)
