"""core.search: what a search of the message list asks the IMAP server, and what is left for
the cache. Each test is one sentence of the specification; the last ones run the criteria on a
real Dovecot."""

import datetime

import pytest

from vt_webmail.core.imap_session import ServerSettings, connect
from vt_webmail.core.search import MAX_TEXT, MAX_TOKENS, imap_criteria, normalize

MARCH_10 = datetime.date(2026, 3, 10)


# -- what each condition becomes -----------------------------------------------------------------

def test_no_condition_searches_every_mail():
    assert imap_criteria([]) == ([], [])


@pytest.mark.parametrize(("field", "key"), [
    ("subject", "SUBJECT"), ("email_from", "FROM"), ("email_to", "TO"), ("email_cc", "CC"),
    ("search_text", "TEXT"),
])
def test_ilike_on_a_text_field_is_the_servers_substring_search(field, key):
    assert imap_criteria([(field, "ilike", "invoice")]) == ([key, "invoice"], [])


def test_not_ilike_is_its_negation():
    assert imap_criteria([("subject", "not ilike", "spam")]) == (
        ["NOT", ["SUBJECT", "spam"]], [])


@pytest.mark.parametrize("operator", ["like", "=", "=ilike", "=like"])
def test_like_and_equality_search_wider_and_leave_the_condition_to_the_cache(operator):
    """IMAP's SUBJECT ignores case and finds substrings: it finds every mail wanted."""
    leaf = ("subject", operator, "Invoice")
    assert imap_criteria([leaf]) == (["SUBJECT", "Invoice"], [leaf])


@pytest.mark.parametrize("operator", ["not like", "!=", "in"])
def test_a_negation_ilike_cannot_express_is_left_to_the_cache(operator):
    """NOT SUBJECT would drop mails ``not like`` (case-sensitive) or ``!=`` keep."""
    leaf = ("subject", operator, "Invoice")
    assert imap_criteria([leaf]) == ([], [leaf])


@pytest.mark.parametrize(("field", "when_true", "when_false"), [
    ("is_seen", "SEEN", "UNSEEN"), ("is_flagged", "FLAGGED", "UNFLAGGED"),
    ("is_answered", "ANSWERED", "UNANSWERED"),
])
def test_flags_are_exact(field, when_true, when_false):
    assert imap_criteria([(field, "=", True)]) == ([when_true], [])
    assert imap_criteria([(field, "=", False)]) == ([when_false], [])
    assert imap_criteria([(field, "!=", True)]) == ([when_false], [])


def test_dates_search_a_day_wider_on_each_side_and_are_refined_in_the_cache():
    """SENTSINCE/SENTBEFORE read the day of the Date header in the sender's time zone, at most
    a day off the UTC day of the cached date."""
    since = ("date", ">=", "2026-03-10 00:00:00")
    before = ("date", "<", MARCH_10)
    assert imap_criteria([since]) == (["SENTSINCE", datetime.date(2026, 3, 9)], [since])
    assert imap_criteria([before]) == (["SENTBEFORE", datetime.date(2026, 3, 12)], [before])
    assert imap_criteria([("date", "<=", datetime.datetime(2026, 3, 10, 23, 59))])[0] == [
        "SENTBEFORE", datetime.date(2026, 3, 12)]


@pytest.mark.parametrize("leaf", [
    ("folder_id", "=", 7), ("size", ">", 1000), ("date", ">=", "yesterday"),
    ("subject", "ilike", ""), ("subject", "ilike", "\r\n"), ("is_seen", "=", "yes"),
    ("subject", "ilike"), (["subject"], "ilike", "x"),
])
def test_what_imap_cannot_search_is_left_to_the_cache(leaf):
    assert imap_criteria([leaf]) == ([], [tuple(leaf)])


def test_control_characters_never_reach_the_command_line():
    criteria, _residual = imap_criteria([("subject", "ilike", "a\r\nb\x00c\x7f")])
    assert criteria == ["SUBJECT", "abc"]


def test_a_text_too_long_is_cut_and_the_search_refined_in_the_cache():
    leaf = ("subject", "ilike", "x" * (MAX_TEXT + 50))
    assert imap_criteria([leaf]) == (["SUBJECT", "x" * MAX_TEXT], [leaf])
    negated = ("subject", "not ilike", "x" * (MAX_TEXT + 50))
    assert imap_criteria([negated]) == ([], [negated])


# -- how conditions combine ---------------------------------------------------------------------

def test_conditions_joined_by_and_are_all_sent():
    assert imap_criteria([("subject", "ilike", "a"), ("is_seen", "=", False)]) == (
        ["SUBJECT", "a", "UNSEEN"], [])
    assert imap_criteria(["&", ("subject", "ilike", "a"), ("is_seen", "=", False)])[0] == [
        "SUBJECT", "a", "UNSEEN"]


def test_or_becomes_imaps_or():
    assert imap_criteria(["|", ("email_from", "ilike", "alice"),
                          ("email_from", "ilike", "bob")]) == (
        ["OR", ["FROM", "alice"], ["FROM", "bob"]], [])


def test_not_becomes_imaps_not():
    assert imap_criteria(["!", ("is_flagged", "=", True)]) == (["NOT", ["FLAGGED"]], [])


def test_an_or_with_a_side_imap_cannot_search_searches_everything_and_goes_to_the_cache():
    """Sending the other side alone would lose the mails only the first side matches."""
    domain = ["|", ("subject", "ilike", "a"), ("folder_id", "=", 3)]
    assert imap_criteria(domain) == ([], domain)


def test_an_or_with_a_wider_side_stays_wider_and_goes_to_the_cache():
    domain = ["|", ("subject", "ilike", "a"), ("date", ">=", MARCH_10)]
    criteria, residual = imap_criteria(domain)
    assert criteria == ["OR", ["SUBJECT", "a"], ["SENTSINCE", datetime.date(2026, 3, 9)]]
    assert residual == domain


def test_a_wider_condition_is_never_negated():
    """NOT of a wider search would be narrower: the mails it lost would never be found."""
    domain = ["!", ("date", ">=", MARCH_10)]
    assert imap_criteria(domain) == ([], domain)


def test_only_the_top_level_conditions_are_refined_one_by_one():
    domain = [("subject", "ilike", "report"), ("folder_id", "=", 3),
              "|", ("is_seen", "=", False), ("size", ">", 10)]
    criteria, residual = imap_criteria(domain)
    assert criteria == ["SUBJECT", "report"]
    assert residual == [("folder_id", "=", 3), "|", ("is_seen", "=", False), ("size", ">", 10)]
    assert normalize(residual)  # a domain of its own


def test_an_and_under_an_or_keeps_the_sides_it_can_send():
    domain = ["|", "&", ("subject", "ilike", "a"), ("folder_id", "=", 3),
              ("is_flagged", "=", True)]
    criteria, residual = imap_criteria(domain)
    assert criteria == ["OR", ["SUBJECT", "a"], ["FLAGGED"]]
    assert residual == domain


# -- what is not a domain -----------------------------------------------------------------------

@pytest.mark.parametrize("domain", [
    ["|", ("subject", "ilike", "a")], ["&"], ["subject"], [("subject", "ilike", "a"), "!"],
])
def test_a_malformed_domain_is_refused(domain):
    with pytest.raises(ValueError):
        imap_criteria(domain)


def test_a_domain_too_long_is_refused_before_it_is_parsed():
    with pytest.raises(ValueError, match="more than"):
        imap_criteria(["!"] * MAX_TOKENS + [("is_seen", "=", True)])
    deep = ["!"] * (MAX_TOKENS - 1) + [("is_seen", "=", True)]
    assert imap_criteria(deep)[0][0] == "NOT"


# -- on a real server ---------------------------------------------------------------------------

def test_the_criteria_find_on_dovecot_what_the_domain_means(mailbox):
    server = mailbox.server
    mails = {
        "a": b"From: Alice <alice@example.com>\r\nSubject: Invoice 12\r\n"
             b"Date: Tue, 10 Mar 2026 23:30:00 -0500\r\n\r\nplease pay\r\n",
        "b": b"From: Bob <bob@example.com>\r\nSubject: lunch\r\n"
             b"Date: Mon, 09 Mar 2026 10:00:00 +0000\r\n\r\nthe invoice is attached\r\n",
        "c": b"From: Carol <carol@example.com>\r\nSubject: Re: invoice 12\r\n"
             b"Date: Wed, 11 Mar 2026 08:00:00 +0000\r\n\r\nthanks\r\n",
    }
    uids = {name: mailbox.append(raw) for name, raw in mails.items()}
    settings = ServerSettings(server.hostname, server.imaps_port, mailbox.login,
                              mailbox.password, ca_pem=server.ca_path.read_text(), timeout=5)
    with connect(settings) as session:
        session.select("INBOX")

        def found(domain):
            criteria, _residual = imap_criteria(domain)
            return {name for name, uid in uids.items()
                    if uid in session.search(criteria or ["ALL"])}

        assert found([("subject", "ilike", "INVOICE")]) == {"a", "c"}
        assert found([("search_text", "ilike", "invoice")]) == {"a", "b", "c"}
        assert found(["|", ("email_from", "ilike", "bob"),
                      ("email_from", "ilike", "carol")]) == {"b", "c"}
        assert found([("subject", "not ilike", "invoice")]) == {"b"}
        # mail a was sent on 11 March, 04:30 UTC, but its header says the 10th: SENTSINCE 11
        # would lose it; a superset, refined by the cache
        assert found([("date", ">=", "2026-03-11 00:00:00")]) >= {"a", "c"}
        assert found([("date", "<", "2026-03-10 00:00:00")]) >= {"b"}
        assert found([("is_seen", "=", False)]) == {"a", "b", "c"}
