"""core.session_scope against a real Dovecot: one login per request, counted in its log."""

import time

import pytest

from vt_webmail.core import exceptions
from vt_webmail.core.imap_session import ServerSettings, connect
from vt_webmail.core.session_scope import SessionScope


def settings_for(mailbox):
    server = mailbox.server
    return ServerSettings(server.hostname, server.imaps_port, mailbox.login, mailbox.password,
                          ca_pem=server.ca_path.read_text(), timeout=5)


def logins(mailbox, expected=None):
    """The mailbox's logins in Dovecot's log (which is written a moment after the login)."""
    deadline = time.monotonic() + 3
    count = mailbox.server.logins(mailbox.login)
    while expected is not None and count != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = mailbox.server.logins(mailbox.login)
    return count


def test_outside_a_request_each_borrow_logs_in_and_out(mailbox):
    scope = SessionScope()
    settings = settings_for(mailbox)
    for _ in range(2):
        with scope.borrow("account", lambda: connect(settings)) as session:
            session.select("INBOX")
        assert session.client._imap.state == "LOGOUT"
    assert logins(mailbox, 2) == 2


def test_a_request_logs_in_once_per_key_and_out_at_its_end(mailbox, dovecot):
    other = mailbox.server.add_user  # a second mailbox, a second key
    second_login = f"{mailbox.login}-b"
    other(second_login, "pw")
    second = ServerSettings(dovecot.hostname, dovecot.imaps_port, second_login, "pw",
                            ca_pem=dovecot.ca_path.read_text(), timeout=5)
    scope = SessionScope()
    settings = settings_for(mailbox)
    mailbox.append(b"Subject: one\r\n\r\nx\r\n")  # logs in too
    before = logins(mailbox)
    with scope.request():
        with scope.borrow("a", lambda: connect(settings)) as first:
            assert first.select("INBOX").exists == 1
        # a request inside a request is the outer one
        with scope.request(), scope.borrow("a", lambda: connect(settings)) as again:
            assert again is first
            again.select("INBOX", readonly=False)
        with scope.borrow("b", lambda: connect(second)) as other_session:
            assert other_session is not first
        assert scope.open_count() == 2
        assert first.client._imap.state == "SELECTED"  # still logged in
    assert scope.open_count() == 0
    assert first.client._imap.state == "LOGOUT"
    assert logins(mailbox, before + 1) == before + 1
    assert dovecot.logins(second_login) == 1


def test_a_failure_closes_the_session_and_the_next_borrow_logs_in_again(mailbox):
    scope = SessionScope()
    settings = settings_for(mailbox)
    with scope.request():
        with pytest.raises(exceptions.FolderNotFound), \
                scope.borrow("a", lambda: connect(settings)) as session:
            session.select("No such folder")
        assert scope.open_count() == 0
        with scope.borrow("a", lambda: connect(settings)) as fresh:
            assert fresh is not session
            fresh.select("INBOX")
    assert logins(mailbox, 2) == 2


def test_a_refused_login_leaves_nothing_in_the_request(mailbox):
    scope = SessionScope()
    settings = settings_for(mailbox)
    wrong = ServerSettings(settings.host, settings.port, mailbox.login, "wrong",
                           ca_pem=settings.ca_pem, timeout=5)
    with scope.request():
        with pytest.raises(exceptions.LoginRejected), scope.borrow("a", lambda: connect(wrong)):
            pass
        assert scope.open_count() == 0


def test_requests_in_two_threads_do_not_share(mailbox):
    import threading

    scope = SessionScope()
    settings = settings_for(mailbox)
    seen = []

    def work():
        with scope.request(), scope.borrow("a", lambda: connect(settings)) as session:
            seen.append(session)
            time.sleep(0.2)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 2 and seen[0] is not seen[1]
    assert logins(mailbox, 2) == 2
