"""smtp.send against a real aiosmtpd: every security mode, and every way of failing."""

import smtplib
import ssl
import time

import pytest

from vt_webmail.core import compose, exceptions
from vt_webmail.core.mime import parse_message
from vt_webmail.core.smtp import SmtpSettings, error_for, send
from vt_webmail.testing import SilentServer, closed_port, samples
from vt_webmail.testing.smtpd import SMTPServer

PASSWORD = "sender-password"


def _settings(server, **overrides):
    values = {
        "host": server.hostname, "port": server.port, "login": "sender", "password": PASSWORD,
        "security": "starttls", "ca_pem": server.ca_path.read_text(), "timeout": 5,
    }
    values.update(overrides)
    return SmtpSettings(**values)


def _message(**overrides):
    values = {
        "from_addr": "Sender Name <sender@example.com>",
        "to": ["Alice Martin <alice@example.org>"],
        "cc": ["bob@example.org"],
        "bcc": ["hidden@example.net"],
        "subject": "Quarterly report — été",
        "html": "<p>Hello <b>Alice</b>, see the report.</p>",
        "attachments": [("report.pdf", "application/pdf", b"%PDF-1.4\n%fake\n")],
        "domain": "example.com",
    }
    values.update(overrides)
    return compose.build_message(**values)


def _send(settings, message, bcc=("hidden@example.net",)):
    send(settings, message, envelope_from="sender@example.com",
         recipients=compose.recipients(message, bcc=bcc))


def test_starttls_verified_round_trip(smtp_server):
    message = _message()
    _send(_settings(smtp_server), message)

    [received] = smtp_server.wait_for(1)
    assert received.login == "sender"
    assert received.mail_from == "sender@example.com"
    assert received.rcpt_tos == ["alice@example.org", "bob@example.org", "hidden@example.net"]
    assert b"hidden@example.net" not in received.data
    assert b"\nBcc" not in received.data and not received.data.startswith(b"Bcc")
    parsed = parse_message(received.data)
    assert parsed.headers.subject == "Quarterly report — été"
    assert parsed.headers.email_from == "Sender Name <sender@example.com>"
    assert parsed.headers.email_to == "Alice Martin <alice@example.org>"
    assert parsed.headers.email_cc == "bob@example.org"
    assert parsed.headers.message_id == message["Message-ID"]
    assert parsed.html.strip() == "<p>Hello <b>Alice</b>, see the report.</p>"
    assert parsed.text.strip() == "Hello Alice, see the report."
    [attachment] = parsed.attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        "report.pdf", "application/pdf", b"%PDF-1.4\n%fake\n")
    assert parsed.notes == []


def test_implicit_tls_round_trip():
    with SMTPServer({"sender": PASSWORD}, implicit_tls=True) as server:
        _send(_settings(server, security="ssl"), _message(subject="over implicit TLS"))
        [received] = server.wait_for(1)
    assert received.login == "sender"
    assert parse_message(received.data).headers.subject == "over implicit TLS"


def test_plain_connection_with_login(smtp_server):
    _send(_settings(smtp_server, security="none", ca_pem=None), _message(subject="in clear"))
    [received] = smtp_server.wait_for(1)
    assert received.login == "sender"
    assert parse_message(received.data).headers.subject == "in clear"


def test_no_login_when_none_given():
    with SMTPServer({"sender": PASSWORD}, auth_required=False) as server:
        _send(_settings(server, login=None, password=None), _message(subject="relay"))
        [received] = server.wait_for(1)
    assert received.login is None
    assert received.rcpt_tos[-1] == "hidden@example.net"


def test_bytes_message_loses_its_bcc_header(smtp_server):
    raw = (b"From: sender@example.com\nTo: alice@example.org\nBcc: hidden@example.net,\n"
           b" other@example.net\nSubject: raw bytes\n\nline one\n.leading dot\n")
    send(_settings(smtp_server), raw, envelope_from="sender@example.com",
         recipients=["alice@example.org", "hidden@example.net", "other@example.net"])
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ["alice@example.org", "hidden@example.net", "other@example.net"]
    assert received.data == (b"From: sender@example.com\r\nTo: alice@example.org\r\n"
                             b"Subject: raw bytes\r\n\r\nline one\r\n.leading dot\r\n")


def test_wrong_password_is_rejected_without_leaking_it(smtp_server):
    settings = _settings(smtp_server, password="not-the-Secret-42")
    with pytest.raises(exceptions.LoginRejected) as caught:
        _send(settings, _message())
    assert "not-the-Secret-42" not in str(caught.value)
    assert "not-the-Secret-42" not in repr(settings)
    assert caught.value.host == "localhost"
    assert smtp_server.messages == []


def test_unknown_ca_is_untrusted(smtp_server):
    settings = _settings(smtp_server, ca_pem=smtp_server.pki.unknown_ca_path.read_text())
    with pytest.raises(exceptions.CertificateUntrusted):
        _send(settings, _message())
    assert smtp_server.messages == []


def test_unknown_ca_over_implicit_tls_is_untrusted():
    with SMTPServer({"sender": PASSWORD}, implicit_tls=True) as server:
        settings = _settings(server, security="ssl",
                             ca_pem=server.pki.unknown_ca_path.read_text())
        with pytest.raises(exceptions.CertificateUntrusted):
            _send(settings, _message())


def test_ip_address_with_verification_is_a_hostname_mismatch(smtp_server):
    with pytest.raises(exceptions.HostnameMismatch):
        _send(_settings(smtp_server, host="127.0.0.1"), _message())


def test_ip_address_without_verification_sends(smtp_server):
    _send(_settings(smtp_server, host="127.0.0.1", verify_certificate=False, ca_pem=None),
          _message(subject="unverified"))
    assert parse_message(smtp_server.wait_for(1)[0].data).headers.subject == "unverified"


def test_closed_port_is_refused():
    settings = SmtpSettings(host="127.0.0.1", port=closed_port(), login="x", password="y",
                            security="none", timeout=5)
    with pytest.raises(exceptions.ConnectionRefused):
        _send(settings, _message())


def test_unknown_host_is_not_found():
    settings = SmtpSettings(host="no-such-host.invalid", port=587, security="starttls",
                            timeout=5)
    with pytest.raises(exceptions.HostNotFound):
        _send(settings, _message())


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_silent_server_times_out(security):
    with SilentServer() as silent:
        settings = SmtpSettings(host="127.0.0.1", port=silent.port, login="x", password="y",
                                security=security, verify_certificate=False, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(exceptions.ConnectionTimeout):
            _send(settings, _message())
        assert time.monotonic() - started < 5


def test_missing_starttls_is_reported():
    server = SMTPServer({"sender": PASSWORD})
    server.starttls_context = None  # the fixture's server, minus STARTTLS
    with server:
        with pytest.raises(exceptions.StartTLSUnavailable):
            _send(_settings(server), _message())
        assert server.messages == []


def test_refused_recipient_sends_nothing(smtp_server):
    async def handle_rcpt(server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp_server._controller.handler.handle_RCPT = handle_rcpt
    message = _message(to=["alice@example.org", "nobody@example.org"], cc=(), bcc=())
    with pytest.raises(exceptions.RecipientsRefused) as caught:
        _send(_settings(smtp_server), message, bcc=())
    assert set(caught.value.refused) == {"nobody@example.org"}
    assert caught.value.refused["nobody@example.org"][0] == 550
    assert "No such user" in str(caught.value)
    assert smtp_server.messages == []

    # the connection was reset, not spoiled: the next message goes through
    _send(_settings(smtp_server), _message(to=["alice@example.org"], cc=(), bcc=()), bcc=())
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["alice@example.org"]


def test_refused_sender_is_a_send_failure(smtp_server):
    async def handle_mail(server, session, envelope, address, mail_options):
        return "553 5.7.1 Sender address rejected: not owned by user"

    smtp_server._controller.handler.handle_MAIL = handle_mail
    with pytest.raises(exceptions.SendFailed, match="not owned by user") as caught:
        _send(_settings(smtp_server), _message())
    assert not isinstance(caught.value, exceptions.RecipientsRefused)


def test_no_recipients_is_refused_before_connecting():
    with pytest.raises(exceptions.RecipientsRefused, match="no recipient"):
        send(SmtpSettings(host="127.0.0.1", port=closed_port()), _message(),
             envelope_from="sender@example.com", recipients=[])


def test_settings_reject_unknown_security():
    with pytest.raises(ValueError, match="security"):
        SmtpSettings(host="localhost", port=25, security="tls")


def test_implicit_tls_against_a_plain_port_fails_the_handshake(smtp_server):
    with pytest.raises(exceptions.TLSHandshakeFailed) as caught:
        _send(_settings(smtp_server, security="ssl"), _message())
    assert not isinstance(caught.value, exceptions.CertificateUntrusted)


def test_message_above_the_announced_size_is_refused_before_sending(smtp_server):
    raw = samples.huge(33)  # aiosmtpd announces SIZE 33554432
    with pytest.raises(exceptions.SendFailed, match="accepts at most 33.6 MB"):
        send(_settings(smtp_server), raw, envelope_from="alice@example.com",
             recipients=["bob@example.org"])
    assert smtp_server.messages == []


def test_error_for_maps_what_smtplib_raises(smtp_server):
    """The one SMTP error mapping, also used for Odoo's outgoing mail server (which drives
    smtplib itself): the exceptions a real smtplib session raises against a real server."""
    async def handle_rcpt(server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user here"

    smtp_server._controller.handler.handle_RCPT = handle_rcpt
    host = smtp_server.hostname
    context = ssl.create_default_context(cafile=str(smtp_server.ca_path))
    with smtplib.SMTP(host, smtp_server.port, timeout=5) as client:
        client.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused_login:
            client.login("sender", "wrong")
        client.login("sender", PASSWORD)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused_rcpt:
            client.sendmail("sender@example.com", ["nobody@example.org"], b"Subject: x\r\n\r\nx")
    login = error_for(refused_login.value, host, stage="connect")
    assert type(login) is exceptions.LoginRejected and login.detail.startswith("535")
    recipients = error_for(refused_rcpt.value, host, stage="send")
    assert isinstance(recipients, exceptions.RecipientsRefused)
    assert recipients.refused == {"nobody@example.org": (550, "5.1.1 No such user here")}
    assert "nobody@example.org (550 5.1.1 No such user here)" in str(recipients)

    with pytest.raises(ConnectionRefusedError) as closed:
        smtplib.SMTP("127.0.0.1", closed_port(), timeout=5)
    assert type(error_for(closed.value, "127.0.0.1", stage="connect")) \
        is exceptions.ConnectionRefused
    try:  # how smtplib reports a read timeout: a disconnection caused by it
        try:
            raise TimeoutError("timed out")
        except TimeoutError as exc:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed") from exc
    except smtplib.SMTPServerDisconnected as exc:
        assert type(error_for(exc, host, stage="send")) is exceptions.ConnectionTimeout
    lost = error_for(smtplib.SMTPServerDisconnected("gone"), host, stage="send")
    assert type(lost) is exceptions.SendFailed and "connection was lost" in str(lost)
    sender = error_for(smtplib.SMTPSenderRefused(553, b"not yours", "a@b.c"), host,
                       stage="send")
    assert type(sender) is exceptions.SendFailed and sender.detail == "553 not yours"
    assert type(error_for(smtplib.SMTPHeloError(501, b"no"), host, stage="connect")) \
        is exceptions.ConnectionFailed
    assert error_for(ValueError("a bug"), host, stage="send") is None
