"""The routes serving inline images and attachments: only to the mail's owner, safely typed."""

from odoo.tests import HttpCase, tagged

from ..testing import samples
from .common import WebmailCase

INLINE_SVG = (
    b"From: Eve <eve@example.net>\r\nTo: me@example.com\r\nSubject: svg\r\n"
    b"Message-Id: <svg-1@example.net>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/related; boundary="b1"\r\n\r\n'
    b'--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n'
    b'<p>look</p><img src="cid:evil@example.net">\r\n'
    b"--b1\r\nContent-Type: image/svg+xml\r\nContent-ID: <evil@example.net>\r\n"
    b"Content-Disposition: inline; filename=evil.svg\r\n\r\n"
    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\r\n'
    b"--b1--\r\n"
)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_controllers")
class TestControllers(WebmailCase, HttpCase):

    def _read(self, raw):
        """A mail of ``self.user``, synced and read (its parts kept): the message."""
        self.imap_server.append(self.mailbox_login, "INBOX", raw)
        account = self.make_account()
        account.action_refresh()
        message = self.messages(account).with_user(self.user)
        message.action_open()
        self.assertTrue(message.body_html)
        return message

    def _get(self, url, login=None):
        if login:
            self.authenticate(login, login)
        return self.url_open(url, allow_redirects=False)

    def test_inline_image_served_to_its_owner_only(self):
        message = self._read(samples.html_with_inline_image())
        logo = message.attachment_ids.filtered(lambda a: a.name == "logo.png")
        url = f"/vt_webmail/part/{message.id}/{logo.id}"
        self.assertIn(url, str(message.body_html))
        response = self._get(url, self.user.login)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, samples.png_image())
        self.assertEqual(response.headers["Content-Type"], "image/png")
        self.assertTrue(response.headers["Content-Disposition"].startswith("inline;"))
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        self.assertIn("default-src 'none'", response.headers["Content-Security-Policy"])
        # another user, and an administrator, get nothing, as for an id that never existed
        for login in (self.other_user.login, "admin"):
            with self.subTest(login=login):
                self.assertEqual(self._get(url, login).status_code, 404)
        self.assertEqual(self._get(f"/vt_webmail/part/{message.id + 1000}/{logo.id}",
                                   self.other_user.login).status_code, 404)
        # and anonymous visitors are sent to the login page
        self.authenticate(None, None)
        response = self._get(url)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])

    def test_attachment_downloaded_by_its_owner_only(self):
        message = self._read(samples.with_attachments())
        pdf = message.attachment_ids.filtered(lambda a: a.name == "report-q1.pdf")
        csv = message.attachment_ids.filtered(lambda a: a.name.endswith(".csv"))
        response = self._get(f"/vt_webmail/attachment/{message.id}/{pdf.id}", self.user.login)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content[:8], b"%PDF-1.4")
        self.assertEqual(response.headers["Content-Type"], "application/pdf")
        self.assertEqual(response.headers["Content-Disposition"],
                         "attachment; filename*=UTF-8''report-q1.pdf")
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        response = self._get(f"/vt_webmail/attachment/{message.id}/{csv.id}")
        self.assertIn("filename*=UTF-8''chiffres-%C3%A9t%C3%A9.csv",
                      response.headers["Content-Disposition"])
        self.assertIn("Zürich".encode(), response.content)
        # a part route never shows a non-image inline
        response = self._get(f"/vt_webmail/part/{message.id}/{pdf.id}")
        self.assertTrue(response.headers["Content-Disposition"].startswith("attachment;"))
        self.assertEqual(self._get(f"/vt_webmail/attachment/{message.id}/{pdf.id}",
                                   self.other_user.login).status_code, 404)

    def test_attachment_of_another_mail_is_not_served_through_mine(self):
        theirs = self._read(samples.with_attachments())
        their_pdf = theirs.attachment_ids[:1]
        self.imap_server.append(self.other_mailbox_login, "INBOX", samples.plain_text())
        account = self.make_account(user=self.other_user, login=self.other_mailbox_login)
        account.action_refresh()
        mine = self.messages(account).with_user(self.other_user)
        mine.action_fetch_body()
        self.assertTrue(mine.body_html)
        self.authenticate(self.other_user.login, self.other_user.login)
        for route in ("part", "attachment"):
            with self.subTest(route=route):
                response = self._get(f"/vt_webmail/{route}/{mine.id}/{their_pdf.id}")
                self.assertEqual(response.status_code, 404)
        # nor an attachment of another document through a mail's URL
        other = self.env["ir.attachment"].create({"name": "x.txt", "raw": b"secret"})
        self.assertEqual(self._get(f"/vt_webmail/attachment/{mine.id}/{other.id}").status_code,
                         404)

    def test_svg_part_is_never_shown_inline(self):
        message = self._read(INLINE_SVG)
        svg = message.attachment_ids.filtered(lambda a: a.name == "evil.svg")
        response = self._get(f"/vt_webmail/part/{message.id}/{svg.id}", self.user.login)
        self.assertEqual(response.status_code, 200)
        # Odoo itself stores it as text (users may not store markup types): never an image
        self.assertFalse(response.headers["Content-Type"].startswith("image/"))
        self.assertTrue(response.headers["Content-Disposition"].startswith("attachment;"))
        self.assertIn("sandbox", response.headers["Content-Security-Policy"])
