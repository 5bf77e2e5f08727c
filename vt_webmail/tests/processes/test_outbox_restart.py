"""A mail scheduled for later survives a restart of Odoo: scheduled while one Odoo server runs,
that server killed (-9) before the mail is due, a new server started, and the real SMTP server
receives the mail once, from the new server's scheduled action (the Outbox is in the
database, not in a process)."""

import datetime
import time

from vt_webmail.testing import free_port
from vt_webmail.testing.smtpd import SMTPServer
from vt_webmail.tests.processes.harness import wait_for

SMTP_LOGIN, SMTP_PASSWORD = "sender", "outbox-secret"


def utcnow():
    """Naive UTC, as Odoo stores datetimes."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def start_server(odoo_db, label):
    server = odoo_db.start("--http-interface=127.0.0.1", f"--http-port={free_port()}",
                           "--max-cron-threads=1", "--log-level=info", label=label)
    assert wait_for(lambda: "HTTP service (werkzeug) running" in server.log()
                    or not server.running(), 120), server.log()
    assert server.running(), server.log()
    return server


def test_scheduled_mail_survives_a_restart(odoo_db, dovecot, mail_accounts):
    with SMTPServer({SMTP_LOGIN: SMTP_PASSWORD}, pki=dovecot.pki) as smtp:
        [(account_id, _login)] = mail_accounts(
            1, smtp_host=smtp.hostname, smtp_port=smtp.port, smtp_security="starttls",
            smtp_login=SMTP_LOGIN, smtp_password=SMTP_PASSWORD)
        first = start_server(odoo_db, "before-restart")
        with odoo_db.env() as env:
            account = env["vt_webmail.account"].browse(account_id)
            due = utcnow().replace(microsecond=0) + datetime.timedelta(seconds=8)
            result = account.with_user(account.user_id).send_mail(
                "alice@example.org", "Sent after a restart", "<p>Scheduled</p>",
                send_at=due.strftime("%Y-%m-%d %H:%M:%S"))
            outbox_id = result["outbox_id"]
        first.kill()  # no clean-up of any kind, before the mail is due
        assert smtp.messages == []
        assert odoo_db.sql("SELECT state FROM vt_webmail_outbox WHERE id = %s",
                           (outbox_id,)) == [("queued",)]

        while utcnow() < due + datetime.timedelta(seconds=1):
            time.sleep(0.5)
        second = start_server(odoo_db, "after-restart")
        with odoo_db.env() as env:
            # as soon as possible, rather than at the job's next minute
            env.ref("vt_webmail.ir_cron_send_outbox")._trigger()
        assert wait_for(lambda: smtp.messages, 120), second.log()
        assert wait_for(lambda: odoo_db.sql(
            "SELECT state FROM vt_webmail_outbox WHERE id = %s", (outbox_id,)) == [("sent",)],
            30), second.log()
        [received] = smtp.messages
        assert received.rcpt_tos == ["alice@example.org"]
        assert b"Sent after a restart" in received.data
        assert second.stop() == 0
        # sent once: nothing more arrives
        time.sleep(1)
        assert len(smtp.messages) == 1
