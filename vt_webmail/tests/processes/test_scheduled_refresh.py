"""The scheduled refresh run by several processes at the same moment (as several Odoo servers
whose cron workers each run it would): every account refreshed once per interval, none twice,
none left out. The ground truth is Dovecot's own log of logins: one per refresh."""

import collections
import re

from vt_webmail.tests.processes.harness import wait_for

LOGIN = re.compile(r"imap-login: (?:Info: )?Login: user=<([^>]+)>")
# what Odoo's cron worker does with the job: run it again, committing in between, while it
# says that accounts remain (each run stops after 10 s)
RACE = """
for _run in range(10):
    env['vt_webmail.account']._cron_refresh()
    env.cr.commit()
    env.invalidate_all()
"""


def logins_since(server, mark, logins):
    """{login: how many times it logged in} in the server's log after ``mark`` characters."""
    text = server.log_path.read_text(errors="replace")[mark:]
    counts = collections.Counter(LOGIN.findall(text))
    return {login: counts.get(login, 0) for login in logins}


def log_size(server):
    return len(server.log_path.read_text(errors="replace"))


def race(odoo_db, processes=3):
    """Start ``processes`` processes that each run the scheduled refresh once, at once."""
    started = [odoo_db.start_script(RACE, label=f"cron{number}") for number in range(processes)]
    for process in started:
        assert process.wait(300) == 0, process.log()[-3000:]
    return started


def test_processes_running_the_scheduled_refresh_at_once_share_the_accounts(
        odoo_db, dovecot, mail_accounts):
    accounts = mail_accounts(30, refresh_interval=5)
    logins = [login for _account, login in accounts]
    ids = [account for account, _login in accounts]

    mark = log_size(dovecot)
    processes = race(odoo_db)
    # each account refreshed exactly once, by whichever process got to it first
    assert wait_for(lambda: all(logins_since(dovecot, mark, logins).values()), 10)
    counts = logins_since(dovecot, mark, logins)
    assert set(counts.values()) == {1}, counts
    worked = [process for process in processes
              if re.search(r"Webmail scheduled refresh: [1-9]\d* accounts refreshed",
                           process.log())]
    assert len(worked) >= 2, [process.log()[-2000:] for process in processes]
    assert odoo_db.sql("SELECT count(*) FROM vt_webmail_account WHERE id = ANY(%s) "
                       "AND last_attempt_at IS NOT NULL AND last_error IS NULL", (ids,)) \
        == [(30,)]

    # within the interval: nothing is due, nobody refreshes anything
    mark = log_size(dovecot)
    race(odoo_db)
    assert set(logins_since(dovecot, mark, logins).values()) == {0}

    # the interval elapsed (for half of them): those once more, the others not
    odoo_db.sql("UPDATE vt_webmail_account SET last_attempt_at = last_attempt_at "
                "- interval '5 minutes' WHERE id = ANY(%s)", (ids[:15],))
    mark = log_size(dovecot)
    race(odoo_db)
    assert wait_for(lambda: all(logins_since(dovecot, mark, logins[:15]).values()), 10)
    counts = logins_since(dovecot, mark, logins)
    assert [counts[login] for login in logins] == [1] * 15 + [0] * 15, counts
