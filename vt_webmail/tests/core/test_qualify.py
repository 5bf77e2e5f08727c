"""qualify: vtiger's precedence rules as a pure ranking function."""

import datetime

import pytest

from vt_webmail.core import qualify
from vt_webmail.core.qualify import CONTACT, LEAD, Candidate

T0 = datetime.datetime(2026, 1, 1, 9, 0)
JANE = "jane@example.com"


def day(n):
    return T0 + datetime.timedelta(days=n)


def lead(id_, name="ACME deal", email=JANE, created=0, **kwargs):
    return Candidate(LEAD, id_, name, email, day(created), **kwargs)


def contact(id_, name="Jane Doe", email=JANE, created=0, **kwargs):
    return Candidate(CONTACT, id_, name, email, day(created), **kwargs)


# -- the seed cases -------------------------------------------------------------------------------

def test_unknown_sender_creates_a_contact():
    decision = qualify.rank("Jane Doe <jane@example.com>", [])
    assert decision.creates_contact
    assert decision.target is None
    assert decision.rule == qualify.RULE_CREATE_CONTACT
    assert decision.facts["address"] == JANE
    assert decision.alternatives == ()


def test_lead_alone_wins():
    decision = qualify.rank(JANE, [lead(7)])
    assert decision.target == lead(7)
    assert decision.rule == qualify.RULE_LEAD
    assert not decision.creates_contact
    assert decision.facts["contacts"] == 0


def test_lead_wins_over_contact_even_when_the_contact_is_older():
    older_contact = contact(3, created=-30)
    decision = qualify.rank(JANE, [older_contact, lead(7, created=5)])
    assert decision.target.kind == LEAD
    assert decision.rule == qualify.RULE_LEAD_OVER_CONTACT
    assert decision.facts["contact_name"] == "Jane Doe"
    assert decision.facts["contact_is_own"] is False
    assert decision.alternatives == (older_contact,)


def test_converted_lead_wins_over_the_contact_it_produced_then_the_contact_after_it_is_gone():
    produced = contact(12, created=10)
    converted = lead(7, created=0, converted=True, partner_id=12)
    other = contact(11, name="Jane (old)", created=5)
    decision = qualify.rank(JANE, [produced, other, converted])
    assert decision.target == converted
    assert decision.rule == qualify.RULE_CONVERTED_LEAD
    # the explanation names the contact the lead produced, not just any contact
    assert decision.facts["contact_name"] == "Jane Doe"
    assert decision.facts["contact_is_own"] is True
    # deleted: not passed any more; archived: passed inactive. Both fall through to contacts.
    for gone in ([], [lead(7, converted=True, partner_id=12, active=False)]):
        decision = qualify.rank(JANE, [produced, other, *gone])
        assert decision.target == other  # the first created of the two contacts
        assert decision.rule == qualify.RULE_CONTACT


def test_two_contacts_first_created_wins_then_the_second():
    first, second = contact(20, "First", created=1), contact(10, "Second", created=2)
    decision = qualify.rank(JANE, [second, first])
    assert decision.target == first
    assert decision.facts["first_of"] == 2
    assert decision.alternatives == (second,)
    assert qualify.rank(JANE, [second]).target == second
    archived = contact(20, "First", created=1, active=False)
    assert qualify.rank(JANE, [second, archived]).target == second


# -- ordering and matching ----------------------------------------------------------------------

def test_several_leads_first_created_then_lowest_id_on_a_tie():
    decision = qualify.rank(JANE, [lead(9, created=2), lead(8, created=3), lead(5, created=2)])
    assert decision.target.id == 5
    assert [c.id for c in decision.alternatives] == [9, 8]
    assert decision.facts["first_of"] == 3


def test_alternatives_list_leads_before_contacts():
    decision = qualify.rank(JANE, [contact(1, created=0), lead(2, created=9), lead(3, created=8),
                                   contact(4, created=-1)])
    assert decision.target.id == 3
    assert [(c.kind, c.id) for c in decision.alternatives] == [
        (LEAD, 2), (CONTACT, 4), (CONTACT, 1)]


def test_case_and_display_name_are_ignored():
    candidates = [contact(1, email="JANE@Example.COM"),
                  lead(2, email='"Doe, Jane" <jane@example.com>')]
    decision = qualify.rank("Jane <Jane@EXAMPLE.com>", candidates)
    assert decision.target.id == 2
    assert decision.facts["contacts"] == 1


def test_candidates_with_another_address_or_duplicated_are_ignored():
    decision = qualify.rank(JANE, [lead(1, email="john@example.com"), contact(2), contact(2)])
    assert decision.target == contact(2)
    assert decision.alternatives == ()
    assert decision.facts["leads"] == 0


def test_no_address_matches_nothing():
    decision = qualify.rank("undisclosed-recipients:;", [contact(1, email="")])
    assert decision.creates_contact


def test_aware_and_missing_dates():
    paris = datetime.timezone(datetime.timedelta(hours=1))
    early = Candidate(CONTACT, 2, "early", JANE, datetime.datetime(2026, 1, 1, 9, 30, tzinfo=paris))
    late = Candidate(CONTACT, 1, "late", JANE, datetime.datetime(2026, 1, 1, 9, 0,
                                                                 tzinfo=datetime.timezone.utc))
    undated = Candidate(CONTACT, 0, "undated", JANE, None)
    assert qualify.rank(JANE, [undated, late, early]).target == early


def test_rules_as_data_end_with_creating_a_contact():
    assert [r.code for r in qualify.PRECEDENCE] == ["lead", "contact", "create_contact"]
    assert [r.kind for r in qualify.PRECEDENCE] == [LEAD, CONTACT, None]
    assert all(r.description for r in qualify.PRECEDENCE)


# -- who the mail is qualified by ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Jane Doe <Jane@Example.com>", ("Jane Doe", JANE)),
    ("jane@example.com", (JANE, JANE)),
    ("Jane@Example.com", ("Jane@Example.com", JANE)),
    ('"Doe,   Jane" <jane@example.com>, bob@example.com', ("Doe, Jane", JANE)),
    ("Élodie Dupré <elodie@example.fr>", ("Élodie Dupré", "elodie@example.fr")),
])
def test_parse_party(text, expected):
    party = qualify.parse_party(text)
    assert (party.name, party.address, party.basis) == (*expected, qualify.BASIS_SENDER)


def test_parse_party_without_address():
    assert qualify.parse_party("") is None
    assert qualify.parse_party("undisclosed-recipients:;") is None


def test_counterpart_is_the_sender_of_received_mail():
    party = qualify.counterpart("Jane <jane@example.com>", "me@example.com", "",
                                own_addresses=["Me@example.com"])
    assert (party.address, party.basis) == (JANE, qualify.BASIS_SENDER)


def test_counterpart_of_sent_mail_is_the_first_other_recipient():
    party = qualify.counterpart("Me <ME@example.com>", "me@example.com, Bob <Bob@example.org>",
                                "cc@example.net", own_addresses=["me@example.com"])
    assert (party.name, party.address, party.basis) == ("Bob", "bob@example.org",
                                                        qualify.BASIS_RECIPIENT)
    party = qualify.counterpart("me@example.com", "", "Carol <carol@example.net>",
                                own_addresses=["me@example.com"])
    assert party.address == "carol@example.net"
    # a note to self stays with the sender
    party = qualify.counterpart("me@example.com", "me@example.com", "",
                                own_addresses=["me@example.com"])
    assert (party.address, party.basis) == ("me@example.com", qualify.BASIS_SENDER)


def test_thread_references_nearest_first():
    refs = qualify.thread_references(
        "<parent@x>", "<root@x> <middle@x>\r\n <parent@x><extra@x>")
    assert refs == ["<parent@x>", "<extra@x>", "<middle@x>", "<root@x>"]
    assert qualify.thread_references("", "") == []
    assert qualify.thread_references(None, "garbage <> <a@b>") == ["<a@b>"]


# -- beside the rules: the company of the domain ---------------------------------------------------

def company_contact(company_id, email, name="ACME", created=0):
    return qualify.CompanyContact(company_id, name, day(created), email)


def test_company_domain_is_the_part_after_the_at_in_lower_case():
    assert qualify.company_domain("Jane Doe <Jane@ACME.example>") == "acme.example"
    assert qualify.company_domain("nobody") == ""
    assert qualify.company_domain("") == ""


@pytest.mark.parametrize("address", ["jane@gmail.com", "Jane <JANE@GMail.com>",
                                     "x@yahoo.fr", "y@outlook.com", "z@proton.me"])
def test_no_company_for_a_public_domain(address):
    assert qualify.company_domain(address) == ""


def test_the_administrators_public_domains_count_too():
    assert qualify.company_domain("a@isp.example") == "isp.example"
    assert qualify.company_domain("a@isp.example", ["ISP.example "]) == ""


def test_the_company_with_most_contacts_at_the_domain_wins():
    choice = qualify.pick_company("acme.example", [
        company_contact(1, "a@acme.example", "Old ACME", created=-10),
        company_contact(2, "b@acme.example", "ACME"),
        company_contact(2, "C@ACME.example", "ACME"),
        company_contact(3, "d@other.example", "Other"),
        company_contact(3, "e@other.example", "Other"),
        company_contact(3, "f@other.example", "Other"),
    ])
    assert choice == qualify.CompanyChoice(2, "ACME", 2)


def test_equal_counts_the_first_created_company_wins_then_the_lowest_id():
    contacts = [company_contact(5, "a@acme.example", "Five", created=3),
                company_contact(4, "b@acme.example", "Four", created=1)]
    assert qualify.pick_company("acme.example", contacts).company_id == 4
    same_day = [company_contact(9, "a@acme.example", "Nine"),
                company_contact(8, "b@acme.example", "Eight")]
    assert qualify.pick_company("acme.example", same_day).company_id == 8


def test_no_domain_or_no_contact_there_no_company():
    assert qualify.pick_company("", [company_contact(1, "a@acme.example")]) is None
    assert qualify.pick_company("acme.example", [company_contact(1, "a@other.example")]) is None
    # a subdomain is another domain
    assert qualify.pick_company("acme.example", [company_contact(1, "a@eu.acme.example")]) \
        is None
