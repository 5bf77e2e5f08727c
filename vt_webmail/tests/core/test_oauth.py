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
