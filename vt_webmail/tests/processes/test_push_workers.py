"""The push worker as an administrator runs it (``odoo-bin vt_webmail_idle``), against real
Dovecot and PostgreSQL: mail in the cache within seconds, workers sharing the accounts, a
worker killed with -9, accounts archived or with a changed password, servers without IDLE or
that drop the connection, and the in-server mode."""

import json
import logging
import time

from vt_webmail.testing import DovecotServer
from vt_webmail.tests.processes.harness import raw_mail, wait_for

_logger = logging.getLogger(__name__)

#: what the tests allow for a mail to reach the cache (the target is 2 s; the machine is shared)
PUSHED_WITHIN = 10


def deliver(server, logins, subject="pushed"):
    """One new mail per mailbox; return {login: Message-Id}."""
    sent = {}
    for login in logins:
        message_id, data = raw_mail(subject)
        server.append(login, "INBOX", data)
        sent[login] = message_id
    return sent


def logs_in(server, login):
    try:
        server.client(login).logout()
    except Exception:  # refused: not yet
        return False
    return True


def cached(odoo_db, accounts):
    """{Message-Id: number of copies} in the cache of ``accounts`` [(id, login)]."""
    counts = {}
    for _account, message_id in odoo_db.message_ids([account for account, _ in accounts]):
        counts[message_id] = counts.get(message_id, 0) + 1
    return counts


def all_cached_once(odoo_db, accounts, sent):
    counts = cached(odoo_db, accounts)
    return all(counts.get(message_id) == 1 for message_id in sent.values())


def watched_by(odoo_db, accounts, worker=None):
    holders = odoo_db.watchers()
    ids = {account for account, _ in accounts}
    return {account for account, pid in holders.items()
            if account in ids and (worker is None or pid == worker.pid)}


def test_new_mail_reaches_the_cache_and_the_owner_in_seconds(odoo_db, dovecot, mail_accounts):
    accounts = mail_accounts(3)
    worker = odoo_db.start_worker()
    assert wait_for(lambda: len(watched_by(odoo_db, accounts, worker)) == 3, 60), worker.log()
    # the first sync of each account (a full refresh: it lists the folders, commits them,
    # then syncs each folder) is over: a mail delivered before its end is the refresh's
    assert wait_for(lambda: odoo_db.sql(
        "SELECT count(*) FROM vt_webmail_account WHERE id = ANY(%s) AND last_sync_at IS NOT NULL",
        ([account for account, _ in accounts],))[0][0] == 3, 30), worker.log()
    started = time.monotonic()
    sent = deliver(dovecot, [accounts[1][1]])
    assert wait_for(lambda: all_cached_once(odoo_db, accounts, sent), PUSHED_WITHIN), \
        worker.log()
    took = time.monotonic() - started
    _logger.info("pushed in %.2f s", took)
    # the owner's browser was told, on the bus (committed just after the mail it tells of)
    def told():
        return odoo_db.sql(
            "SELECT message FROM bus_bus WHERE message::json->>'type' = 'vt_webmail.refreshed' "
            "AND (message::json->'payload'->>'account_id')::int = %s ORDER BY id DESC LIMIT 1",
            (accounts[1][0],))
    assert wait_for(told, 5), worker.log()
    [(payload,)] = told()
    message = json.loads(payload)["payload"]
    assert message["new"] == 1 and message["push"] is True
    # the other accounts were left alone; nothing was written twice
    assert cached(odoo_db, [accounts[0], accounts[2]]) == {}
    assert worker.running()
    assert worker.stop() == 0
    # a worker that stops lets go of its accounts
    assert not watched_by(odoo_db, accounts)


def test_two_workers_watch_each_account_once(odoo_db, dovecot, mail_accounts):
    accounts = mail_accounts(12)
    first = odoo_db.start_worker(label="first")
    second = odoo_db.start_worker(label="second")
    assert wait_for(lambda: len(watched_by(odoo_db, accounts)) == 12, 60), \
        first.log() + second.log()
    # each once (one lock each), shared: a fair half each (after a rebalance if one started
    # first)
    assert wait_for(lambda: len(watched_by(odoo_db, accounts, first)) == 6
                    and len(watched_by(odoo_db, accounts, second)) == 6, 30), \
        (odoo_db.watchers(), first.log(), second.log())
    time.sleep(3)  # and it stays so
    assert len(watched_by(odoo_db, accounts, first)) == 6
    sent = deliver(dovecot, [login for _account, login in accounts])
    assert wait_for(lambda: all_cached_once(odoo_db, accounts, sent), PUSHED_WITHIN * 2)
    time.sleep(2)
    assert all(count == 1 for count in cached(odoo_db, accounts).values())


def test_a_worker_killed_is_taken_over(odoo_db, dovecot, mail_accounts):
    accounts = mail_accounts(10)
    first = odoo_db.start_worker(label="first")
    second = odoo_db.start_worker(label="second")
    assert wait_for(lambda: len(watched_by(odoo_db, accounts, first)) == 5
                    and len(watched_by(odoo_db, accounts, second)) == 5, 60), \
        (odoo_db.watchers(), first.log(), second.log())
    assert wait_for(lambda: odoo_db.sql(
        "SELECT count(DISTINCT account_id) FROM vt_webmail_folder WHERE account_id = ANY(%s)",
        ([account for account, _ in accounts],))[0][0] == 10, 30)
    orphans = watched_by(odoo_db, accounts, first)
    first.kill()
    killed = time.monotonic()
    # mail delivered to every mailbox while the first worker's half has nobody watching
    sent = deliver(dovecot, [login for _account, login in accounts])
    assert wait_for(lambda: all_cached_once(odoo_db, accounts, sent), 60), second.log()
    took = time.monotonic() - killed
    _logger.info("taken over and caught up in %.1f s", took)
    assert watched_by(odoo_db, accounts, second) == {account for account, _ in accounts}
    assert orphans <= watched_by(odoo_db, accounts, second)
    # and new mail after the takeover is pushed as usual
    more = deliver(dovecot, [login for account, login in accounts if account in orphans])
    assert wait_for(lambda: all_cached_once(odoo_db, accounts, more), PUSHED_WITHIN)
    assert all(count == 1 for count in cached(odoo_db, accounts).values())


def test_an_archived_account_is_no_longer_watched(odoo_db, dovecot, mail_accounts):
    accounts = mail_accounts(2)
    worker = odoo_db.start_worker(rescan=60)  # only NOTIFY can make it see the change fast
    assert wait_for(lambda: len(watched_by(odoo_db, accounts, worker)) == 2, 60), worker.log()
    archived, kept = accounts
    with odoo_db.env() as env:
        env["vt_webmail.account"].browse(archived[0]).active = False
    assert wait_for(lambda: watched_by(odoo_db, accounts) == {kept[0]}, 5), worker.log()
    sent = deliver(dovecot, [archived[1]])
    time.sleep(3)
    assert cached(odoo_db, [archived]).get(sent[archived[1]]) is None
    # and back: watched again, the mail that came meanwhile caught up
    with odoo_db.env() as env:
        env["vt_webmail.account"].browse(archived[0]).active = True
    assert wait_for(lambda: all_cached_once(odoo_db, accounts, sent), PUSHED_WITHIN), \
        worker.log()
    # a new account is watched within seconds too, and a deleted one dropped
    [new] = mail_accounts(1)
    assert wait_for(lambda: new[0] in watched_by(odoo_db, [new], worker), 10), worker.log()
    with odoo_db.env() as env:
        env["vt_webmail.account"].browse(new[0]).unlink()
    assert wait_for(lambda: not watched_by(odoo_db, [new]), 5)


def test_a_password_changed_on_the_server_is_said(odoo_db, dovecot, mail_accounts):
    [account] = mail_accounts(1)
    worker = odoo_db.start_worker()
    assert wait_for(lambda: watched_by(odoo_db, [account], worker), 60), worker.log()
    assert wait_for(lambda: odoo_db.sql(
        "SELECT 1 FROM vt_webmail_folder WHERE account_id = %s", (account[0],)), 30)
    dovecot.add_user(account[1], "a-new-password")  # changed by its owner elsewhere
    assert wait_for(lambda: logs_in(dovecot, account[1]), 5)  # Dovecot rereads it within 1 s
    sent = deliver(dovecot, [account[1]])
    # the watch still holds its session; the sync that the new mail asks for cannot log in
    assert wait_for(lambda: "rejected" in (odoo_db.sql(
        "SELECT last_error FROM vt_webmail_account WHERE id = %s", (account[0],))[0][0]
        or ""), PUSHED_WITHIN), worker.log()
    # the owner types the new password: watched again, the mail arrives, the error goes
    with odoo_db.env() as env:
        env["vt_webmail.account"].browse(account[0]).password = "a-new-password"
    assert wait_for(lambda: all_cached_once(odoo_db, [account], sent), PUSHED_WITHIN), \
        worker.log()
    assert wait_for(lambda: not odoo_db.sql(
        "SELECT last_error FROM vt_webmail_account WHERE id = %s", (account[0],))[0][0], 5)


def test_servers_without_idle_and_servers_that_drop(odoo_db, mail_accounts):
    with DovecotServer(capabilities=["IMAP4rev1", "LITERAL+", "UIDPLUS"]) as old, \
            DovecotServer() as flaky:
        [plain] = mail_accounts(1, server=old)
        [dropping] = mail_accounts(1, server=flaky)
        worker = odoo_db.start_worker()
        assert wait_for(lambda: watched_by(odoo_db, [dropping], worker), 60), worker.log()
        # no IDLE: claimed, found out, let go (the scheduled refresh keeps it)
        assert wait_for(lambda: "offers no IDLE" in worker.log(), 30), worker.log()
        assert not watched_by(odoo_db, [plain])
        with odoo_db.env() as env:
            outcome = env["vt_webmail.account"].browse(plain[0]).action_refresh()
        assert not outcome["error"], outcome
        # the other server goes down and comes back: watched again, mail caught up
        flaky.kill()
        time.sleep(1)
        flaky.start()
        sent = deliver(flaky, [dropping[1]])
        assert wait_for(lambda: all_cached_once(odoo_db, [dropping], sent), 30), worker.log()
        worker.stop()


def test_in_server_mode(odoo_db, dovecot, mail_accounts):
    accounts = mail_accounts(2)
    config = odoo_db.workdir / "push.conf"
    config.write_text("[options]\nvt_webmail_push = True\n")
    from vt_webmail.testing import free_port

    server = odoo_db.start("--http-interface=127.0.0.1", f"--http-port={free_port()}",
                           "--max-cron-threads=0", "--log-level=info", config=config,
                           label="server")
    assert wait_for(lambda: len(watched_by(odoo_db, accounts)) == 2, 90), server.log()
    assert "started in this server" in server.log()
    sent = deliver(dovecot, [login for _account, login in accounts])
    assert wait_for(lambda: all_cached_once(odoo_db, accounts, sent), PUSHED_WITHIN), \
        server.log()
    assert server.stop() == 0
    assert not watched_by(odoo_db, accounts)


def test_in_server_mode_with_workers(odoo_db, dovecot, mail_accounts):
    """The multi-process server: push runs in its cron worker (started by the keep-alive
    scheduled action), never in the master or an HTTP worker."""
    accounts = mail_accounts(2)
    config = odoo_db.workdir / "push-workers.conf"
    config.write_text("[options]\nvt_webmail_push = True\n")
    from vt_webmail.testing import free_port

    with odoo_db.env() as env:
        env.ref("vt_webmail.ir_cron_push_keepalive").active = True
    server = odoo_db.start("--http-interface=127.0.0.1", f"--http-port={free_port()}",
                           "--workers=2", "--max-cron-threads=1", "--log-level=info",
                           config=config, label="prefork")
    assert wait_for(lambda: "WorkerCron" in server.log(), 60), server.log()
    with odoo_db.env() as env:
        env.ref("vt_webmail.ir_cron_push_keepalive")._trigger()  # instead of its next minute
    assert wait_for(lambda: len(watched_by(odoo_db, accounts)) == 2, 120), server.log()
    holders = set(odoo_db.watchers().values())
    assert len(holders) == 1 and server.pid not in holders
    [holder] = holders
    with open(f"/proc/{holder}/stat") as stat:
        assert int(stat.read().rsplit(")", 1)[1].split()[1]) == server.pid  # its child
    sent = deliver(dovecot, [login for _account, login in accounts])
    assert wait_for(lambda: all_cached_once(odoo_db, accounts, sent), PUSHED_WITHIN), \
        server.log()
    assert server.stop() == 0
    assert wait_for(lambda: not watched_by(odoo_db, accounts), 10)
