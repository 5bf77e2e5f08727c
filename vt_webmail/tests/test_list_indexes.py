"""The indexes and statistics of the Webmail list (``vt_webmail.message.init``) exist and the
planner reads the list's pages through them: the query the ORM builds for the web client, record
rule included, on folders big enough for the choice to matter.

Timings belong to ``tools/bench_reads.py``; this checks the plan, which does not depend on the
machine's load.
"""

from unittest.mock import patch

from odoo.tests import tagged
from odoo.tests.common import TransactionCase, new_test_user
from odoo.tools import SQL

from ..models import vt_webmail_message
from ..models.vt_webmail_message import (
    DEEP_PAGE_OFFSET,
    OWNER_STATISTICS,
    TEXT_BLOB,
    TEXT_BLOB_INDEX,
    TEXT_INDEX,
    TEXT_INDEX_FIELDS,
)

ROWS_PER_FOLDER = 3000


@tagged("post_install", "-at_install", "vt_webmail_indexes")
class TestListIndexes(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folders = {}
        for n in range(3):
            user = new_test_user(cls.env, login=f"indexes{n}", groups="base.group_user")
            account = cls.env["vt_webmail.account"].with_user(user).create({
                "email": f"indexes{n}@example.com", "imap_host": "localhost", "login": "x",
                "password": "x",
            })
            folder, sent = cls.env["vt_webmail.folder"].sudo().create([
                {"account_id": account.id, "name": "INBOX", "role": "inbox"},
                {"account_id": account.id, "name": "Sent", "role": "sent"},
            ])
            cls.folders[user] = folder
            # an account has other folders: the folder's rows are not all the account's
            cls.env.cr.execute(SQL(
                """
                INSERT INTO vt_webmail_message (account_id, folder_id, user_id, uid,
                            uidvalidity, subject, email_from, date, body_state, is_seen)
                     SELECT %(account)s, %(folder)s, %(user)s, k, 1, 'Sent ' || k,
                            'me@example.com', TIMESTAMP '2020-01-01' + k * INTERVAL '1 hour',
                            'none', true
                       FROM generate_series(1, %(rows)s) k
                """,
                account=account.id, folder=sent.id, user=user.id, rows=ROWS_PER_FOLDER,
            ))
            cls.env.cr.execute(SQL(
                """
                INSERT INTO vt_webmail_message (account_id, folder_id, user_id, uid,
                            uidvalidity, subject, email_from, date, body_state, is_seen)
                     SELECT %(account)s, %(folder)s, %(user)s, k, 1, 'Subject ' || k,
                            'sender' || mod(k, 50) || '@example.com',
                            TIMESTAMP '2020-01-01' + k * INTERVAL '1 hour', 'none', true
                       FROM generate_series(1, %(rows)s) k
                """,
                account=account.id, folder=folder.id, user=user.id, rows=ROWS_PER_FOLDER,
            ))
        cls.env.cr.execute("ANALYZE vt_webmail_message")

    def plan(self, user, domain, **kwargs):
        """EXPLAIN of the SQL ``search`` runs as ``user`` (the owner rule added)."""
        Message = self.env["vt_webmail.message"].with_user(user)
        query = Message._search(domain, order=Message._order, **kwargs)
        self.env.cr.execute(SQL("EXPLAIN %s", query.select()))
        return "\n".join(row[0] for row in self.env.cr.fetchall())

    def test_index_definitions(self):
        cr = self.env.cr
        cr.execute("SELECT indexname, indexdef FROM pg_indexes "
                   "WHERE tablename = 'vt_webmail_message'")
        indexes = dict(cr.fetchall())
        self.assertNotIn("vt_webmail_message_folder_date_idx", indexes,
                         "the list index replaces the one without the included columns")
        # single-column indexes PostgreSQL would AND into every bitmap of a folder
        self.assertNotIn("vt_webmail_message__account_id_index", indexes)
        self.assertNotIn("vt_webmail_message__user_id_index", indexes)
        self.assertIn("(account_id, date DESC, id DESC) INCLUDE (folder_id, user_id)",
                      indexes["vt_webmail_message_account_date_idx"])
        self.assertIn("(folder_id, date DESC, id DESC) INCLUDE (account_id, user_id)",
                      indexes["vt_webmail_message_list_idx"])
        cr.execute("SELECT stxkind FROM pg_statistic_ext WHERE stxname = %s",
                   [OWNER_STATISTICS])
        self.assertIn("f", cr.fetchone()[0], "functional dependencies are collected")
        # Odoo creates pg_trgm in the databases it creates; the test database has it
        cr.execute("SELECT extname FROM pg_extension")
        extensions = {row[0] for row in cr.fetchall()}
        self.assertIn("pg_trgm", extensions)
        if self.env.registry.has_unaccent:
            # Odoo compares unaccent(column): the index of the four columns follows it
            self.assertNotIn(TEXT_BLOB_INDEX, indexes)
            definition = indexes[TEXT_INDEX]
            for name in TEXT_INDEX_FIELDS:
                self.assertRegex(definition, rf"\b{name}\)? gin_trgm_ops")
        else:
            self.assertNotIn(TEXT_INDEX, indexes, "one text index, of the joined texts")
            definition = indexes[TEXT_BLOB_INDEX]
            self.assertIn(f"{TEXT_BLOB} gin_trgm_ops", definition)
        self.assertIn("USING gin", definition)
        self.assertEqual("btree_gin" in extensions, "(folder_id, " in definition)

    def test_first_page_reads_the_index_in_order(self):
        user, folder = next(iter(self.folders.items()))
        domain = ["&", ("account_id", "=", folder.account_id.id), ("folder_id", "=", folder.id)]
        plan = self.plan(user, domain, limit=20)
        self.assertIn("vt_webmail_message_list_idx", plan)
        self.assertNotIn("Sort", plan, "the rows come in the list's order, none are sorted")
        plan = self.plan(user, domain, limit=20, offset=ROWS_PER_FOLDER // 2)
        self.assertIn("vt_webmail_message_list_idx", plan)
        self.assertNotIn("Sort", plan)

    def test_conversation_list_reads_its_index_in_order(self):
        # every mail its own conversation: as many conversations as mails, per user
        for user, folder in self.folders.items():
            self.env.cr.execute(SQL(
                """
                INSERT INTO vt_webmail_conversation (account_id, user_id, key, subject,
                            message_count, date_last)
                     SELECT %(account)s, %(user)s, 'k' || k, 'Subject ' || k, 1,
                            TIMESTAMP '2020-01-01' + k * INTERVAL '1 hour'
                       FROM generate_series(1, %(rows)s) k
                """,
                account=folder.account_id.id, user=user.id, rows=ROWS_PER_FOLDER))
        self.env.cr.execute("ANALYZE vt_webmail_conversation")
        user = next(iter(self.folders))
        Conversation = self.env["vt_webmail.conversation"].with_user(user)
        for offset in (0, ROWS_PER_FOLDER // 2):
            query = Conversation._search([], order=Conversation._order, limit=80,
                                         offset=offset)
            self.env.cr.execute(SQL("EXPLAIN %s", query.select()))
            plan = "\n".join(row[0] for row in self.env.cr.fetchall())
            self.assertIn("Index Only Scan using vt_webmail_conversation_list_idx", plan)
            self.assertNotIn("Sort", plan)

    def test_unthreaded_mails_are_found_without_reading_the_account(self):
        user, folder = next(iter(self.folders.items()))
        # all threaded but five (just stored)
        conversation = self.env["vt_webmail.conversation"].sudo().create({
            "account_id": folder.account_id.id, "user_id": user.id, "key": "all"})
        self.env.cr.execute(SQL(
            "UPDATE vt_webmail_message SET conversation_id = %s WHERE uid > 5",
            conversation.id))
        self.env.cr.execute("ANALYZE vt_webmail_message")
        self.env.cr.execute(SQL(
            "EXPLAIN SELECT id FROM vt_webmail_message WHERE account_id = %s "
            "AND conversation_id IS NULL", folder.account_id.id))
        plan = "\n".join(row[0] for row in self.env.cr.fetchall())
        self.assertIn("vt_webmail_message_unthreaded_idx", plan)

    def test_a_deep_page_reads_its_ids_from_the_index_alone(self):
        user, folder = next(iter(self.folders.items()))
        domain = ["&", ("account_id", "=", folder.account_id.id), ("folder_id", "=", folder.id)]
        offset = DEEP_PAGE_OFFSET + 500
        plan = self.plan(user, domain, limit=20, offset=offset)
        self.assertIn("Index Only Scan using vt_webmail_message_list_idx", plan)
        Message = self.env["vt_webmail.message"].with_user(user)
        page = Message.search_fetch(domain, ["subject", "date"], offset=offset, limit=20)
        expected = Message.search(domain, order="date desc, id desc")[offset:offset + 20]
        self.assertEqual(page.ids, expected.ids)
        self.assertEqual(page[0].subject, f"Subject {ROWS_PER_FOLDER - offset}")
        rows = Message.web_search_read(domain, {"subject": {}}, offset=offset, limit=20)
        self.assertEqual([row["id"] for row in rows["records"]], expected.ids)

    def test_a_page_past_the_count_bound_reads_one_more_row_not_a_count(self):
        """The web client's bound is the page's end past 10,000: web_search_read answers as
        Odoo's count would, from one more row."""
        user, folder = next(iter(self.folders.items()))
        Message = self.env["vt_webmail.message"].with_user(user)
        domain = ["&", ("account_id", "=", folder.account_id.id), ("folder_id", "=", folder.id)]
        expected = Message.search(domain, order="date desc, id desc")
        counted = []
        count = type(Message).search_count

        def search_count(model, *args, **kwargs):
            counted.append(args)
            return count(model, *args, **kwargs)

        for offset in (DEEP_PAGE_OFFSET + 500, ROWS_PER_FOLDER - 20, ROWS_PER_FOLDER - 7):
            with self.subTest(offset=offset):
                bound = offset + 20 + 1
                with patch.object(type(Message), "search_count", search_count):
                    rows = Message.web_search_read(domain, {"subject": {}}, offset=offset,
                                                   limit=20, count_limit=bound)
                self.assertEqual(counted, [])
                self.assertEqual([row["id"] for row in rows["records"]],
                                 expected[offset:offset + 20].ids)
                self.assertEqual(rows["length"], min(ROWS_PER_FOLDER, bound))

    def test_a_text_filter_reads_the_folders_matches_first(self):
        user, folder = next(iter(self.folders.items()))
        Message = self.env["vt_webmail.message"].with_user(user)
        domain = ["&", "&", ("account_id", "=", folder.account_id.id),
                  ("folder_id", "=", folder.id), ("search_text", "ilike", "SENDER7@")]
        narrowed = Message._text_filter_narrowed(domain)
        self.assertNotIn(("search_text", "ilike", "SENDER7@"), narrowed)
        (ids_leaf,) = [leaf for leaf in narrowed if leaf[0] == "id"]
        self.assertEqual(len(ids_leaf[2]), ROWS_PER_FOLDER // 50)
        page = Message.search(domain, limit=20)
        # what the plain query finds, newest first
        everything = Message.search([("folder_id", "=", folder.id)], order="date desc, id desc")
        expected = everything.filtered(lambda m: m.email_from == "sender7@example.com")[:20]
        self.assertEqual(page.ids, expected.ids)
        # the owner rule still applies: another user's folder gives nothing
        other = list(self.folders)[1]
        self.assertFalse(self.env["vt_webmail.message"].with_user(other).search(domain, limit=20))
        # a word found only in old mail (subjects "Subject 5", "Subject 5x", "Subject 5xx"):
        # the folder's newest 2,000 mails hold none of it, its matches are read instead
        old_domain = [*domain[2:4], ("search_text", "ilike", "subject 5")]
        self.assertIsNone(Message._text_filter_recent_page(old_domain, ["subject"], 0, 20, None))
        page = Message.search_fetch(old_domain, ["subject"], limit=20)
        expected = everything.filtered(lambda m: m.subject.startswith("Subject 5"))
        self.assertEqual(len(expected), 111)
        self.assertEqual(page.ids, expected[:20].ids)
        self.assertEqual(Message.search_fetch(old_domain, ["subject"], offset=100, limit=20).ids,
                         expected[100:].ids)
        # a frequent word: its page is among the newest mail
        recent = Message._text_filter_recent_page(domain, ["subject"], 0, 20, None)
        self.assertEqual(recent.ids, page_ids := Message.search(domain, limit=20).ids)
        self.assertEqual(len(page_ids), 20)
        # a frequent word: the domain as it was (the newest mail holds a page of it soon)
        with patch.object(vt_webmail_message, "TEXT_FILTER_IDS", 10):
            self.assertEqual(Message._text_filter_narrowed(domain), domain)
        # not a plain conjunction, or no folder: as it was
        either = ["|", ("search_text", "ilike", "x"), ("folder_id", "=", folder.id)]
        self.assertEqual(Message._text_filter_narrowed(either), either)
        self.assertEqual(Message._text_filter_narrowed([("search_text", "ilike", "x")]),
                         [("search_text", "ilike", "x")])

    def test_the_joined_texts_are_generated_by_postgresql(self):
        """``search_blob`` is a generated column: filled on INSERT (the ORM's, the sync's COPY
        names its columns alike) and UPDATE, whatever wrote them."""
        cr = self.env.cr
        cr.execute("SELECT attgenerated FROM pg_attribute WHERE attrelid = "
                   "'vt_webmail_message'::regclass AND attname = %s", [TEXT_BLOB])
        self.assertEqual(cr.fetchone()[0], "s")
        user, folder = next(iter(self.folders.items()))
        message = self.env["vt_webmail.message"].sudo().create({
            "account_id": folder.account_id.id, "folder_id": folder.id, "user_id": user.id,
            "uid": 90001,
            "uidvalidity": 1, "subject": "Quarterly plan", "email_from": "ann@example.com",
            "email_to": "bob@example.com",
        })
        message.flush_recordset()
        message.invalidate_recordset([TEXT_BLOB])
        self.assertEqual(message[TEXT_BLOB],
                         "quarterly plan\nann@example.com\nbob@example.com\n")
        message.write({"email_cc": "cid@example.com", "subject": "Plan B"})
        message.flush_recordset()
        message.invalidate_recordset([TEXT_BLOB])
        self.assertEqual(message[TEXT_BLOB],
                         "plan b\nann@example.com\nbob@example.com\ncid@example.com")
        # copying a mail does not try to write it
        self.assertNotIn(TEXT_BLOB, message.copy_data({"uid": 90002})[0])

    def test_a_text_filter_reads_one_index_and_stays_exact(self):
        user, folder = next(iter(self.folders.items()))
        Message = self.env["vt_webmail.message"].with_user(user)
        if self.env.registry.has_unaccent:
            self.skipTest("Odoo compares unaccent(column): the four columns' index is used")
        domain = [("folder_id", "=", folder.id), ("search_text", "ilike", "sender7@")]
        # one condition on the indexed column, not four ORed (the plans at scale, where the
        # index is chosen, are the benchmark's: tools/bench_reads.py --explain)
        where = Message._search(domain).where_clause
        self.assertIn(f'"{TEXT_BLOB}" LIKE', where.code)
        self.assertIn("%sender7@%", where.params)
        for name in TEXT_INDEX_FIELDS:
            self.assertNotIn(f'"{name}" ILIKE', where.code)
        exact = Message._search([("search_text", "ilike", "A_b")]).where_clause
        self.assertIn(f'"{TEXT_BLOB}" LIKE', exact.code)
        self.assertIn("%a_b%", exact.params)
        self.assertIn('"subject" ILIKE', exact.code,
                      "a pattern with a wildcard is checked per column")
        # the answer is the four columns': a pattern that matches across two of them in the
        # joined text ("Subject 1" then a line break then "sender1@") finds nothing
        across = [("folder_id", "=", folder.id), ("search_text", "ilike", "subject 1_sender")]
        self.assertTrue(self.env["vt_webmail.message"].sudo().search(
            [("folder_id", "=", folder.id), (TEXT_BLOB, "ilike", "subject 1_sender")], limit=1))
        self.assertFalse(Message.search(across))
        found = Message.search(domain)
        self.assertEqual(len(found), ROWS_PER_FOLDER // 50)
        self.assertEqual(set(found.mapped("email_from")), {"sender7@example.com"})
        # negative and exact conditions are the four columns' as before
        self.assertEqual(Message.search_count([("folder_id", "=", folder.id),
                                               ("search_text", "not ilike", "sender7@")]),
                         ROWS_PER_FOLDER - len(found))
        self.assertEqual(Message.search_count([("folder_id", "=", folder.id),
                                               ("search_text", "=", "Subject 7")]), 1)

    def test_the_text_filter_finds_what_ilike_on_the_four_columns_finds(self):
        """The folded blob's LIKE is Odoo's ILIKE on each column: letters' case (ASCII or
        not), wildcards, a case-sensitive LIKE, across the four texts."""
        user, folder = next(iter(self.folders.items()))
        Message = self.env["vt_webmail.message"].sudo()
        Message.create([{
            "account_id": folder.account_id.id, "folder_id": folder.id, "user_id": user.id,
            "uid": 90100 + n, "uidvalidity": 1, "subject": subject, "email_from": sender,
            "email_to": to, "email_cc": cc,
        } for n, (subject, sender, to, cc) in enumerate([
            ("ÄRGER über die Rechnung", "Jürgen <jurgen@example.de>", "ops@example.com", ""),
            ("Ödeme ISTANBUL", "Ayşe <ayse@example.com.tr>", "İlker <ilker@example.com>",
             "Στέλιος ΟΔΟΣ <odos@example.gr>"),
            ("Straße", "x_y@example.com", "50% off <deals@example.com>", False),
        ])])
        Message.flush_model()
        terms = ["ärger", "ÄRGER", "Über", "jürgen", "istanbul", "ödeme", "İlker", "ilker",
                 "οδοσ", "ΟΔΟΣ", "στέλιος", "STRASSE", "straße", "x_y", "X%Y", "50%", "_@",
                 "r\nj", "Rechnung\nJürgen"]
        scope = [("folder_id", "=", folder.id), ("uid", ">=", 90100)]
        for operator in ("ilike", "like"):
            for term in terms:
                with self.subTest(operator=operator, term=term):
                    expected = Message.search([*scope, "|", "|", "|",
                                               ("subject", operator, term),
                                               ("email_from", operator, term),
                                               ("email_to", operator, term),
                                               ("email_cc", operator, term)])
                    found = Message.search([*scope, ("search_text", operator, term)])
                    self.assertEqual(found, expected)
        # it does find something: the test is not a comparison of two empty answers
        self.assertEqual(len(Message.search([*scope, ("search_text", "ilike", "ärger")])), 1)
        self.assertEqual(len(Message.search([*scope, ("search_text", "ilike", "odos")])), 1)

    def test_a_blob_of_an_earlier_expression_is_made_again(self):
        """The first version of the column was not folded: init() makes it again."""
        if self.env.registry.has_unaccent:
            self.skipTest("Odoo compares unaccent(column): the four columns' index stays")
        cr = self.env.cr
        cr.execute(SQL("ALTER TABLE vt_webmail_message DROP COLUMN %s", SQL.identifier(TEXT_BLOB)))
        cr.execute(SQL("ALTER TABLE vt_webmail_message ADD COLUMN %s text GENERATED ALWAYS AS "
                       "(coalesce(subject, '')) STORED", SQL.identifier(TEXT_BLOB)))
        self.env["vt_webmail.message"].init()
        cr.execute(SQL("SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN "
                       "pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                       "WHERE a.attrelid = 'vt_webmail_message'::regclass AND a.attname = %s",
                       TEXT_BLOB))
        self.assertTrue(cr.fetchone()[0].startswith("lower("))
        cr.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [TEXT_BLOB_INDEX])
        self.assertTrue(cr.fetchone(), "its index was made again")

    def test_an_update_from_a_plain_column_and_the_four_columns_index(self):
        """An earlier version had the four columns' index; Odoo creates the new field's column
        as a plain one: init() makes it generated, filled for the rows there, and one index."""
        cr = self.env.cr
        if self.env.registry.has_unaccent:
            self.skipTest("Odoo compares unaccent(column): the four columns' index stays")
        cr.execute(SQL("DROP INDEX %s", SQL.identifier(TEXT_BLOB_INDEX)))
        cr.execute(SQL("ALTER TABLE vt_webmail_message DROP COLUMN %s", SQL.identifier(TEXT_BLOB)))
        cr.execute(SQL("ALTER TABLE vt_webmail_message ADD COLUMN %s text",
                       SQL.identifier(TEXT_BLOB)))
        cr.execute(SQL("CREATE INDEX %s ON vt_webmail_message USING gin (subject gin_trgm_ops)",
                       SQL.identifier(TEXT_INDEX)))
        self.env["vt_webmail.message"].init()
        cr.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'vt_webmail_message'")
        indexes = {row[0] for row in cr.fetchall()}
        self.assertIn(TEXT_BLOB_INDEX, indexes)
        self.assertNotIn(TEXT_INDEX, indexes)
        folder = next(iter(self.folders.values()))
        cr.execute(SQL("SELECT count(*) FROM vt_webmail_message WHERE folder_id = %s "
                       "AND %s LIKE %s", folder.id, SQL.identifier(TEXT_BLOB),
                       "subject %\n%@example.com\n\n"))
        self.assertEqual(cr.fetchone()[0], ROWS_PER_FOLDER)

    def test_a_text_filters_page_and_count_share_its_ids(self):
        """web_search_read of a Text filter: the page read from the matches' ids in list
        order, and the pager's count, equal to the plain queries'."""
        user, folder = next(iter(self.folders.items()))
        Message = self.env["vt_webmail.message"].with_user(user)
        old_domain = ["&", "&", ("account_id", "=", folder.account_id.id),
                      ("folder_id", "=", folder.id), ("search_text", "ilike", "subject 5")]
        everything = Message.search([("folder_id", "=", folder.id)], order="date desc, id desc")
        expected = everything.filtered(lambda m: m.subject.startswith("Subject 5"))
        parts = Message._text_filter_parts(old_domain)
        self.assertEqual(Message._text_filter_ids(parts), expected.ids)
        page = Message._text_filter_ids_page(old_domain, ["subject"], 20, 20, None)
        self.assertEqual(page.ids, expected[20:40].ids)
        for count_limit in (21, 1001):
            rows = Message.web_search_read(old_domain, {"subject": {}}, limit=20,
                                           count_limit=count_limit)
            self.assertEqual([row["id"] for row in rows["records"]], expected[:20].ids)
            self.assertEqual(rows["length"], min(len(expected), count_limit))
        # the ids were kept for that call only
        self.assertNotIn(vt_webmail_message.TEXT_IDS_MEMO, self.env.cr.cache)
        # counted first (111 matches, under the bound): the page came from the ids at once,
        # without a look among the newest mail, and the count was made once
        calls = []
        recent = type(Message)._text_filter_recent_page
        count = type(Message).search_count

        def spy_recent(model, *args, **kwargs):
            calls.append("recent")
            return recent(model, *args, **kwargs)

        def spy_count(model, *args, **kwargs):
            calls.append("count")
            return count(model, *args, **kwargs)

        with patch.object(type(Message), "_text_filter_recent_page", spy_recent), \
                patch.object(type(Message), "search_count", spy_count):
            rows = Message.web_search_read(old_domain, {"subject": {}}, limit=20,
                                           count_limit=1001)
        self.assertEqual([row["id"] for row in rows["records"]], expected[:20].ids)
        self.assertEqual(rows["length"], len(expected))
        self.assertEqual(calls, ["count", "count"])  # the second from the memo
        # a frequent word (its count reaches the bound): the newest mail is looked at first
        calls.clear()
        with patch.object(type(Message), "_text_filter_recent_page", spy_recent), \
                patch.object(type(Message), "search_count", spy_count):
            rows = Message.web_search_read(old_domain, {"subject": {}}, limit=20,
                                           count_limit=50)
        self.assertEqual(calls, ["count", "recent", "count"])
        self.assertEqual([row["id"] for row in rows["records"]], expected[:20].ids)
        self.assertEqual(rows["length"], 50)
        self.assertEqual(Message.search_count(old_domain), len(expected))
        self.assertEqual(Message.search_count(old_domain, limit=50), 50)
        # the planner's settings of the bounded count were for that query only
        self.env.cr.execute("SHOW enable_seqscan")
        self.assertEqual(self.env.cr.fetchone()[0], "on")
        # another user: the ids' page finds none of them, and nothing is shown
        other = list(self.folders)[1]
        self.assertIsNone(self.env["vt_webmail.message"].with_user(other)._text_filter_ids_page(
            old_domain, ["subject"], 0, 20, None))
        rows = self.env["vt_webmail.message"].with_user(other).web_search_read(
            old_domain, {"subject": {}}, limit=20, count_limit=1001)
        self.assertEqual((rows["records"], rows["length"]), ([], 0))

    def test_the_folder_implies_the_account(self):
        (user, folder), (_other, other_folder) = list(self.folders.items())[:2]
        Message = self.env["vt_webmail.message"].with_user(user)
        domain = ["&", ("account_id", "=", folder.account_id.id), ("folder_id", "=", folder.id)]
        self.assertEqual(Message._without_implied_account(domain),
                         [("folder_id", "=", folder.id)])
        self.assertEqual(Message.search_count(domain), ROWS_PER_FOLDER)
        # a folder of another account: the condition stays, and nothing is found
        wrong = ["&", ("account_id", "=", other_folder.account_id.id),
                 ("folder_id", "=", folder.id)]
        self.assertEqual(Message._without_implied_account(wrong), wrong)
        self.assertFalse(self.env["vt_webmail.message"].sudo().search(wrong, limit=1))
        either = ["|", ("account_id", "=", folder.account_id.id), ("folder_id", "=", folder.id)]
        self.assertEqual(Message._without_implied_account(either), either)
