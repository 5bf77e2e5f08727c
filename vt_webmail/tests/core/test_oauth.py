"""core.oauth: the consent URL, PKCE, the id_token, SASL responses; the token endpoint and
SASL logins against the harness's local authorization server, Dovecot and aiosmtpd."""

import base64
import hashlib
import json
import urllib.parse

import pytest

from vt_webmail.core import exceptions, oauth


def _jwt(claims):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


CLIENT = oauth.Client("vt-client", "vt-secret", "https://odoo.example.com/vt_webmail/oauth/confirm")


def test_authorize_url_carries_what_each_provider_needs():
    verifier, challenge = oauth.new_pkce()
    url = oauth.authorize_url(oauth.GOOGLE, CLIENT, state="s1", code_challenge=challenge,
                              login_hint="jane@example.com")
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == oauth.GOOGLE.authorize_url
    assert query["client_id"] == "vt-client"
    assert query["redirect_uri"] == CLIENT.redirect_uri
    assert query["scope"].split() == ["https://mail.google.com/", "openid", "email"]
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    assert (query["state"], query["login_hint"]) == ("s1", "jane@example.com")
    assert query["code_challenge_method"] == "S256"
    # RFC 7636 4.2: BASE64URL(SHA256(verifier)), no padding
    digest = hashlib.sha256(verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "client_secret" not in url

    url = oauth.authorize_url(oauth.MICROSOFT, CLIENT, state="s2", code_challenge=challenge)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert {"offline_access", "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send"} <= set(query["scope"].split())
    assert query["response_mode"] == "query"


def test_endpoints_can_be_moved():
    moved = oauth.with_endpoints(oauth.MICROSOFT, authorize_url="https://t.example/a",
                                 token_url="https://t.example/t")
    assert (moved.authorize_url, moved.token_url) == ("https://t.example/a",
                                                      "https://t.example/t")
    assert moved.scopes == oauth.MICROSOFT.scopes
    assert oauth.with_endpoints(oauth.GOOGLE) == oauth.GOOGLE


def test_identity_from_the_id_token():
    read = oauth.identity_from_id_token
    assert read(_jwt({"aud": "vt-client", "email": "Jane@Example.com"}), "vt-client") == \
        "jane@example.com"
    # Microsoft: often no email claim, preferred_username is the mailbox
    assert read(_jwt({"aud": ["vt-client"], "preferred_username": "bob@contoso.com"}),
                "vt-client") == "bob@contoso.com"
    assert read(_jwt({"aud": "vt-client", "name": "No Address"}), "vt-client") is None
    with pytest.raises(exceptions.OAuthError, match="another client"):
        read(_jwt({"aud": "someone-else", "email": "jane@example.com"}), "vt-client")
    for broken in ("not-a-jwt", "a.!!!.c", _jwt(["a", "list"]), None):
        with pytest.raises(exceptions.OAuthError):
            read(broken, "vt-client")


def test_only_https_endpoints_except_on_loopback():
    oauth.check_endpoint("https://oauth2.googleapis.com/token")
    oauth.check_endpoint("http://127.0.0.1:8000/token")
    oauth.check_endpoint("http://localhost:8000/token")
    oauth.check_endpoint("http://[::1]:8000/token")
    for bad in ("http://oauth.example.com/token", "file:///etc/passwd", "ftp://x/token",
                "http://10.0.0.1/token"):
        with pytest.raises(exceptions.OAuthError):
            oauth.check_endpoint(bad)


def test_sasl_responses():
    assert oauth.xoauth2_response("jane@example.com", "tok") == \
        "user=jane@example.com\x01auth=Bearer tok\x01\x01"
    # RFC 7628 3.1 with RFC 5801's escaping of the authorization identity
    assert oauth.oauthbearer_response("a,b=c@example.com", "tok", "imap.example.com", 993) == (
        "n,a=a=2Cb=3Dc@example.com,\x01host=imap.example.com\x01port=993\x01"
        "auth=Bearer tok\x01\x01")


def test_sasl_responder_ends_the_exchange_on_an_error_challenge():
    responder = oauth.SaslResponder("XOAUTH2", "first")
    assert responder(b"") == "first"
    error = json.dumps({"status": "401", "schemes": "Bearer"}).encode()
    assert responder(error) == ""
    assert responder.error == "status 401, schemes Bearer"
    bearer = oauth.SaslResponder("oauthbearer", "first")
    bearer()
    assert bearer(base64.b64encode(b'{"status":"invalid_token"}')) == "\x01"
    assert bearer.error == "status invalid_token"


def test_tokens_expire_with_a_margin():
    tokens = oauth.Tokens(access_token="secret-access", expires_at=1000.0,
                          refresh_token="secret-refresh")
    assert not tokens.expired(now=1000.0 - oauth.EXPIRY_MARGIN - 1)
    assert tokens.expired(now=1000.0 - oauth.EXPIRY_MARGIN)
    assert "secret" not in repr(tokens)


def test_unreachable_token_endpoint_is_a_connection_error():
    from vt_webmail.testing import closed_port

    provider = oauth.with_endpoints(oauth.GOOGLE,
                                    token_url=f"http://127.0.0.1:{closed_port()}/token")
    with pytest.raises(exceptions.ConnectionRefused):
        oauth.refresh(provider, CLIENT, "r", timeout=2)


# -- against the harness's local authorization server, Dovecot and aiosmtpd -------------------

def _consent(server, provider, client):
    """The browser's part: the consent page redirects to the redirect URI; its code."""
    import urllib.request

    verifier, challenge = oauth.new_pkce()
    url = oauth.authorize_url(provider, client, state="st", code_challenge=challenge)

    class Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            raise _Redirected(newurl)

    try:
        urllib.request.build_opener(Stop).open(url, timeout=5)
    except _Redirected as redirect:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirect.url).query))
    assert query["state"] == "st"
    return query["code"], verifier


class _Redirected(Exception):
    def __init__(self, url):
        super().__init__(url)
        self.url = url


@pytest.fixture
def oauth_server():
    from vt_webmail.testing import OAuthServer

    with OAuthServer() as server:
        yield server


def _provider(server, name="google"):
    base = oauth.PROVIDERS[name]
    if name == "google":
        return oauth.with_endpoints(base, authorize_url=server.authorize_url,
                                    token_url=server.token_url)
    return oauth.with_endpoints(base, authorize_url=server.endpoint + "authorize",
                                token_url=server.endpoint + "token")


@pytest.mark.parametrize("name", ["google", "microsoft"])
def test_code_exchange_refresh_and_revocation(oauth_server, name):
    oauth_server.identity = "jane@example.com"
    oauth_server.rotate_refresh_tokens = name == "microsoft"
    provider, client = _provider(oauth_server, name), oauth.Client(
        "vt-client", "vt-secret", "http://127.0.0.1:1/vt_webmail/oauth/confirm")
    code, verifier = _consent(oauth_server, provider, client)
    tokens = oauth.exchange_code(provider, client, code, verifier, timeout=5)
    assert tokens.identity == "jane@example.com"
    assert tokens.refresh_token and not tokens.expired()
    assert oauth_server.token_identity(tokens.access_token) == "jane@example.com"
    # a code is used once
    with pytest.raises(exceptions.GrantRevoked):
        oauth.exchange_code(provider, client, code, verifier, timeout=5)

    code, verifier = _consent(oauth_server, provider, client)
    tokens = oauth.exchange_code(provider, client, code, verifier, timeout=5)
    renewed = oauth.refresh(provider, client, tokens.refresh_token, timeout=5)
    assert renewed.access_token != tokens.access_token
    # Microsoft rotates refresh tokens (the new one must be kept), Google does not
    assert bool(renewed.refresh_token) == (name == "microsoft")
    current = renewed.refresh_token or tokens.refresh_token
    oauth_server.revoke(identity="jane@example.com")
    with pytest.raises(exceptions.GrantRevoked):
        oauth.refresh(provider, client, current, timeout=5)


def test_a_wrong_client_secret_or_verifier_is_refused(oauth_server):
    provider = _provider(oauth_server)
    client = oauth.Client("vt-client", "vt-secret", "http://127.0.0.1:1/cb")
    code, verifier = _consent(oauth_server, provider, client)
    with pytest.raises(exceptions.OAuthError) as caught:
        oauth.exchange_code(provider, oauth.Client("vt-client", "wrong", client.redirect_uri),
                            code, verifier, timeout=5)
    assert caught.value.code == "oauth_failed"
    assert "wrong" not in str(caught.value)
    with pytest.raises(exceptions.GrantRevoked):  # a wrong PKCE verifier: invalid_grant
        oauth.exchange_code(provider, client, code, verifier + "x", timeout=5)


@pytest.mark.parametrize("mechanisms, expected", [
    (("xoauth2", "oauthbearer"), "OAUTHBEARER"),
    (("xoauth2",), "XOAUTH2"),
])
def test_imap_logs_in_with_the_token(oauth_server, mechanisms, expected, monkeypatch):
    from vt_webmail.core.imap_session import ServerSettings, connect
    from vt_webmail.testing import DovecotServer

    used = []
    real = oauth.SaslResponder.__init__

    def spy(self, mechanism, response):
        used.append(mechanism)
        real(self, mechanism, response)

    monkeypatch.setattr(oauth.SaslResponder, "__init__", spy)
    with DovecotServer(oauth=oauth_server, oauth_mechanisms=mechanisms) as dovecot:
        dovecot.add_user("jane@example.com", "not-used")
        token = oauth_server.issue_tokens("jane@example.com")["access_token"]
        settings = ServerSettings(dovecot.hostname, dovecot.imaps_port, "jane@example.com",
                                  "", ca_pem=dovecot.ca_path.read_text(), timeout=5,
                                  access_token=token)
        with connect(settings) as session:
            assert session.select("INBOX").exists == 0
        assert used == [expected]
        assert token not in repr(settings)
        oauth_server.expire_access_tokens()
        with pytest.raises(exceptions.TokenRejected) as caught:
            connect(settings)
        assert caught.value.code == "token_rejected"
        assert token not in str(caught.value)
        # the same mailbox, another identity's token
        other = oauth_server.issue_tokens("mallory@example.com")["access_token"]
        with pytest.raises(exceptions.TokenRejected):
            connect(ServerSettings(dovecot.hostname, dovecot.imaps_port, "jane@example.com",
                                   "", ca_pem=dovecot.ca_path.read_text(), timeout=5,
                                   access_token=other))


def test_smtp_sends_with_the_token(oauth_server):
    from vt_webmail.core import smtp
    from vt_webmail.testing.smtpd import SMTPServer

    with SMTPServer({}, oauth=oauth_server) as server:
        token = oauth_server.issue_tokens("jane@example.com")["access_token"]
        settings = smtp.SmtpSettings(server.hostname, server.port, "jane@example.com", "",
                                     ca_pem=server.ca_path.read_text(), timeout=5,
                                     access_token=token)
        smtp.send(settings, b"Subject: hi\r\n\r\nbody\r\n", envelope_from="jane@example.com",
                  recipients=["bob@example.org"])
        [received] = server.wait_for(1)
        assert received.login == "jane@example.com"
        assert received.mechanism == "OAUTHBEARER"  # preferred when offered
        oauth_server.revoke(identity="jane@example.com")
        with pytest.raises(exceptions.TokenRejected):
            smtp.send(settings, b"Subject: no\r\n\r\nbody\r\n",
                      envelope_from="jane@example.com", recipients=["bob@example.org"])
        assert len(server.messages) == 1
