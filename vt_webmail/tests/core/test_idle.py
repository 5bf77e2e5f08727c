"""core.idle against a real Dovecot: IDLE sees new mail within the debounce, many watchers in one
event loop, re-IDLE, and every way of failing is typed."""

import asyncio
import threading
import time

import pytest

from vt_webmail.core import exceptions
from vt_webmail.core.idle import IdleConnection, IdleUnsupported
from vt_webmail.core.imap_session import ServerSettings
from vt_webmail.testing import DovecotServer


def settings_for(mailbox, security="ssl", **overrides):
    server = mailbox.server
    values = {"host": server.hostname,
              "port": server.imaps_port if security == "ssl" else server.imap_port,
              "login": mailbox.login, "password": mailbox.password, "security": security,
              "ca_pem": server.ca_path.read_text(), "timeout": 5}
    values.update(overrides)
    return ServerSettings(**values)


def watch(settings_list, action, *, timeout=10, settle=0, **kwargs):
    """Run one IdleConnection per settings in one loop, run ``action()`` in a thread once all
    are idling, and return ({index: time of the first change after the action}, connections)."""
    seen = {}

    async def main():
        loop = asyncio.get_running_loop()
        connections = []
        for index, settings in enumerate(settings_list):
            def changed(index=index):
                seen.setdefault(index, time.monotonic())
            connections.append(IdleConnection(settings, on_change=changed, **kwargs))
        await asyncio.gather(*(connection.open() for connection in connections))
        tasks = [asyncio.create_task(_idle_forever(connection)) for connection in connections]
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await loop.run_in_executor(None, action)
        deadline = time.monotonic() + timeout
        while len(seen) < len(connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(connection.close() for connection in connections))
        return {index: at - started for index, at in seen.items()}, connections

    return asyncio.run(main())


async def _idle_forever(connection):
    while True:
        await connection.idle_once()


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_new_mail_is_seen_within_a_second(mailbox, security):
    seen, [connection] = watch([settings_for(mailbox, security)],
                               lambda: mailbox.append(b"Subject: new\r\n\r\nx\r\n"))
    assert 0 in seen and seen[0] < 1.5
    assert "IDLE" in connection.capabilities


def test_flags_and_expunges_are_changes_too(mailbox):
    uid = mailbox.append(b"Subject: one\r\n\r\nx\r\n")

    def flag_then_expunge():
        client = mailbox.client()
        client.select_folder("INBOX")
        client.add_flags([uid], [b"\\Flagged"])
        time.sleep(1)  # Dovecot tells IDLE clients after 0.5 s: the flag, then the expunge
        client.delete_messages([uid])
        client.expunge()
        client.logout()

    seen, [connection] = watch([settings_for(mailbox)], flag_then_expunge, settle=1.5)
    assert 0 in seen
    # FETCH (the flag), EXPUNGE; the folder's state at EXAMINE is not a change
    assert connection.changes >= 2


def test_many_mailboxes_one_loop(dovecot):
    mailboxes = []
    for number in range(40):
        login = f"idle{number}-{time.monotonic_ns()}"
        dovecot.add_user(login, "pw")
        mailboxes.append((login, "pw"))

    def deliver():
        for login, _password in mailboxes:
            dovecot.append(login, "INBOX", b"Subject: hi\r\n\r\nx\r\n")

    settings = [ServerSettings(dovecot.hostname, dovecot.imaps_port, login, password,
                               ca_pem=dovecot.ca_path.read_text(), timeout=5)
                for login, password in mailboxes]
    seen, _connections = watch(settings, deliver, timeout=15)
    assert len(seen) == len(mailboxes)
    assert max(seen.values()) < 5


def test_idle_is_issued_again(mailbox):
    settings = settings_for(mailbox)

    async def main():
        connection = IdleConnection(settings, reidle_after=0.3)
        await connection.open()
        try:
            for _ in range(3):
                await connection.idle_once()  # DONE, tagged OK, each time
        finally:
            await connection.close()
        return connection

    connection = asyncio.run(main())
    assert connection.idles == 3


def test_a_server_without_idle_is_said_so():
    with DovecotServer(capabilities=["IMAP4rev1", "LITERAL+", "UIDPLUS"]) as server:
        server.add_user("old", "pw")
        settings = ServerSettings(server.hostname, server.imaps_port, "old", "pw",
                                  ca_pem=server.ca_path.read_text(), timeout=5)
        with pytest.raises(IdleUnsupported):
            asyncio.run(IdleConnection(settings).run())


def test_failures_are_typed(mailbox):
    with pytest.raises(exceptions.LoginRejected):
        asyncio.run(IdleConnection(settings_for(mailbox, password="wrong")).run())
    with pytest.raises(exceptions.CertificateUntrusted):
        asyncio.run(IdleConnection(settings_for(
            mailbox, ca_pem=mailbox.server.pki.unknown_ca_path.read_text())).run())
    # a password that needs a literal (8-bit) is sent as one
    with pytest.raises(exceptions.LoginRejected):
        asyncio.run(IdleConnection(settings_for(mailbox, password="pässwörd\"")).run())


def test_the_server_going_away_ends_the_watch():
    with DovecotServer() as server:
        server.add_user("u", "p")
        settings = ServerSettings(server.hostname, server.imaps_port, "u", "p",
                                  ca_pem=server.ca_path.read_text(), timeout=5)
        killer = threading.Timer(0.5, server.kill)
        killer.start()
        started = time.monotonic()
        with pytest.raises(exceptions.ServerGone):
            asyncio.run(IdleConnection(settings).run())
        assert time.monotonic() - started < 5
        killer.join()


def test_oauth_login(oauth_server_and_dovecot):
    oauth_server, dovecot = oauth_server_and_dovecot
    dovecot.add_user("jane@example.com", "unused")
    token = oauth_server.issue_tokens("jane@example.com")["access_token"]
    settings = ServerSettings(dovecot.hostname, dovecot.imaps_port, "jane@example.com", "",
                              ca_pem=dovecot.ca_path.read_text(), timeout=5, access_token=token)
    seen, _ = watch([settings], lambda: dovecot.append("jane@example.com", "INBOX",
                                                       b"Subject: t\r\n\r\nx\r\n"))
    assert 0 in seen
    oauth_server.revoke(identity="jane@example.com")
    with pytest.raises(exceptions.TokenRejected):
        asyncio.run(IdleConnection(settings).run())


@pytest.fixture
def oauth_server_and_dovecot():
    from vt_webmail.testing import OAuthServer

    with OAuthServer() as oauth_server, DovecotServer(oauth=oauth_server) as dovecot:
        yield oauth_server, dovecot


def _rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_a_thousand_watchers_fit_in_little_memory():
    """Each TLS watcher costs what OpenSSL keeps, not asyncio's 256 KB read buffer: 200 of them
    well under 20 MB (asyncio's TLS transport: over 50 MB)."""
    count = 200
    with DovecotServer(max_connections=count + 20) as server:
        for number in range(count):
            server.add_user(f"m{number}", "pw")
        ca_pem = server.ca_path.read_text()

        async def main():
            connections = [IdleConnection(ServerSettings(server.hostname, server.imaps_port,
                                                         f"m{number}", "pw", ca_pem=ca_pem,
                                                         timeout=30))
                           for number in range(count)]
            before = _rss_kb()
            limit = asyncio.Semaphore(20)

            async def open_one(connection):
                async with limit:
                    await connection.open()

            await asyncio.gather(*(open_one(connection) for connection in connections))
            tasks = [asyncio.create_task(_idle_forever(connection))
                     for connection in connections]
            await asyncio.sleep(1)
            grown = _rss_kb() - before
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(connection.close() for connection in connections))
            return grown, sum(connection.idles for connection in connections)

        grown, idles = asyncio.run(main())
    assert idles == count  # every one of them idling
    assert grown < 20 * 1024, f"{grown} KB for {count} watchers"
