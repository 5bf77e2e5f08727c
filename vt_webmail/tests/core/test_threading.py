"""core.threading: conversations by JWZ, incremental, independent of the order mail arrives."""

import datetime
import random

import pytest

from vt_webmail.core.threading import Mail, Threader, parse_ids, subject_key, thread

T0 = datetime.datetime(2026, 3, 1, 9, 0)


def day(n):
    return T0 + datetime.timedelta(days=n)


def mail(key, mid, refs="", irt="", subject="", when=0):
    return Mail(key, f"<{mid}>" if mid else "", irt, refs, subject, day(when))


def groups(conversations):
    """The partition of mail keys, whatever the conversation keys are."""
    by_conv = {}
    for key, conv in conversations.items():
        by_conv.setdefault(conv, set()).add(key)
    return sorted(sorted(group) for group in by_conv.values())


# -- headers -------------------------------------------------------------------------------


def test_parse_ids():
    assert parse_ids("<a@x> <b@y>\r\n\t<c@z>") == ["a@x", "b@y", "c@z"]
    assert parse_ids("bare@host") == ["bare@host"]
    assert parse_ids("no id here") == []
    assert parse_ids("<> < > <ok@x>") == ["ok@x"]
    assert parse_ids("") == []


@pytest.mark.parametrize(("subject", "expected"), [
    ("Hello", ("hello", None)),
    ("Re: Hello", ("hello", "reply")),
    ("RE: re: Hello", ("hello", "reply")),
    ("Re[2]: Hello", ("hello", "reply")),
    ("AW: Hello", ("hello", "reply")),
    ("Sv: Hello", ("hello", "reply")),
    ("Fwd: Hello", ("hello", "forward")),
    ("Fw: Re: Hello", ("hello", "forward")),
    ("WG: Hello", ("hello", "forward")),
    ("[dev] Re: [dev] Hello   world ", ("hello world", "reply")),
    ("Re:", ("", "reply")),
    ("[only a tag]", ("[only a tag]", None)),
    ("Rebooting the server", ("rebooting the server", None)),
])
def test_subject_key(subject, expected):
    assert subject_key(subject) == expected


# -- references ----------------------------------------------------------------------------


def test_reply_chain_is_one_conversation_in_reading_order():
    mails = [
        mail(1, "a@x", subject="Plan", when=0),
        mail(2, "b@x", refs="<a@x>", subject="Re: Plan", when=1),
        mail(3, "c@x", refs="<a@x> <b@x>", subject="Re: Plan", when=2),
        mail(4, "d@x", refs="<a@x>", subject="Re: Plan", when=3),
        mail(5, "e@x", subject="Other", when=1),
    ]
    threader = Threader()
    threader.add(mails)
    assert groups(threader.conversations()) == [[1, 2, 3, 4], [5]]
    assert threader.tree(threader.conversation(1)) == [(1, 0), (2, 1), (3, 2), (4, 1)]
    assert threader.members(threader.conversation(3)) == [1, 2, 3, 4]


def test_in_reply_to_alone_links_and_references_win_over_it():
    mails = [
        mail(1, "a@x", when=0),
        mail(2, "b@x", irt="<a@x> (sent by someone)", when=1),
        mail(3, "c@x", refs="<b@x>", irt="<zzz@x>", when=2),
    ]
    threader = Threader()
    threader.add(mails)
    assert groups(threader.conversations()) == [[1, 2, 3]]
    assert threader.tree(threader.conversation(1)) == [(1, 0), (2, 1), (3, 2)]


def test_missing_parent_holds_its_children_together():
    # the original was never cached: two replies to it are still one conversation, siblings
    mails = [
        mail(1, "r1@x", refs="<lost@x>", subject="Re: Lost", when=1),
        mail(2, "r2@x", refs="<lost@x>", subject="Re: Lost", when=2),
        mail(3, "r3@x", refs="<lost@x> <r2@x>", when=3),
    ]
    threader = Threader()
    threader.add(mails)
    assert groups(threader.conversations()) == [[1, 2, 3]]
    # the empty container is pruned, its children promoted
    assert threader.tree(threader.conversation(1)) == [(1, 0), (2, 0), (3, 1)]
    # the original arriving later keeps the conversation and becomes its root
    update = threader.add([mail(4, "lost@x", subject="Lost", when=0)])
    assert groups(threader.conversations()) == [[1, 2, 3, 4]]
    assert threader.tree(threader.conversation(4)) == [(4, 0), (1, 1), (2, 1), (3, 2)]
    # the oldest mail changed: the conversation's key did, and every mail of it is reported
    assert set(update.conversations) == {1, 2, 3, 4}
    assert len(update.removed) == 1 and len(update.changed) == 1


def test_broken_references_never_lose_or_loop():
    mails = [
        mail(1, "a@x", when=0),
        mail(2, "b@x", refs="garbage without brackets <> <a@x", when=1),
        mail(3, "c@x", refs="<a@x> <a@x> <c@x> <b@x>", when=2),  # repeats and itself
        mail(4, "", refs="<c@x>", when=3),  # no Message-Id of its own
        mail(5, "", refs="<c@x>", when=4),
        mail(6, "e@x", refs="<" + "x" * 5000 + "@x>", when=5),
    ]
    threader = Threader()
    threader.add(mails)
    assert groups(threader.conversations()) == [[1, 2, 3, 4, 5], [6]]
    assert sorted(key for key, _depth in threader.tree(threader.conversation(1))) == [1, 2, 3, 4, 5]


def test_cyclic_references_are_one_conversation():
    mails = [
        mail(1, "a@x", refs="<b@x>", when=0),
        mail(2, "b@x", refs="<c@x>", when=1),
        mail(3, "c@x", refs="<a@x>", when=2),
        mail(4, "d@x", refs="<d@x>", when=3),  # its own parent
    ]
    threader = Threader()
    threader.add(mails)
    assert groups(threader.conversations()) == [[1, 2, 3], [4]]
    tree = threader.tree(threader.conversation(1))
    # in date order a -> b, then b -> c; c -> a would close the loop and is not made
    assert tree == [(3, 0), (2, 1), (1, 2)]
    assert threader.tree(threader.conversation(4)) == [(4, 0)]


def test_duplicate_message_ids_and_the_same_mail_in_two_folders():
    inbox = mail(1, "a@x", subject="Offer", when=0)
    archive = mail(2, "a@x", subject="Offer", when=0)  # the same mail copied to Archive
    sent = mail(3, "s@me", refs="<a@x>", subject="Re: Offer", when=1)  # my reply, in Sent
    clash = mail(4, "a@x", subject="Unrelated, same broken id", when=5)
    threader = Threader()
    threader.add([inbox, archive, sent, clash])
    assert groups(threader.conversations()) == [[1, 2, 3, 4]]
    tree = threader.tree(threader.conversation(1))
    # the copies follow each other at the same depth; nothing is lost
    assert tree[:2] == [(1, 0), (2, 0)] and sorted(tree) == [(1, 0), (2, 0), (3, 1), (4, 0)]
    # a copy leaving (moved out, expunged) leaves the other and the reply together
    threader.remove([1, 4])
    assert groups(threader.conversations()) == [[2, 3]]
    threader.remove([2])
    assert groups(threader.conversations()) == [[3]]


# -- subjects ------------------------------------------------------------------------------


def test_subject_merges_only_reference_less_replies():
    mails = [
        mail(1, "o@x", subject="Quarterly report", when=0),
        mail(2, "r@x", subject="Re: Quarterly report", when=1),  # no headers: joins by subject
        mail(3, "g@x", subject="AW: quarterly  REPORT", when=2),  # German client, same
        mail(4, "f@x", subject="Fwd: Quarterly report", when=3),  # a forward starts anew
        mail(5, "s@x", subject="Quarterly report", when=4),  # no prefix: never by subject
        mail(6, "t@x", refs="<elsewhere@x>", subject="Re: Quarterly report", when=5),
        mail(7, "e1@x", subject="Re:", when=6),  # empty subjects never merge
        mail(8, "e2@x", subject="Re: ", when=7),
    ]
    assert groups(thread(mails)) == [[1, 2, 3], [4], [5], [6], [7], [8]]


def test_subject_reply_joins_the_newest_earlier_mail_and_not_a_later_one():
    mails = [
        mail(1, "jan@x", subject="Hello", when=0),
        mail(2, "mar@x", subject="Hello", when=60),
        mail(3, "feb@x", subject="Re: Hello", when=30),
        mail(4, "early@x", subject="Re: Hello", when=-10),  # before any original: alone
        mail(5, "apr@x", subject="[list] Re: Hello", when=90),
    ]
    assert groups(thread(mails)) == [[1, 3], [2, 5], [4]]


def test_subject_link_moves_when_an_earlier_original_arrives_and_leaves():
    threader = Threader()
    threader.add([mail(1, "a@x", subject="Lunch", when=0),
                  mail(2, "b@x", subject="Re: Lunch", when=10)])
    assert groups(threader.conversations()) == [[1, 2]]
    update = threader.add([mail(3, "c@x", subject="Lunch", when=5)])
    assert groups(threader.conversations()) == [[1], [2, 3]]
    assert set(update.conversations) == {2, 3}
    update = threader.remove([3])
    assert groups(threader.conversations()) == [[1, 2]]
    assert update.conversations == {3: None, 2: threader.conversation(1)}


# -- incremental -------------------------------------------------------------------------


def random_corpus(rng, count):
    """Threads with missing, broken and cyclic references, copies and subject replies."""
    mails = []
    ids = []
    subjects = ["Plan", "Budget", "Hello", "Trip", "", "Report"]
    for key in range(count):
        mid = f"m{rng.randrange(count * 2 // 3)}@x" if rng.random() < 0.95 else ""
        subject = rng.choice(subjects)
        refs = ""
        roll = rng.random()
        if ids and roll < 0.5:
            chain = rng.sample(ids, min(len(ids), rng.randint(1, 4)))
            refs = " ".join(f"<{i}>" for i in chain)
            subject = f"Re: {subject}"
        elif roll < 0.55:
            refs = f"<ghost{rng.randrange(5)}@x>"
        elif roll < 0.75:
            subject = rng.choice(["Re: ", "AW: ", "Fwd: ", "[dev] Re: "]) + subject
        elif roll < 0.78:
            refs = "<broken"
        mails.append(Mail(key, f"<{mid}>" if mid else "", "", refs, subject,
                          day(rng.randrange(40)) if rng.random() < 0.97 else None))
        if mid:
            ids.append(mid)
    return mails


def test_incremental_equals_from_scratch_on_random_orders():
    rng = random.Random(13)
    for _round in range(40):
        mails = random_corpus(rng, rng.randint(5, 120))
        expected = thread(mails)
        threader = Threader()
        order = mails[:]
        rng.shuffle(order)
        position = 0
        reported = {}
        while position < len(order):
            step = rng.randint(1, 7)
            update = threader.add(order[position:position + step])
            reported.update(update.conversations)
            position += step
            # a mail sometimes leaves and comes back (a move, an expunge and a re-sync)
            if rng.random() < 0.3:
                gone = rng.sample(order[:position], min(position, rng.randint(1, 3)))
                reported.update(threader.remove([m.key for m in gone]).conversations)
                reported.update(threader.add(gone).conversations)
        assert threader.conversations() == expected
        # what the updates reported, applied in order, is the state
        assert {key: conv for key, conv in reported.items() if conv} == expected
        # removing then gives what a from-scratch run of the rest gives
        kept = rng.sample(mails, len(mails) // 2)
        kept_keys = {m.key for m in kept}
        threader.remove([m.key for m in mails if m.key not in kept_keys])
        assert threader.conversations() == thread(kept)
        assert groups(threader.conversations()) == groups(thread(kept))
        # and every tree holds each mail once
        for conv in set(threader.conversations().values()):
            keys = [key for key, _depth in threader.tree(conv)]
            assert sorted(keys) == sorted(threader.members(conv))


def test_update_reports_only_what_changed():
    threader = Threader()
    threader.add([mail(k, f"m{k}@x", subject=f"s{k}", when=k) for k in range(100)])
    before = threader.conversations()
    update = threader.add([mail(1000, "n@x", refs="<m7@x>", when=200)])
    assert update.conversations == {1000: before[7]}
    assert update.changed == {before[7]} and update.removed == set()
    # a mail that joins two conversations: the younger one's mails change key
    update = threader.add([mail(1001, "j@x", refs="<m3@x> <m9@x>", when=201)])
    assert update.conversations == {9: before[3], 1001: before[3]}
    assert update.changed == {before[3]} and update.removed == {before[9]}
    # removing the bridge splits them again
    update = threader.remove([1001])
    assert update.conversations == {1001: None, 9: before[9]}
    assert update.changed == {before[3], before[9]}
