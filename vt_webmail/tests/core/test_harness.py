"""The test servers are real: prove it before anything relies on them."""

import email
import smtplib
import ssl
from email import policy
from email.message import EmailMessage

import imapclient
import pytest
from imapclient.exceptions import LoginError

from vt_webmail.testing import DovecotServer, SilentServer, closed_port


def _context(cafile, check_hostname=True):
    context = ssl.create_default_context(cafile=str(cafile))
    context.check_hostname = check_hostname
    return context


def test_plain_login_and_append(mailbox):
    uid = mailbox.append(b"Subject: hello\r\nFrom: a@example.com\r\n\r\nbody\r\n")
    client = imapclient.IMAPClient(mailbox.server.host, mailbox.server.imap_port, ssl=False,
                                   timeout=5)
    try:
        assert b"STARTTLS" in client.capabilities()
        client.login(mailbox.login, mailbox.password)
        info = client.select_folder("INBOX", readonly=True)
        assert info[b"EXISTS"] == 1
        fetched = client.fetch([uid], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        assert fetched[uid][b"BODY[HEADER.FIELDS (SUBJECT)]"].strip() == b"Subject: hello"
    finally:
        client.logout()


def test_starttls_verified_login(mailbox):
    client = imapclient.IMAPClient(mailbox.server.hostname, mailbox.server.imap_port, ssl=False,
                                   timeout=5)
    try:
        client.starttls(_context(mailbox.server.ca_path))
        client.login(mailbox.login, mailbox.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_implicit_tls_verified_login(mailbox):
    client = imapclient.IMAPClient(mailbox.server.hostname, mailbox.server.imaps_port, ssl=True,
                                   ssl_context=_context(mailbox.server.ca_path), timeout=5)
    try:
        client.login(mailbox.login, mailbox.password)
        assert {name for _flags, _sep, name in client.list_folders()} >= {
            "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}
    finally:
        client.logout()


def test_unknown_ca_is_refused(mailbox):
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        imapclient.IMAPClient(mailbox.server.hostname, mailbox.server.imaps_port, ssl=True,
                              ssl_context=_context(mailbox.server.pki.unknown_ca_path), timeout=5)


def test_wrong_host_name_is_refused(mailbox):
    # the certificate names "localhost" only; 127.0.0.1 is the same server under another name
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        imapclient.IMAPClient("127.0.0.1", mailbox.server.imaps_port, ssl=True,
                              ssl_context=_context(mailbox.server.ca_path), timeout=5)


def test_wrong_password_is_refused(mailbox):
    client = imapclient.IMAPClient(mailbox.server.host, mailbox.server.imap_port, ssl=False,
                                   timeout=5)
    try:
        with pytest.raises(LoginError):
            client.login(mailbox.login, mailbox.password + "x")
    finally:
        client.shutdown()


def test_stop_and_restart_keep_mail(mailbox):
    server = mailbox.server
    mailbox.append(b"Subject: kept\r\n\r\nx\r\n")
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=2)
    server.start()
    client = mailbox.client()
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    finally:
        client.logout()


def test_capabilities_can_be_restricted():
    with DovecotServer(capabilities=["IMAP4rev1", "IDLE"]) as server:
        server.add_user("old", "pw")
        client = server.client("old")
        try:
            assert b"CONDSTORE" not in client.capabilities()
            assert b"QRESYNC" not in client.capabilities()
        finally:
            client.logout()
    assert not server.root.exists(), "close() must remove the server's files"


def test_network_failures_are_real():
    with pytest.raises(ConnectionRefusedError):
        imapclient.IMAPClient("127.0.0.1", closed_port(), ssl=False, timeout=2)
    with SilentServer() as silent, pytest.raises(TimeoutError):
        imapclient.IMAPClient("127.0.0.1", silent.port, ssl=False, timeout=0.5)


def test_smtp_message_received_intact(smtp_server):
    message = EmailMessage()
    message["From"] = "Sender <sender@example.com>"
    message["To"] = "Jos\u00e9 <jose@example.com>"
    message["Subject"] = "Caf\u00e9 \u2615 over STARTTLS"
    message.set_content("Line one\nLine two \u00e9\n")
    message.add_attachment(bytes(range(256)), maintype="application", subtype="octet-stream",
                           filename="blob.bin")
    sent = message.as_bytes(policy=policy.SMTP)
    with smtplib.SMTP(smtp_server.hostname, smtp_server.port, timeout=5) as client:
        client.starttls(context=_context(smtp_server.ca_path))
        client.login("sender", "sender-password")
        client.sendmail("sender@example.com", ["jose@example.com"], sent)
    (received,) = smtp_server.wait_for(1)
    assert received.login == "sender"
    assert received.rcpt_tos == ["jose@example.com"]
    assert received.data == sent
    parsed = email.message_from_bytes(received.data, policy=policy.default)
    assert parsed["Subject"] == "Caf\u00e9 \u2615 over STARTTLS"
    (attachment,) = parsed.iter_attachments()
    assert attachment.get_content() == bytes(range(256))


def test_smtp_wrong_password_refused(smtp_server):
    with smtplib.SMTP(smtp_server.hostname, smtp_server.port, timeout=5) as client:
        client.starttls(context=_context(smtp_server.ca_path))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("sender", "nope")
    assert smtp_server.messages == []
