"""The body route: the document of the Webmail form's sandboxed frame, for the owner only."""

import re
from unittest.mock import patch

import lxml.html

from odoo.tests import HttpCase, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import html_sanitize

from ..testing import samples
from .common import WebmailCase, raw_mail

#: The frame's policy, written out in full: any change to it must show up here.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; "
       "img-src {base}vt_webmail/part/ data:{remote}; "
       "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
       "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox")
#: Elements that must never be in the frame's document (its own <meta charset> and
#: <meta name=color-scheme> aside).
LIVE_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
             "input", "button", "textarea", "select", "base", "link", "svg", "math", "template"}
NOTICE = "has not been read from the mail server yet"


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_body_frame")
class TestBodyFrame(WebmailCase, HttpCase):

    def _synced(self, *raws):
        uids = [self.imap_server.append(self.mailbox_login, "INBOX", raw) for raw in raws]
        account = self.make_account()
        account.action_refresh()
        by_uid = {m.uid: m for m in self.messages(account).with_user(self.user)}
        return account, [by_uid[uid] for uid in uids]

    def _get(self, message_id, login=None):
        if login:
            self.authenticate(login, login)
        return self.url_open(f"/vt_webmail/body/{message_id}?images=1&v=x",
                             allow_redirects=False)

    def _csp(self, remote=False):
        return CSP.format(base=self.base_url() + "/", remote=" http: https:" if remote else "")

    def _document(self, response):
        self.assertEqual(response.status_code, 200)
        return lxml.html.document_fromstring(response.text)

    def assertBlocked(self, message, blocked):
        """The frame of ``message`` loads remote images, or not, in its CSP and its markup."""
        response = self._get(message.id)
        self.assertEqual(response.headers["Content-Security-Policy"], self._csp(not blocked))
        text = response.text
        check = self.assertNotIn if blocked else self.assertIn
        check(' src="https://images.example.net/autumn.jpg"', text)
        check('url("https://images.example.net/hero.png")', text)
        if blocked:
            self.assertIn('data-vt-remote-src="https://images.example.net/autumn.jpg"', text)

    def test_owner_only(self):
        _account, (message,) = self._synced(samples.styled_newsletter())
        message.action_open()  # what the form calls before the frame loads
        response = self._get(message.id, self.user.login)
        self.assertIn("Everything must go.", response.text)
        # another user, and an administrator, get nothing, as for an id that never existed
        for login in (self.other_user.login, "admin"):
            with self.subTest(login=login):
                self.assertEqual(self._get(message.id, login).status_code, 404)
        self.authenticate(self.user.login, self.user.login)
        missing = self.env["vt_webmail.message"].sudo().search([], order="id desc", limit=1)
        self.assertEqual(self._get(missing.id + 1000).status_code, 404)
        self.assertEqual(self.url_open("/vt_webmail/body/abc").status_code, 404)
        # anonymous visitors are sent to the login page
        self.authenticate(None, None)
        response = self._get(message.id)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])

    def test_headers_exact(self):
        _account, (message,) = self._synced(samples.styled_newsletter())
        message.action_fetch_body()
        response = self._get(message.id, self.user.login)
        headers = response.headers
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(headers["Content-Security-Policy"], self._csp())
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(headers["Referrer-Policy"], "no-referrer")
        self.assertEqual(headers["X-Frame-Options"], "SAMEORIGIN")
        self.assertEqual(headers["Cache-Control"], "no-store")
        # the mail's doctype, its body's attributes and its style sheet, on a document of its own
        self.assertTrue(response.text.startswith("<!DOCTYPE html>\n<html><head>"))
        document = self._document(response)
        [sheet] = document.iter("style")
        self.assertIn(".promo { color: rgb(200, 30, 40)", sheet.text)
        self.assertIn("background: none", sheet.text)
        self.assertEqual(document.get_element_by_id("headline").text, "Autumn sale")
        self.assertEqual(document.find(".//p").get("class"), "promo")

    @staticmethod
    def _without_policy(document):
        """``document`` without the two <meta> the document read with the form has first."""
        head = re.match(r'<(?:!DOCTYPE[^>]*>\n<)?html><head>(<meta http-equiv="Content-Security'
                        r'-Policy" content="[^"]*"><meta name="referrer" content="no-referrer">)',
                        document)
        return document.replace(head.group(1), "", 1)

    def _form_document(self, message):
        """``body_frame_document`` as the Webmail form reads it: opened over JSON-RPC."""
        [record] = self.make_jsonrpc_request(
            "/web/dataset/call_kw/vt_webmail.message/action_open",
            {"model": "vt_webmail.message", "method": "action_open", "args": [[message.id]],
             "kwargs": {"specification": {"body_frame_document": {}, "body_state": {}}}})
        return record["body_frame_document"]

    def test_the_form_gets_the_frames_document_inline(self):
        """The document the form gives its frame (from a blob: URL) is the route's, its
        policy first in a <meta> (the route's header but what a <meta> cannot carry), its
        parts' URLs absolute; in every mode the mail was written for."""
        _account, (message, unread) = self._synced(
            samples.styled_newsletter(), raw_mail("Never opened"))
        self.authenticate(self.user.login, self.user.login)
        self.assertFalse(unread.body_frame_document, "never fetched: the notice, no frame")
        # a text mail: its HTML is written by vt_webmail, as a standards-mode document, so the
        # form gives it inline too (the route serves the same document)
        text_document = self._form_document(unread)
        self.assertTrue(text_document.startswith("<!DOCTYPE html>\n"))
        self.assertIn("Hello.", text_document)
        self.assertTrue(self._get(unread.id).text.startswith("<!DOCTYPE html>\n"))
        for remote in (False, True):
            with self.subTest(remote=remote):
                if remote:
                    message.action_show_images()
                inline = self._form_document(message)
                served = self._get(message.id)
                policy = served.headers["Content-Security-Policy"].removesuffix(
                    "; frame-ancestors 'self'; sandbox allow-same-origin allow-popups "
                    "allow-popups-to-escape-sandbox")
                self.assertEqual(policy, self._csp(remote).split("; frame-ancestors")[0])
                head = list(lxml.html.document_fromstring(inline).find("head"))
                self.assertEqual((head[0].get("http-equiv"), head[0].get("content")),
                                 ("Content-Security-Policy", policy))
                self.assertEqual((head[1].get("name"), head[1].get("content")),
                                 ("referrer", "no-referrer"))
                self.assertEqual(inline.replace(
                    f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
                    '<meta name="referrer" content="no-referrer">', ""), served.text)
                check = self.assertIn if remote else self.assertNotIn
                check(' src="https://images.example.net/autumn.jpg"', inline)
        # a mail written for quirks mode (no doctype) keeps it: the document has no doctype
        # either (the web client's blob: URL is parsed as the route's page is, in that mode)
        _account, (quirks,) = self._synced(samples.hostile_html())
        document = self._form_document(quirks)
        self.assertTrue(document.startswith(
            '<html><head><meta http-equiv="Content-Security-Policy"'), document[:80])
        served = self._get(quirks.id).text
        self.assertFalse(served.startswith("<!DOCTYPE"))
        self.assertEqual(self._without_policy(document), served)
        # the parts of a mail with an inline image are named by absolute URLs
        _account, (pictured,) = self._synced(samples.html_with_inline_image())
        document = self._form_document(pictured)
        part = f"{self.base_url()}/vt_webmail/part/{pictured.id}/"
        self.assertIn(f'src="{part}', document)
        served = self._get(pictured.id).text
        self.assertIn(f'src="/vt_webmail/part/{pictured.id}/', served)
        self.assertEqual(self._without_policy(document).replace(part, part[len(
            self.base_url()):]), served)
        # another user reads nothing of it
        self.authenticate(self.other_user.login, self.other_user.login)
        with self.assertRaises(JsonRpcException) as caught, \
                self.assertLogs("odoo.http", "WARNING"):
            self._form_document(message)
        self.assertIn(str(caught.exception),
                      ("odoo.exceptions.AccessError", "odoo.exceptions.MissingError"))

    def test_style_sheet_in_the_frame_only(self):
        """body_html (XML-RPC, quoting, Qualify) is cleaned for a page: no sheet, class, id."""
        _account, (message,) = self._synced(samples.styled_newsletter())
        message.action_fetch_body()
        body = message.read(["body_html"])[0]["body_html"]
        self.assertIn("Everything must go.", body)
        for marker in ("<style", "class=", "id=", "data-vt-body", ".o_form_view"):
            self.assertNotIn(marker, body)
        frame = self._get(message.id, self.user.login).text
        self.assertIn("<style>", frame)
        self.assertIn('class="promo"', frame)

    def test_pure_read_with_the_server_stopped(self):
        account, (read, unread) = self._synced(samples.styled_newsletter(), raw_mail("Unread"))
        read.action_fetch_body()
        self.assertEqual((read.body_state, unread.body_state), ("done", "none"))
        self.imap_server.stop()
        self.addCleanup(self.imap_server.start)
        Account = type(account)
        with patch.object(Account, "_imap_connect", side_effect=AssertionError("connected")):
            response = self._get(read.id, self.user.login)
            self.assertIn("Everything must go.", response.text)
            # never fetched: a notice, and still not fetched afterwards
            response = self._get(unread.id)
            self.assertEqual(response.status_code, 200)
            self.assertIn(NOTICE, response.text)
            self.assertEqual(response.headers["Content-Security-Policy"], self._csp())
        unread.invalidate_recordset()
        self.assertEqual(unread.body_state, "none")

    def test_remote_images_only_when_allowed_or_trusted(self):
        _account, (first, second) = self._synced(
            samples.styled_newsletter(),
            samples.styled_newsletter(message_id="<styled-2@example.net>"))
        (first | second).action_fetch_body()
        self.authenticate(self.user.login, self.user.login)
        self.assertBlocked(first, True)
        self.assertBlocked(second, True)
        first.action_show_images()
        self.assertBlocked(first, False)
        self.assertBlocked(second, True)  # "this mail" only
        second.action_trust_sender()
        self.assertBlocked(second, False)
        second.action_untrust_sender()
        self.assertBlocked(second, True)

    def test_hostile_mail_in_the_frame(self):
        _account, (message,) = self._synced(samples.hostile_html())
        message.action_fetch_body()
        message.action_show_images()  # even with its remote content allowed
        response = self._get(message.id, self.user.login)
        self.assertEqual(response.headers["Content-Security-Policy"], self._csp(True))
        document = self._document(response)
        self.assertIn("Hello, this is the visible text.", document.text_content())
        for element in document.iter():
            if not isinstance(element.tag, str):
                continue
            with self.subTest(tag=element.tag):
                self.assertNotIn(element.tag, LIVE_TAGS)
                if element.tag == "meta":
                    self.assertIn(element.get("name") or "charset",
                                  ("charset", "color-scheme"))
                    self.assertFalse(element.get("http-equiv"))
                for name, value in element.attrib.items():
                    self.assertFalse(name.lower().startswith("on"), name)
                    self.assertNotRegex(value.lower().replace(" ", ""),
                                        r"^(javascript|vbscript|data:text)")
        text = response.text.lower()
        for marker in ("@import", "evil.example.net", "expression(", "alert("):
            self.assertNotIn(marker, text)

    def test_body_kept_by_an_older_version(self):
        """A body cleaned before the frame existed (no marker) is shown in a plain page."""
        _account, (message,) = self._synced(raw_mail("Old"))
        message.sudo().write({"body_cache": html_sanitize("<p>Read long ago</p>"),
                              "body_state": "done"})
        response = self._get(message.id, self.user.login)
        self.assertTrue(response.text.startswith("<!DOCTYPE html>\n"))
        self.assertIn("<body><p>Read long ago</p></body>", response.text)
