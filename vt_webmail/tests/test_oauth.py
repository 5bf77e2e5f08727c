"""Google and Microsoft 365 accounts: the OAuth 2.0 sign-in round trip through the real routes,
as a plain internal user, then syncing and sending with the token, renewals and revocations.

Nothing reaches the internet: a local authorization server (``testing.oauth_server``) stands
for Google and Microsoft, configured through the same system parameters a deployment uses;
Dovecot checks tokens with it (an ``oauth2`` passdb, RFC 7662 introspection), and so does the
SMTP server.
"""

import itertools
import urllib.parse

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged
from odoo.tests.common import HttpCase, get_db_name
from odoo.tools import mute_logger

from ..testing import OAuthServer
from .common import WebmailCase

CLIENT_ID, CLIENT_SECRET = "vt-client", "vt-secret"
_numbers = itertools.count(1)


@tagged("post_install", "-at_install", "vt_webmail", "vt_webmail_oauth")
class TestOAuth(WebmailCase, HttpCase):

    with_smtp = True

    @classmethod
    def setUpClass(cls):
        # the IMAP and SMTP servers check tokens with the authorization server: it comes first
        cls.oauth = OAuthServer({CLIENT_ID: CLIENT_SECRET}).start()
        cls.addClassCleanup(cls.oauth.close)
        cls.imap_server_options = {"oauth": cls.oauth}
        cls.smtp_options = {"oauth": cls.oauth}
        super().setUpClass()
        params = cls.env["ir.config_parameter"].sudo()
        for key, value in {
            # what an administrator sets (Odoo's Gmail and Outlook settings) ...
            "google_gmail_client_id": CLIENT_ID,
            "google_gmail_client_secret": CLIENT_SECRET,
            "microsoft_outlook_client_id": CLIENT_ID,
            "microsoft_outlook_client_secret": CLIENT_SECRET,
            # ... and where the providers are: here, the local server
            "vt_webmail.google_authorize_url": cls.oauth.authorize_url,
            "vt_webmail.google_token_url": cls.oauth.token_url,
            "microsoft_outlook.endpoint": cls.oauth.endpoint,
        }.items():
            params.set_param(key, value)

    def setUp(self):
        super().setUp()
        self.oauth.deny = False
        self.oauth.rotate_refresh_tokens = False
        # the server's log lives as long as the class: count this test's renewals only
        self.renewals_before = len(self.oauth.token_requests("refresh_token"))

    def renewals(self):
        """How many times this test renewed an access token at the provider."""
        return len(self.oauth.token_requests("refresh_token")) - self.renewals_before

    # -- helpers ---------------------------------------------------------------------------------

    def oauth_account(self, provider="google", user=None, email=None, **values):
        """A Google (or Microsoft) account of ``user`` on the local servers; its mailbox exists
        in Dovecot under the address."""
        user = user or self.user
        # mailboxes outlive a test (one Dovecot per class): a new address each time
        email = email or f"{user.login}.{provider}.{next(_numbers)}@example.com"
        self.imap_server.add_user(email, "unused-password")
        server = self.imap_server
        return self.env["vt_webmail.account"].with_user(user).create(dict({
            "email": email, "auth_method": provider, "imap_host": server.hostname,
            "imap_port": server.imaps_port, "security": "ssl",
            "ca_certificate": server.ca_path.read_text(), "smtp_host": self.smtp.hostname,
            "smtp_port": self.smtp.port, "smtp_security": "starttls",
            "server_saves_sent": True,
        }, **values))

    def sign_in(self, account, identity=None, user=None):
        """The browser's round trip: Odoo's start route, the provider's consent, back."""
        user = user or account.user_id
        self.oauth.identity = identity or account.email
        self.authenticate(user.login, user.login)
        response = self.url_open(f"/vt_webmail/oauth/start/{account.id}")
        account.invalidate_recordset()
        return response

    def stored_tokens(self, account):
        self.env.cr.execute("SELECT oauth_access_token_crypt, oauth_refresh_token_crypt "
                            "FROM vt_webmail_account WHERE id = %s", (account.id,))
        return self.env.cr.fetchone()

    # -- signing in ----------------------------------------------------------------------------

    def test_consent_round_trip_as_a_plain_user_then_sync_and_send(self):
        account = self.oauth_account()
        self.assertFalse(self.user.has_group("base.group_system"))
        self.assertFalse(account.oauth_signed_in)
        self.seed(["From Google"], login=account.email)
        response = self.sign_in(account)
        self.assertEqual(response.status_code, 200)
        self.assertIn(f"/odoo/action-vt_webmail.vt_webmail_account_action/{account.id}",
                      response.url)
        self.assertTrue(account.oauth_signed_in)
        self.assertEqual(account.oauth_identity, account.email)
        self.assertFalse(account.needs_sign_in)
        self.assertTrue(account.oauth_expires_at)
        # the consent page was asked for the Gmail scope, with PKCE and the user's address
        [(method, path, params)] = [entry for entry in self.oauth.requests
                                    if entry[1] == "/authorize"][-1:]
        self.assertIn("https://mail.google.com/", params["scope"])
        self.assertEqual(params["code_challenge_method"], "S256")
        self.assertEqual(params["login_hint"], account.email)
        # stored encrypted: the columns hold Fernet tokens, not the tokens
        access_crypt, refresh_crypt = self.stored_tokens(account)
        self.assertTrue(access_crypt.startswith("gAAAA") and refresh_crypt.startswith("gAAAA"))

        # sync over IMAP with the token (OAUTHBEARER: Dovecot offers it)
        result = account.with_user(self.user).action_refresh()
        self.assertEqual((result["new"], result["error"]), (1, False))
        self.assertEqual(self.messages(account).mapped("subject"), ["From Google"])
        # send over SMTP with the token; the server saves sent mail itself: no copy in Sent
        sent = account.with_user(self.user).send_mail(
            to="bob@example.org", subject="Hello from Gmail", body_html="<p>Hi</p>")
        self.assertFalse(sent["warning"])
        self.assertFalse(sent["sent_uid"])
        [received] = self.smtp.wait_for(1)
        self.assertEqual((received.login, received.mechanism), (account.email, "OAUTHBEARER"))
        self.assertEqual(self.server_messages("Sent", login=account.email), {})

    def test_microsoft_sign_in_with_rotating_refresh_tokens(self):
        self.oauth.rotate_refresh_tokens = True
        account = self.oauth_account("microsoft")
        self.sign_in(account)
        self.assertTrue(account.oauth_signed_in)
        first_refresh = self.stored_tokens(account)[1]
        # the access token expires: renewed by itself, and the new refresh token is kept
        self.oauth.expire_access_tokens()
        self.env.cr.execute("UPDATE vt_webmail_account SET oauth_expires_at = "
                            "now() AT TIME ZONE 'UTC' WHERE id = %s", (account.id,))
        account.invalidate_recordset()
        self.assertFalse(account.with_user(self.user).action_refresh()["error"])
        self.assertNotEqual(self.stored_tokens(account)[1], first_refresh)
        self.assertEqual(self.renewals(), 1)
        # and it works for the next renewal (the old one is dead at the server)
        self.oauth.expire_access_tokens()
        self.env.cr.execute("UPDATE vt_webmail_account SET oauth_expires_at = "
                            "now() AT TIME ZONE 'UTC' WHERE id = %s", (account.id,))
        account.invalidate_recordset()
        self.assertFalse(account.with_user(self.user).action_refresh()["error"])
        self.assertEqual(self.renewals(), 2)

    def test_sign_in_refused_for_another_users_account(self):
        account = self.oauth_account()
        self.authenticate(self.other_user.login, self.other_user.login)
        with mute_logger("odoo.http"):
            response = self.url_open(f"/vt_webmail/oauth/start/{account.id}",
                                     allow_redirects=False)
        self.assertEqual(response.status_code, 404)
        with self.assertRaises(AccessError):
            account.with_user(self.other_user).action_oauth_sign_in()
        # nor may another user finish a sign-in started by the owner: the state is bound to
        # the user and their session
        self.oauth.identity = account.email
        self.authenticate(self.user.login, self.user.login)
        start = self.url_open(f"/vt_webmail/oauth/start/{account.id}", allow_redirects=False)
        consent = self.url_open(start.headers["Location"], allow_redirects=False)
        back = consent.headers["Location"]
        self.assertIn("/vt_webmail/oauth/confirm", back)
        self.authenticate(self.other_user.login, self.other_user.login)
        with mute_logger("odoo.http", "odoo.addons.vt_webmail.controllers.oauth"):
            self.assertEqual(self.url_open(back, allow_redirects=False).status_code, 404)
        account.invalidate_recordset()
        self.assertFalse(account.oauth_signed_in)
        # a forged state, or a replayed one, is refused too
        self.authenticate(self.user.login, self.user.login)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
        forged = query["state"].rsplit(".", 1)[0] + ".forged"
        with mute_logger("odoo.http", "odoo.addons.vt_webmail.controllers.oauth"):
            self.assertEqual(self.url_open(
                f"/vt_webmail/oauth/confirm?code={query['code']}&state={forged}",
                allow_redirects=False).status_code, 404)

    def test_a_mismatched_identity_is_refused_in_plain_words(self):
        account = self.oauth_account()
        with mute_logger("odoo.addons.vt_webmail.controllers.oauth"):
            response = self.sign_in(account, identity="mallory@example.com")
        self.assertIn("You signed in to Google as mallory@example.com, but this account is "
                      f"{account.email}", response.text)
        self.assertFalse(account.oauth_signed_in)
        self.assertFalse(any(self.stored_tokens(account)))

    def test_the_provider_denying_access_is_said(self):
        account = self.oauth_account()
        self.oauth.deny = True
        response = self.sign_in(account)
        self.assertIn("Google did not give access", response.text)
        self.assertFalse(account.oauth_signed_in)

    def test_not_configured_says_who_must_configure_it(self):
        account = self.oauth_account()
        self.env["ir.config_parameter"].sudo().set_param("google_gmail_client_secret", "")
        with self.assertRaises(UserError) as caught:
            account.with_user(self.user).action_oauth_sign_in()
        self.assertIn("ask an administrator", str(caught.exception))

    # -- tokens in use -------------------------------------------------------------------------

    def test_a_token_rejected_mid_session_is_renewed_once_and_retried(self):
        account = self.oauth_account()
        self.sign_in(account)
        self.seed(["one", "two"], login=account.email)
        # revoked early at the server, though not yet expired in Odoo's eyes
        self.oauth.expire_access_tokens()
        result = account.with_user(self.user).action_refresh()
        self.assertEqual((result["new"], result["error"]), (2, False))
        self.assertEqual(self.renewals(), 1)
        # sending: the same, once
        self.oauth.expire_access_tokens()
        account.with_user(self.user).send_mail(to="bob@example.org", subject="s",
                                               body_html="b")
        self.assertEqual(len(self.smtp.wait_for(1)), 1)
        self.assertEqual(self.renewals(), 2)
        # a fresh token is not renewed again
        account.with_user(self.user).action_refresh()
        self.assertEqual(self.renewals(), 2)

    def test_a_revoked_grant_asks_to_sign_in_again_and_others_go_on(self):
        account = self.oauth_account()
        self.sign_in(account)
        password_account = self.make_account()
        self.seed(["for the password account"])
        self.oauth.revoke(identity=account.email)
        self.oauth.expire_access_tokens()
        self.env.cr.execute("UPDATE vt_webmail_account SET oauth_expires_at = "
                            "now() AT TIME ZONE 'UTC' WHERE id = %s", (account.id,))
        (account | password_account).sudo().write({"last_attempt_at": False})
        account.invalidate_recordset()
        with mute_logger("odoo.addons.vt_webmail.models.vt_webmail_account_sync"):
            self.env["vt_webmail.account"]._cron_refresh()
        account.invalidate_recordset()
        password_account.invalidate_recordset()
        self.assertTrue(account.needs_sign_in)
        self.assertIn("Sign in to Google again", account.last_error)
        self.assertFalse(password_account.last_error)
        self.assertEqual(self.messages(password_account).mapped("subject"),
                         ["for the password account"])
        # sending says the same, and sends nothing
        with self.assertRaises(UserError) as caught:
            account.with_user(self.user).send_mail(to="bob@example.org", subject="s",
                                                   body_html="b")
        self.assertIn("Sign in to Google again", str(caught.exception))
        self.assertEqual(self.smtp.messages, [])
        # signing in again clears it all
        self.sign_in(account)
        self.assertFalse(account.needs_sign_in)
        self.assertFalse(account.last_error)
        self.assertFalse(account.with_user(self.user).action_refresh()["error"])

    @mute_logger("odoo.addons.rpc.controllers.xmlrpc")  # Odoo 19: "XML-RPC is deprecated"
    def test_tokens_are_never_readable_over_xmlrpc(self):
        account = self.oauth_account()
        self.sign_in(account)
        account.with_user(self.user).action_refresh()
        owner = account.sudo()
        tokens = [owner._oauth_read_token("oauth_access_token_crypt"),
                  owner._oauth_read_token("oauth_refresh_token_crypt")]
        self.assertTrue(all(tokens))
        admin = self.env.ref("base.user_admin")
        self.env.flush_all()
        common = self.xmlrpc_common
        for user, password in ((self.user, self.user.login), (admin, "admin")):
            uid = common.authenticate(get_db_name(), user.login, password, {})
            rows = self.xmlrpc_object.execute_kw(
                get_db_name(), uid, password, "vt_webmail.account", "read", [[account.id]], {})
            searched = self.xmlrpc_object.execute_kw(
                get_db_name(), uid, password, "vt_webmail.account", "search_read",
                [[("id", "=", account.id)]], {})
            answers = [rows, searched]
            if user == admin:  # exporting needs the export right, which admin has
                answers.append(self.xmlrpc_object.execute_kw(
                    get_db_name(), uid, password, "vt_webmail.account", "export_data",
                    [[account.id], sorted(rows[0])], {}))
            for token in tokens:
                for answer in answers:
                    self.assertNotIn(token, repr(answer))
                    self.assertNotIn(token.encode(), repr(answer).encode())

    def test_no_token_in_any_log(self):
        account = self.oauth_account()
        with self.assertLogs(level="DEBUG") as logs:
            self.sign_in(account)
            self.oauth.expire_access_tokens()  # a renewal, and its retry, logged as they go
            account.with_user(self.user).action_refresh()
            account.with_user(self.user).send_mail(to="bob@example.org", subject="s",
                                                   body_html="b")
        owner = account.sudo()
        tokens = [owner._oauth_read_token("oauth_access_token_crypt"),
                  owner._oauth_read_token("oauth_refresh_token_crypt")]
        self.assertTrue(all(tokens))
        self.assertTrue(any("access token renewed" in line for line in logs.output))
        for line in logs.output:
            for token in tokens:
                self.assertNotIn(token, line)

    def test_sign_in_again_from_webmail_in_the_browser(self):
        account = self.oauth_account()
        self.sign_in(account)
        self.oauth.revoke(identity=account.email)
        self.oauth.expire_access_tokens()
        self.env.cr.execute("UPDATE vt_webmail_account SET oauth_expires_at = "
                            "now() AT TIME ZONE 'UTC' WHERE id = %s", (account.id,))
        account.invalidate_recordset()
        account.with_user(self.user).action_refresh()
        self.assertTrue(account.needs_sign_in)
        self.start_tour("/odoo", "vt_webmail_oauth_tour", login=self.user.login)
        account.invalidate_recordset()
        self.assertFalse(account.needs_sign_in)
        self.assertTrue(account.oauth_signed_in)

    # -- presets ---------------------------------------------------------------------------------

    def test_provider_presets(self):
        form = Form(self.env["vt_webmail.account"].with_user(self.user))
        form.email = "jane@gmail.example"
        form.auth_method = "google"
        self.assertEqual((form.imap_host, form.imap_port, form.security),
                         ("imap.gmail.com", 993, "ssl"))
        self.assertEqual((form.smtp_host, form.smtp_port, form.smtp_security),
                         ("smtp.gmail.com", 465, "ssl"))
        self.assertTrue(form.server_saves_sent)
        self.assertEqual(form.login, "jane@gmail.example")
        form.auth_method = "microsoft"
        self.assertEqual((form.imap_host, form.imap_port, form.security),
                         ("outlook.office365.com", 993, "ssl"))
        self.assertEqual((form.smtp_host, form.smtp_port, form.smtp_security),
                         ("smtp.office365.com", 587, "starttls"))
        self.assertTrue(form.server_saves_sent)

    def test_gmail_all_mail_is_not_synced_by_default(self):
        account = self.oauth_account()
        self.sign_in(account)
        client = self.imap(account.email)
        client.create_folder("All Mail")
        client.logout()
        self.seed(["everything"], login=account.email, folder="All Mail")
        account.with_user(self.user).action_refresh()
        all_mail = account.folder_ids.filtered(lambda f: f.name == self.folder("All Mail"))
        self.assertEqual(all_mail.role, "all")
        self.assertFalse(all_mail.is_synced)
        self.assertFalse(self.messages(account, "All Mail"))

    def test_password_accounts_are_unchanged(self):
        account = self.make_account()
        self.assertEqual(account.auth_method, "password")
        self.seed(["plain"])
        self.assertEqual(account.action_refresh()["new"], 1)
        with self.assertRaises(UserError):
            account.with_user(self.user).action_oauth_sign_in()
