import ast
from unittest.mock import patch

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tests.common import TransactionCase

from ..core.threading import Mail, Threader
from ..models import vt_webmail_account_sync
from ..tools import sync_store
from .common import WebmailCase, raw_mail


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_conversations")
class TestConversations(WebmailCase, TransactionCase):
    """Conversations of the cache (core/threading.py), kept by the sync across folders."""

    def by_mid(self, account):
        messages = self.env["vt_webmail.message"].sudo().search([("account_id", "=", account.id)])
        return {m.message_id: m for m in messages}

    def expunge(self, folder, message_id):
        client = self.imap()
        try:
            client.select_folder(self.folder(folder))
            uids = client.search(["HEADER", "Message-Id", message_id])
            client.delete_messages(uids)
            client.expunge()
        finally:
            client.logout()

    def append(self, folder, *mails):
        self.imap_server.append_many(self.mailbox_login, self.folder(folder), list(mails))

    def test_conversation_across_folders_sent_included_and_incremental(self):
        me = f"{self.mailbox_login}@example.com"
        self.append("INBOX",
                    raw_mail("Plan", message_id="<o@x>"),
                    # Bob answers the user's reply, which is only in Sent
                    raw_mail("Re: Plan", sender="Bob <bob@example.com>", message_id="<b@x>",
                             extra_headers="References: <o@x> <s@me>\r\n"),
                    raw_mail("Unrelated", sender="Carol <carol@example.com>",
                             message_id="<u@x>"))
        self.append("Sent", raw_mail("Re: Plan", sender=me, to="alice@example.com",
                                     message_id="<s@me>",
                                     extra_headers="In-Reply-To: <o@x>\r\n"))
        account = self.make_account()
        account.action_refresh()
        mails = self.by_mid(account)
        conversation = mails["<o@x>"].conversation_id
        self.assertTrue(conversation)
        self.assertEqual(mails["<b@x>"].conversation_id, conversation)
        self.assertEqual(mails["<s@me>"].conversation_id, conversation)
        self.assertEqual(mails["<s@me>"].folder_id.role, "sent")
        self.assertNotEqual(mails["<u@x>"].conversation_id, conversation)
        self.assertEqual(conversation.message_count, 3)
        self.assertEqual(set(conversation.participants.split(", ")),
                         {"alice@example.com", "bob@example.com", me})
        self.assertEqual(conversation.subject, "Plan")
        self.assertTrue(conversation.has_unread)
        self.assertFalse(conversation.has_flagged)

        # seen as the user sees it: their own conversations, one row each
        Conversation = self.env["vt_webmail.conversation"].with_user(self.user)
        self.assertEqual(Conversation.search([("account_id", "=", account.id)]),
                         conversation | mails["<u@x>"].conversation_id)
        self.assertFalse(self.env["vt_webmail.conversation"].with_user(self.other_user).search(
            [("account_id", "=", account.id)]))
        action = conversation.with_user(self.user).action_open_list()
        opened = self.env["vt_webmail.message"].with_user(self.user).search(action["domain"])
        self.assertEqual(set(opened.mapped("message_id")), {"<o@x>", "<b@x>", "<s@me>"})
        groups = self.env["vt_webmail.message"].with_user(self.user).read_group(
            [("account_id", "=", account.id)], ["conversation_id"], ["conversation_id"])
        self.assertEqual(sorted(g["conversation_id_count"] for g in groups), [1, 3])

        # a new reply arrives: it joins, nothing else moves
        self.append("INBOX", raw_mail("Re: Plan", sender="Dan <dan@example.com>",
                                      message_id="<d@x>",
                                      extra_headers="References: <o@x> <s@me> <b@x>\r\n"))
        account.action_refresh()
        mails = self.by_mid(account)
        self.assertEqual(mails["<d@x>"].conversation_id, mails["<b@x>"].conversation_id)
        self.assertEqual(mails["<d@x>"].conversation_id.message_count, 4)

        # flags read live: flagging one mail flags the conversation
        mails["<b@x>"].with_user(self.user).action_flag()
        conversation = mails["<b@x>"].conversation_id
        conversation.invalidate_recordset()
        self.assertTrue(conversation.has_flagged)
        self.assertIn(conversation, Conversation.search([("has_flagged", "=", True)]))
        self.assertNotIn(conversation, Conversation.search([("has_flagged", "=", False)]))
        # every spelling of the same condition, as Odoo 18 and 19 hand them to the search
        self.assertIn(conversation, Conversation.search([("has_flagged", "!=", False)]))
        self.assertIn(conversation, Conversation.search([("has_flagged", "in", [True])]))
        self.assertNotIn(conversation, Conversation.search([("has_flagged", "not in", [True])]))
        self.assertNotIn(conversation, Conversation.search([("has_flagged", "!=", True)]))
        others = Conversation.search([("account_id", "=", account.id),
                                      ("id", "!=", conversation.id)])
        self.assertTrue(others)
        self.assertEqual(Conversation.search([("account_id", "=", account.id),
                                              ("has_flagged", "=", False)]), others)

    def test_large_first_sync_threads_after_in_batches_as_from_scratch(self):
        """A first sync past THREAD_AT_ONCE mails stores them unthreaded; the scheduled action
        then threads them in committed batches, resumable, into the conversations a threading
        of all the mails at once makes; the conversation list leaves the account out until
        then."""
        me = f"{self.mailbox_login}@example.com"
        inbox = [
            # a reply stored before what it answers, a chain split across batches, a subject
            # match without references, unrelated mails between them
            raw_mail("Re: Budget", sender="Bob <bob@example.com>", message_id="<b2@x>",
                     extra_headers="References: <b0@x> <b1@me>\r\n"),
            raw_mail("Lunch", message_id="<l0@x>"),
            raw_mail("Budget", message_id="<b0@x>"),
            raw_mail("Trip", sender="Carol <carol@example.com>", message_id="<t0@x>"),
            raw_mail("Re: Trip", sender="Dan <dan@example.com>", message_id="<t1@x>"),
            raw_mail("Unrelated", message_id="<u0@x>"),
            raw_mail("Re: Budget", sender="Eve <eve@example.com>", message_id="<b3@x>",
                     extra_headers="In-Reply-To: <b2@x>\r\n"),
            raw_mail("Re: Lunch", sender="Bob <bob@example.com>", message_id="<l1@x>",
                     extra_headers="References: <l0@x>\r\n"),
        ]
        self.append("INBOX", *inbox)
        self.append("Sent", raw_mail("Re: Budget", sender=me, message_id="<b1@me>",
                                     extra_headers="In-Reply-To: <b0@x>\r\n"))
        account = self.make_account()
        Account = self.env["vt_webmail.account"]
        Message = self.env["vt_webmail.message"].sudo()
        with patch.object(sync_store, "THREAD_AT_ONCE", 3), \
                patch.object(vt_webmail_account_sync, "THREAD_BATCH", 4):
            account.action_refresh()
            mails = self.by_mid(account)
            self.assertEqual(len(mails), 9)  # every mail stored, in the Webmail list at once
            account.invalidate_recordset()
            self.assertTrue(account.threading_pending)
            self.assertTrue(any(not m.conversation_id for m in mails.values()))
            # the conversation list leaves the account out meanwhile
            domain = self.env.ref("vt_webmail.vt_webmail_conversation_action").domain
            Conversation = self.env["vt_webmail.conversation"].with_user(self.user)
            self.assertFalse(Conversation.search(ast.literal_eval(domain)))
            # one batch, then an interruption: what is threaded stays, the rest is picked up
            self.assertEqual(Message._thread_backlog_batch(account.id, 4), 4)
            self.assertEqual(Message.search_count([("account_id", "=", account.id),
                                                   ("conversation_id", "=", False)]), 5)
            Account._cron_thread_backlog()
        account.invalidate_recordset()
        self.assertFalse(account.threading_pending)
        mails = self.by_mid(account)
        self.assertTrue(all(m.conversation_id for m in mails.values()))
        # the same conversations as one threading of every mail at once
        threader = Threader()
        threader.add(Mail(m.id, m.message_id or "", m.in_reply_to or "", m.references or "",
                          m.subject or "", m.date) for m in mails.values())
        scratch = {}
        for key, conv in threader.conversations().items():
            scratch.setdefault(conv, set()).add(key)
        stored = {}
        for m in mails.values():
            stored.setdefault(m.conversation_id.id, set()).add(m.id)
        self.assertEqual(sorted(map(sorted, stored.values())),
                         sorted(map(sorted, scratch.values())))
        by_mid = {m.id: mid for mid, m in mails.items()}
        self.assertIn({"<b0@x>", "<b1@me>", "<b2@x>", "<b3@x>"},
                      [{by_mid[i] for i in ids} for ids in stored.values()])
        budget = mails["<b0@x>"].conversation_id
        self.assertEqual(budget.message_count, 4)
        self.assertIn(budget, Conversation.search(ast.literal_eval(domain)))

        # an incremental refresh threads its few new mails at once
        self.append("INBOX", raw_mail("Re: Trip", sender="Carol <carol@example.com>",
                                      message_id="<t2@x>",
                                      extra_headers="References: <t0@x> <t1@x>\r\n"))
        account.action_refresh()
        mails = self.by_mid(account)
        self.assertEqual(mails["<t2@x>"].conversation_id, mails["<t0@x>"].conversation_id)
        account.invalidate_recordset()
        self.assertFalse(account.threading_pending)

    def test_expunged_bridge_splits_and_original_arriving_joins(self):
        # X <- S <- Y: S (in Sent) is the only link between X and Y
        self.append("INBOX", raw_mail("Topic X", message_id="<x@x>"),
                    raw_mail("Topic Y", sender="Bob <bob@example.com>", message_id="<y@x>",
                             extra_headers="References: <s@me>\r\n"))
        self.append("Sent", raw_mail("Re: Topic X", message_id="<s@me>",
                                     extra_headers="References: <x@x>\r\n"))
        account = self.make_account()
        account.action_refresh()
        mails = self.by_mid(account)
        self.assertEqual(mails["<x@x>"].conversation_id, mails["<y@x>"].conversation_id)
        self.assertEqual(mails["<x@x>"].conversation_id.message_count, 3)

        self.expunge("Sent", "<s@me>")
        account.action_refresh()
        mails = self.by_mid(account)
        self.assertNotIn("<s@me>", mails)
        self.assertNotEqual(mails["<x@x>"].conversation_id, mails["<y@x>"].conversation_id)
        self.assertEqual(mails["<x@x>"].conversation_id.message_count, 1)
        self.assertEqual(mails["<y@x>"].conversation_id.message_count, 1)
        self.assertEqual(self.env["vt_webmail.conversation"].sudo().search_count(
            [("account_id", "=", account.id)]), 2)

        # the same mail copied to another synced folder: one mail of the conversation, twice
        self.append("Trash", raw_mail("Re: Topic X", message_id="<s@me>",
                                      extra_headers="References: <x@x>\r\n"))
        account.action_refresh()
        mails = self.by_mid(account)
        self.assertEqual(mails["<x@x>"].conversation_id, mails["<y@x>"].conversation_id)
        self.assertEqual(mails["<x@x>"].conversation_id.message_count, 3)
        self.assertEqual(self.env["vt_webmail.conversation"].sudo().search_count(
            [("account_id", "=", account.id)]), 1)

    def test_user_delete_rethreads(self):
        self.append("INBOX", raw_mail("Lunch", message_id="<l1@x>"),
                    raw_mail("Re: Lunch", sender="Bob <bob@example.com>", message_id="<l2@x>",
                             extra_headers="In-Reply-To: <l1@x>\r\n"),
                    raw_mail("Re: Lunch", sender="Eve <eve@example.com>", message_id="<l3@x>",
                             extra_headers="References: <l2@x>\r\n"))
        account = self.make_account()
        account.action_refresh()
        mails = self.by_mid(account)
        self.assertEqual(len(mails["<l1@x>"].conversation_id.message_ids), 3)
        # deleting the middle mail (to Trash, not synced back yet) splits the conversation
        mails["<l2@x>"].with_user(self.user).action_delete()
        self.assertNotEqual(mails["<l1@x>"].conversation_id, mails["<l3@x>"].conversation_id)
        self.assertEqual(mails["<l1@x>"].conversation_id.message_count, 1)

    def test_archive_moves_to_the_archive_folder_and_keeps_the_conversation(self):
        self.append("INBOX", raw_mail("Invoice", message_id="<i1@x>"),
                    raw_mail("Re: Invoice", message_id="<i2@x>",
                             extra_headers="References: <i1@x>\r\n"))
        account = self.make_account()
        account.action_refresh()
        mails = self.by_mid(account)
        mails["<i1@x>"].with_user(self.user).action_archive_mail()
        inbox = self.server_messages("INBOX")
        self.assertEqual(len(inbox), 1)
        self.assertIn(b"<i2@x>", next(iter(inbox.values()))[1])
        archived = self.server_messages("Archive")
        self.assertEqual(len(archived), 1)
        self.assertIn(b"<i1@x>", next(iter(archived.values()))[1])
        # synced from the Archive folder, it is back in its conversation
        account.action_refresh()
        mails = self.by_mid(account)
        self.assertEqual(mails["<i1@x>"].folder_id.role, "archive")
        self.assertEqual(mails["<i1@x>"].conversation_id, mails["<i2@x>"].conversation_id)
        self.assertEqual(mails["<i1@x>"].conversation_id.message_count, 2)

    def test_reader_shows_the_mails_in_order_quotes_folded_and_marks_read(self):
        me = f"{self.mailbox_login}@example.com"
        self.append("INBOX", raw_mail("Plan", message_id="<o@x>", body="Shall we meet?"))
        self.append("Sent", raw_mail(
            "Re: Plan", sender=me, to="alice@example.com", message_id="<s@me>",
            body="Yes, Tuesday.\n\nOn Mon, Alice wrote:\n> Shall we meet?",
            extra_headers="In-Reply-To: <o@x>\r\n"))
        account = self.make_account()
        account.action_refresh()
        conversation = self.by_mid(account)["<o@x>"].conversation_id.with_user(self.user)
        action = conversation.action_open()
        self.assertEqual((action["res_model"], action["res_id"]),
                         ("vt_webmail.conversation", conversation.id))
        # a pure read first: nothing fetched, nothing marked
        # (both mails have the same Date: the order of equal dates is the cache's)
        mails = sorted(conversation.read_mails(), key=lambda m: m["subject"])
        self.assertEqual([m["subject"] for m in mails], ["Plan", "Re: Plan"])
        self.assertEqual([m["folder_role"] for m in mails], ["inbox", "sent"])
        self.assertFalse(mails[0]["body"])
        self.assertFalse(mails[0]["is_seen"])
        conversation.action_read()
        mails = sorted(conversation.read_mails(), key=lambda m: m["subject"])
        self.assertTrue(all(m["is_seen"] for m in mails))
        self.assertIn("Shall we meet?", mails[0]["body"])
        self.assertEqual(mails[0]["quotes"], 0)
        self.assertEqual(mails[1]["quotes"], 1)
        self.assertIn('<details class="o_vt_webmail_quote">', mails[1]["body"])
        self.assertLess(mails[1]["body"].index("Yes, Tuesday."),
                        mails[1]["body"].index("<details"))
        # on the server too
        client = self.imap()
        try:
            client.select_folder("INBOX", readonly=True)
            flags = client.fetch(client.search(["ALL"]), ["FLAGS"])
        finally:
            client.logout()
        self.assertTrue(all(b"\\Seen" in v[b"FLAGS"] for v in flags.values()))
        # never someone else's
        with self.assertRaises(AccessError):
            conversation.with_user(self.other_user).read_mails()
        # gone (its mails deleted): nothing to show, no error
        conversation.message_ids.with_user(self.user).action_delete()
        self.assertFalse(conversation.exists())
        self.assertEqual(conversation.read_mails(), [])
