"""The OAuth test servers are real: the authorization server over HTTP, Dovecot's oauth2 passdb,
aiosmtpd's XOAUTH2 / OAUTHBEARER. Everything on loopback; nothing reaches the internet."""

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import smtplib
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import imapclient
import pytest
from imapclient.exceptions import LoginError

from vt_webmail.testing import DovecotServer, OAuthServer, ServerUnavailable, server_required
from vt_webmail.testing.oauth_server import pkce_challenge
from vt_webmail.testing.smtpd import SMTPServer

CLIENT_ID, CLIENT_SECRET = "vt-client", "vt-secret"
REDIRECT_URI = "http://localhost:8069/vt_webmail/oauth/callback"
SCOPE = "https://mail.google.com/ openid email"
_addresses = (f"user{n}@example.com" for n in itertools.count(1))


# -- HTTP helpers (urllib only) ---------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _get(url, headers=None):
    """``(status, headers, body)`` of a GET, redirects not followed."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def _post(url, params, headers=None):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                     headers=headers or {}, method="POST")
    try:
        with _opener.open(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def _token(server, url=None, **params):
    """POST to the token endpoint with the client's credentials in the body."""
    params.setdefault("client_id", CLIENT_ID)
    params.setdefault("client_secret", CLIENT_SECRET)
    status, _headers, body = _post(url or server.token_url, params)
    return status, json.loads(body)


def _authorize(server, url=None, **params):
    """The redirect of ``/authorize``: its query as a dict."""
    query = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
             "scope": SCOPE, "state": "st-1", "access_type": "offline", "prompt": "consent"}
    query.update(params)
    status, headers, _body = _get(f"{url or server.authorize_url}?{urllib.parse.urlencode(query)}")
    assert status == 302, status
    location = headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def _code(server, verifier=None, **params):
    if verifier:
        params.update(code_challenge=pkce_challenge(verifier), code_challenge_method="S256")
    return _authorize(server, **params)["code"]


def _introspect(server, token):
    status, _headers, body = _post(server.introspection_url, {"token": token})
    assert status == 200
    return json.loads(body)


def _jwt_payload(token, secret):
    header, payload, signature = token.split(".")
    expected = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "==") == expected, "bad HS256 signature"
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "HS256"
    return json.loads(base64.urlsafe_b64decode(payload + "=="))


@pytest.fixture
def oauth():
    with OAuthServer() as server:
        server.identity = "alice@example.com"
        yield server
        assert server.errors == []


# -- the authorization server -----------------------------------------------------------------


def test_code_token_refresh_introspect_round_trip(oauth, capfd):
    verifier = secrets.token_urlsafe(48)
    redirect = _authorize(oauth, code_challenge=pkce_challenge(verifier),
                          code_challenge_method="S256", login_hint="alice@example.com")
    assert redirect["state"] == "st-1"
    status, tokens = _token(oauth, grant_type="authorization_code", code=redirect["code"],
                            redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert status == 200
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == SCOPE
    assert tokens["refresh_token"] and tokens["access_token"]

    claims = _jwt_payload(tokens["id_token"], CLIENT_SECRET)
    assert claims["iss"] == oauth.url
    assert claims["aud"] == CLIENT_ID
    assert claims["email"] == claims["preferred_username"] == "alice@example.com"
    assert claims["sub"].isdigit()
    assert claims["iat"] <= time.time() < claims["exp"]

    info = _introspect(oauth, tokens["access_token"])
    assert info["active"] is True
    assert info["email"] == info["username"] == "alice@example.com"
    assert info["sub"] == claims["sub"]
    assert info["client_id"] == CLIENT_ID and info["scope"] == SCOPE
    assert info["exp"] > time.time()
    assert oauth.token_identity(tokens["access_token"]) == "alice@example.com"

    status, _headers, body = _get(oauth.userinfo_url,
                                  {"Authorization": f"Bearer {tokens['access_token']}"})
    assert status == 200 and json.loads(body)["email"] == "alice@example.com"
    assert _get(oauth.userinfo_url, {"Authorization": "Bearer nope"})[0] == 401

    # Google: a refresh gives a new access token and no new refresh token; the old one stays
    for _ in range(2):
        status, refreshed = _token(oauth, grant_type="refresh_token",
                                   refresh_token=tokens["refresh_token"])
        assert status == 200
        assert "refresh_token" not in refreshed
        assert refreshed["access_token"] != tokens["access_token"]
        assert _introspect(oauth, refreshed["access_token"])["active"] is True
    assert len(oauth.token_requests("refresh_token")) == 2
    assert _introspect(oauth, "not-a-token") == {"active": False}

    # the log masks every secret, and nothing at all was printed
    log = repr(oauth.requests)
    for secret in (CLIENT_SECRET, verifier, redirect["code"], tokens["access_token"],
                   tokens["refresh_token"], refreshed["access_token"]):
        assert secret not in log
    assert ("POST", "/token", {"grant_type": "refresh_token", "refresh_token": "***",
                               "client_id": CLIENT_ID, "client_secret": "***"}) in oauth.requests
    out, err = capfd.readouterr()
    assert out == err == ""


def test_microsoft_endpoint_basic_auth_and_rotation(oauth):
    # Odoo's microsoft_outlook: url_join(endpoint, "authorize") / url_join(endpoint, "token")
    oauth.rotate_refresh_tokens = True
    oauth.access_token_lifetime = 600
    code = _authorize(oauth, url=urllib.parse.urljoin(oauth.endpoint, "authorize"))["code"]
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    token_url = urllib.parse.urljoin(oauth.endpoint, "token")
    assert token_url == oauth.url + "/ms/token"
    status, _headers, body = _post(
        token_url, {"grant_type": "authorization_code", "code": code,
                    "redirect_uri": REDIRECT_URI},
        {"Authorization": f"Basic {basic}"})
    assert status == 200
    first = json.loads(body)
    assert first["expires_in"] == 600

    status, second = _token(oauth, url=token_url, grant_type="refresh_token",
                            refresh_token=first["refresh_token"], scope=SCOPE)
    assert status == 200
    assert second["refresh_token"] not in (None, first["refresh_token"])
    # the refresh token just used is spent; the new one works
    assert _token(oauth, grant_type="refresh_token", refresh_token=first["refresh_token"]) == (
        400, {"error": "invalid_grant",
              "error_description": "The refresh token is invalid or was revoked."})
    status, third = _token(oauth, grant_type="refresh_token",
                           refresh_token=second["refresh_token"])
    assert status == 200 and third["refresh_token"] != second["refresh_token"]
    # a refresh may narrow the scope, never widen it
    assert _token(oauth, grant_type="refresh_token", refresh_token=third["refresh_token"],
                  scope=SCOPE + " https://graph.microsoft.com/.default")[1]["error"] == (
        "invalid_scope")


@pytest.mark.parametrize(("verifier", "sent", "described"), [
    ("right-verifier-" + "x" * 40, "wrong-verifier-" + "x" * 40, "Invalid code_verifier."),
    ("right-verifier-" + "x" * 40, None, "Missing code_verifier."),
    (None, "unasked-verifier-" + "x" * 40, "code_verifier sent but no code_challenge was."),
])
def test_pkce_is_checked(oauth, verifier, sent, described):
    code = _code(oauth, verifier)
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if sent:
        params["code_verifier"] = sent
    assert _token(oauth, **params) == (400, {"error": "invalid_grant",
                                             "error_description": described})


def test_pkce_right_verifier_then_code_is_spent(oauth):
    verifier = secrets.token_urlsafe(48)
    code = _code(oauth, verifier)
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
              "code_verifier": verifier}
    status, tokens = _token(oauth, **params)
    assert status == 200
    # a code used twice fails, and revokes what it gave the first time (RFC 6749 4.1.2)
    status, error = _token(oauth, **params)
    assert (status, error["error"]) == (400, "invalid_grant")
    assert oauth.token_identity(tokens["access_token"]) is None
    assert _token(oauth, grant_type="refresh_token",
                  refresh_token=tokens["refresh_token"])[1]["error"] == "invalid_grant"


def test_redirect_uri_must_match(oauth):
    code = _code(oauth)
    status, error = _token(oauth, grant_type="authorization_code", code=code,
                           redirect_uri=REDIRECT_URI + "/other")
    assert (status, error["error"]) == (400, "invalid_grant")
    assert "redirect_uri" in error["error_description"]


def test_code_expires(oauth):
    oauth.code_lifetime = 0
    status, error = _token(oauth, grant_type="authorization_code", code=_code(oauth),
                           redirect_uri=REDIRECT_URI)
    assert (status, error["error"]) == (400, "invalid_grant")
    assert "expired" in error["error_description"]


def test_client_authentication_and_grant_type(oauth):
    code = _code(oauth)
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    status, headers, body = _post(oauth.token_url,
                                  {**params, "client_id": CLIENT_ID, "client_secret": "wrong"})
    assert (status, json.loads(body)["error"]) == (401, "invalid_client")
    assert headers["WWW-Authenticate"].startswith("Basic")
    assert _token(oauth, client_id="unknown", **params)[1]["error"] == "invalid_client"
    assert _token(oauth, grant_type="password", username="a", password="b")[1]["error"] == (
        "unsupported_grant_type")
    assert _token(oauth, grant_type="authorization_code", code="forged",
                  redirect_uri=REDIRECT_URI)[1]["error"] == "invalid_grant"
    # the failed client authentications did not spend the code
    assert _token(oauth, **params)[0] == 200


def test_refresh_token_of_another_client(oauth):
    other = OAuthServer({CLIENT_ID: CLIENT_SECRET, "other": "other-secret"})
    with other:
        tokens = other.issue_tokens("alice@example.com", client_id=CLIENT_ID)
        status, error = _token(other, client_id="other", client_secret="other-secret",
                               grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert (status, error["error"]) == (400, "invalid_grant")


def test_authorize_refusals(oauth):
    query = {"client_id": "unknown", "redirect_uri": REDIRECT_URI, "response_type": "code",
             "state": "s"}
    status, headers, body = _get(f"{oauth.authorize_url}?{urllib.parse.urlencode(query)}")
    assert status == 400 and "Location" not in headers and b"client_id" in body
    query = {"client_id": CLIENT_ID, "response_type": "code"}
    assert _get(f"{oauth.authorize_url}?{urllib.parse.urlencode(query)}")[0] == 400

    oauth.deny = True
    redirect = _authorize(oauth, state="st-9")
    assert redirect["error"] == "access_denied"
    assert redirect["state"] == "st-9"
    assert redirect["error_description"]
    assert "code" not in redirect


def test_consent_page(oauth):
    oauth.consent = "page"
    query = urllib.parse.urlencode({
        "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
        "scope": SCOPE, "state": "st-<3>"})
    for decision, identity in (("allow", "bob@example.com"), ("deny", "bob@example.com")):
        status, _headers, body = _get(f"{oauth.endpoint}authorize?{query}")
        page = body.decode()
        assert status == 200 and "Allow" in page and "Deny" in page
        assert 'action="/ms/authorize/decide"' in page
        request_id = page.split('name="request_id" value="')[1].split('"')[0]
        status, headers, _body = _post(
            f"{oauth.endpoint}authorize/decide",
            {"request_id": request_id, "identity": identity, "decision": decision})
        assert status == 302
        redirect = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
            headers["Location"]).query))
        assert redirect["state"] == "st-<3>"
        if decision == "allow":
            status, tokens = _token(oauth, grant_type="authorization_code",
                                    code=redirect["code"], redirect_uri=REDIRECT_URI)
            assert oauth.token_identity(tokens["access_token"]) == "bob@example.com"
        else:
            assert redirect["error"] == "access_denied"
        # a consent page answers once
        assert _post(f"{oauth.endpoint}authorize/decide",
                     {"request_id": request_id, "identity": identity,
                      "decision": "allow"})[0] == 400


def test_revoke(oauth):
    alice = oauth.issue_tokens("alice@example.com")
    alice_again = oauth.issue_tokens("alice@example.com")
    bob = oauth.issue_tokens("bob@example.com")

    assert oauth.revoke(refresh_token=alice["refresh_token"]) == 1
    assert _introspect(oauth, alice["access_token"]) == {"active": False}
    assert _token(oauth, grant_type="refresh_token",
                  refresh_token=alice["refresh_token"])[1]["error"] == "invalid_grant"
    assert oauth.token_identity(alice_again["access_token"]) == "alice@example.com"

    assert oauth.revoke(identity="alice@example.com") == 1
    assert oauth.token_identity(alice_again["access_token"]) is None
    assert _token(oauth, grant_type="refresh_token",
                  refresh_token=alice_again["refresh_token"])[1]["error"] == "invalid_grant"
    assert oauth.token_identity(bob["access_token"]) == "bob@example.com"
    assert _token(oauth, grant_type="refresh_token",
                  refresh_token=bob["refresh_token"])[0] == 200


def test_expire_access_tokens(oauth):
    alice = oauth.issue_tokens("alice@example.com")
    bob = oauth.issue_tokens("bob@example.com")
    oauth.expire_access_tokens("alice@example.com")
    assert _introspect(oauth, alice["access_token"]) == {"active": False}
    assert oauth.token_identity(bob["access_token"]) == "bob@example.com"
    status, fresh = _token(oauth, grant_type="refresh_token", refresh_token=alice["refresh_token"])
    assert status == 200
    assert _introspect(oauth, fresh["access_token"])["email"] == "alice@example.com"

    oauth.access_token_lifetime = 0  # born expired
    assert oauth.token_identity(oauth.issue_tokens()["access_token"]) is None


def test_stop_and_start_again(oauth):
    tokens = oauth.issue_tokens()
    oauth.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(oauth.userinfo_url, timeout=2)
    oauth.start()
    assert _introspect(oauth, tokens["access_token"])["active"] is True


# -- Dovecot with the oauth2 passdb -----------------------------------------------------------


def _dovecot(**kwargs):
    try:
        return DovecotServer(**kwargs).start()
    except ServerUnavailable as exc:
        if server_required("dovecot"):
            pytest.fail(f"dovecot is required (VT_REQUIRE_IMAP_SERVERS) but: {exc}")
        pytest.skip(f"dovecot: {exc}")


@pytest.fixture(scope="module")
def module_oauth():
    with OAuthServer() as server:
        yield server


@pytest.fixture(scope="module")
def oauth_dovecot(module_oauth):
    server = _dovecot(oauth=module_oauth)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def oauth_user(oauth_dovecot):
    """A fresh mail user whose login is its address; returns (address, password)."""
    address = next(_addresses)
    password = secrets.token_urlsafe(12)
    oauth_dovecot.add_user(address, password)
    return address, password


def _imap(server):
    return imapclient.IMAPClient(server.host, server.imap_port, ssl=False, timeout=5)


def _oauth_login(server, how, user, token):
    """Log in by XOAUTH2 or OAUTHBEARER; return the client (LoginError if refused)."""
    client = _imap(server)
    try:
        if how == "xoauth2":
            client.oauth2_login(user, token)
        else:
            client.oauthbearer_login(user, token)
    except BaseException:
        client.shutdown()
        raise
    return client


def test_dovecot_announces_oauth_mechanisms(oauth_dovecot, oauth_user):
    client = _imap(oauth_dovecot)
    try:
        before = client.capabilities()
        assert {b"AUTH=PLAIN", b"AUTH=LOGIN", b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER",
                b"STARTTLS"} <= set(before)
        client.login(*oauth_user)
        after = client.capabilities()
        assert not any(cap.startswith(b"AUTH=") for cap in after)
    finally:
        client.logout()


def test_dovecot_without_oauth_offers_none(dovecot):
    client = _imap(dovecot)
    try:
        assert not {b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER"} & set(client.capabilities())
    finally:
        client.shutdown()


@pytest.mark.parametrize("how", ["xoauth2", "oauthbearer"])
def test_dovecot_valid_token_logs_in(oauth_dovecot, module_oauth, oauth_user, how):
    address, _password = oauth_user
    uid = oauth_dovecot.append(address, "INBOX", b"Subject: via oauth\r\n\r\nx\r\n")
    token = module_oauth.issue_tokens(address)["access_token"]
    client = _oauth_login(oauth_dovecot, how, address, token)
    try:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
        assert uid in client.search("ALL")
    finally:
        client.logout()


@pytest.mark.parametrize("how", ["xoauth2", "oauthbearer"])
def test_dovecot_refuses_bad_tokens(oauth_dovecot, module_oauth, oauth_user, how):
    address, _password = oauth_user
    other = next(_addresses)
    oauth_dovecot.add_user(other, "pw")

    expired = module_oauth.issue_tokens(address)["access_token"]
    module_oauth.expire_access_tokens(address)
    revoked = module_oauth.issue_tokens(address)
    module_oauth.revoke(refresh_token=revoked["refresh_token"])
    others = module_oauth.issue_tokens(other)["access_token"]
    for token in (expired, revoked["access_token"], others, "forged-token"):
        with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
            _oauth_login(oauth_dovecot, how, address, token)
    # the other user's token is good for that user
    _oauth_login(oauth_dovecot, how, other, others).logout()


@pytest.mark.parametrize(("how", "error"), [
    ("XOAUTH2", {"status": "401", "schemes": "bearer", "scope": "mail"}),
    ("OAUTHBEARER", {"status": "invalid_token"}),
])
def test_dovecot_refusal_is_an_error_challenge(oauth_dovecot, oauth_user, how, error):
    # Not a straight NO: Dovecot sends the JSON error as a continuation ("+ <base64>"), and
    # answers NO only after the client's reply to it, as Gmail does.
    address, _password = oauth_user
    if how == "XOAUTH2":
        first = f"user={address}\1auth=Bearer forged\1\1"
    else:
        first = f"n,a={address},\1auth=Bearer forged\1\1"
    challenges = []

    def mechanism(challenge):
        challenges.append(challenge)
        return first if len(challenges) == 1 else ("" if how == "XOAUTH2" else "\1")

    client = _imap(oauth_dovecot)
    try:
        with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
            client.sasl_login(how, mechanism)
    finally:
        client.shutdown()
    assert challenges[0] == b""  # imaplib sends no initial response: an empty continuation
    assert [json.loads(challenge) for challenge in challenges[1:]] == [error]


def test_dovecot_does_not_cache_token_results(oauth_dovecot, module_oauth, oauth_user):
    address, _password = oauth_user
    tokens = module_oauth.issue_tokens(address)
    _oauth_login(oauth_dovecot, "xoauth2", address, tokens["access_token"]).logout()
    module_oauth.revoke(refresh_token=tokens["refresh_token"])
    with pytest.raises(LoginError):
        _oauth_login(oauth_dovecot, "xoauth2", address, tokens["access_token"])
    fresh = module_oauth.issue_tokens(address)["access_token"]
    before = len(module_oauth.requests)
    _oauth_login(oauth_dovecot, "oauthbearer", address, fresh).logout()
    _oauth_login(oauth_dovecot, "oauthbearer", address, fresh).logout()
    # one introspection per login
    assert [path for _method, path, _params in module_oauth.requests[before:]] == [
        "/introspect", "/introspect"]


def test_dovecot_passwords_still_work(oauth_dovecot, module_oauth, oauth_user):
    address, password = oauth_user
    plain = f"plain{secrets.randbelow(10**6)}"
    oauth_dovecot.add_user(plain, "plain-pw")
    for login, secret in ((address, password), (plain, "plain-pw")):
        client = _imap(oauth_dovecot)
        try:
            client.login(login, secret)
            client.select_folder("INBOX")
        finally:
            client.logout()
    # a token is not a password: LOGIN and PLAIN do not reach the oauth2 passdb
    token = module_oauth.issue_tokens(address)["access_token"]
    client = _imap(oauth_dovecot)
    try:
        with pytest.raises(LoginError):
            client.login(address, token)
        with pytest.raises(LoginError):
            client.plain_login(address, token)
    finally:
        client.shutdown()


def test_dovecot_xoauth2_only(module_oauth):
    server = _dovecot(oauth=module_oauth, oauth_mechanisms=("xoauth2",))
    try:
        server.add_user("carol@example.com", "pw")
        token = module_oauth.issue_tokens("carol@example.com")["access_token"]
        client = _imap(server)
        try:
            capabilities = set(client.capabilities())
            assert b"AUTH=XOAUTH2" in capabilities
            assert b"AUTH=OAUTHBEARER" not in capabilities
        finally:
            client.shutdown()
        with pytest.raises(LoginError):
            _oauth_login(server, "oauthbearer", "carol@example.com", token)
        _oauth_login(server, "xoauth2", "carol@example.com", token).logout()
    finally:
        server.close()


def test_dovecot_rejects_unknown_mechanism():
    before = set(Path(tempfile.gettempdir()).glob("vt-dovecot-*"))
    with pytest.raises(ValueError):
        DovecotServer(oauth=object(), oauth_mechanisms=("gssapi",))
    with pytest.raises(ValueError):
        DovecotServer(oauth=object(), oauth_mechanisms=())
    assert set(Path(tempfile.gettempdir()).glob("vt-dovecot-*")) == before, "a directory leaked"


# -- aiosmtpd with XOAUTH2 / OAUTHBEARER ------------------------------------------------------


@pytest.fixture
def oauth_smtp(oauth):
    with SMTPServer({"sender": "sender-password"}, oauth=oauth) as server:
        yield server


def _xoauth2(user, token, challenges=None):
    """An smtplib authobject: the initial response, then an empty line to an error challenge
    (recorded in ``challenges``)."""
    def authobject(challenge=None):
        if challenge is None:
            return f"user={user}\1auth=Bearer {token}\1\1"
        if challenges is not None:
            challenges.append(json.loads(challenge))
        return ""
    return authobject


def _oauthbearer(user, token, challenges=None):
    def authobject(challenge=None):
        if challenge is None:
            return f"n,a={user},\1host=localhost\1port=587\1auth=Bearer {token}\1\1"
        if challenges is not None:
            challenges.append(json.loads(challenge))
        return "\1"  # RFC 7628 3.2.3: the client's dummy answer to the error
    return authobject


MESSAGE = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: oauth\r\n\r\nHello\r\n"


def _smtp(server):
    client = smtplib.SMTP(server.host, server.port, timeout=5)
    client.ehlo()
    return client


@pytest.mark.parametrize(("mechanism", "make"), [("XOAUTH2", _xoauth2),
                                                 ("OAUTHBEARER", _oauthbearer)])
def test_smtp_good_token(oauth, oauth_smtp, mechanism, make):
    token = oauth.issue_tokens("alice@example.com")["access_token"]
    with _smtp(oauth_smtp) as client:
        assert set(client.esmtp_features["auth"].split()) == {
            "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"}
        assert client.auth(mechanism, make("alice@example.com", token))[0] == 235
        client.sendmail("alice@example.com", ["bob@example.org"], MESSAGE)
    (received,) = oauth_smtp.wait_for(1)
    assert (received.login, received.mechanism) == ("alice@example.com", mechanism)
    assert received.data == MESSAGE


def test_smtp_good_token_without_initial_response(oauth, oauth_smtp):
    token = oauth.issue_tokens("alice@example.com")["access_token"]
    answer = f"user=alice@example.com\1auth=Bearer {token}\1\1"
    with _smtp(oauth_smtp) as client:
        code, _text = client.auth("XOAUTH2", lambda challenge=None: answer,
                                  initial_response_ok=False)
        assert code == 235


def test_smtp_xoauth2_refusal_like_gmail(oauth, oauth_smtp):
    alice = oauth.issue_tokens("alice@example.com")["access_token"]
    bob = oauth.issue_tokens("bob@example.com")["access_token"]
    expired = oauth.issue_tokens("alice@example.com")["access_token"]
    oauth.expire_access_tokens("alice@example.com")
    for user, token in (("alice@example.com", "forged"), ("alice@example.com", bob),
                        ("alice@example.com", expired), ("bob@example.com", alice)):
        challenges = []
        with _smtp(oauth_smtp) as client:
            with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
                client.auth("XOAUTH2", _xoauth2(user, token, challenges))
            assert caught.value.smtp_code == 535
            assert caught.value.smtp_error == b"5.7.8 Username and Password not accepted"
            # still in the authorization state: MAIL is refused
            assert client.docmd("MAIL", "FROM:<alice@example.com>")[0] == 530
        assert challenges == [{"status": "401", "schemes": "Bearer",
                               "scope": "https://mail.google.com/"}]
    assert oauth_smtp.messages == []


def test_smtp_oauthbearer_refusal(oauth, oauth_smtp):
    bob = oauth.issue_tokens("bob@example.com")["access_token"]
    for token in ("forged", bob):
        challenges = []
        with _smtp(oauth_smtp) as client, pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.auth("OAUTHBEARER", _oauthbearer("alice@example.com", token, challenges))
        assert caught.value.smtp_code == 535
        assert challenges[0]["status"] == "invalid_token"
    # no authzid: refused too (Gmail requires a=)
    token = oauth.issue_tokens("alice@example.com")["access_token"]
    with _smtp(oauth_smtp) as client, pytest.raises(smtplib.SMTPAuthenticationError):
        client.auth("OAUTHBEARER", lambda challenge=None: (
            f"n,,\1auth=Bearer {token}\1\1" if challenge is None else "\1"))


def test_smtp_passwords_still_work(oauth_smtp):
    with _smtp(oauth_smtp) as client:
        client.login("sender", "sender-password")
        client.sendmail("sender@example.com", ["bob@example.org"], MESSAGE)
    (received,) = oauth_smtp.wait_for(1)
    assert received.login == "sender" and received.mechanism in ("PLAIN", "LOGIN")


def test_smtp_without_oauth_offers_none(smtp_server):
    with _smtp(smtp_server) as client:
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        code, _text = client.docmd("AUTH", "XOAUTH2")
        assert code == 504
