"""OAuth 2.0 for mailboxes that take no password: Google Workspace / Gmail and Microsoft 365.

The authorization code flow of RFC 6749 with PKCE (RFC 7636), as Google and Microsoft run it
for IMAP and SMTP:

1. :func:`authorize_url` sends the user's browser to the provider's consent page, with a
   ``state`` the caller binds to the account and a PKCE challenge;
2. the provider redirects back with a code, which :func:`exchange_code` trades at the token
   endpoint for an access token (an hour or so), a refresh token and an OpenID ``id_token``
   that says which mailbox the user signed in to;
3. :func:`refresh` gets a new access token from the refresh token before the old one expires,
   or when a mail server rejects it; an ``invalid_grant`` answer (revoked, expired, password
   changed) raises :class:`~.exceptions.GrantRevoked`: the user must sign in again.

The access token logs in to IMAP and SMTP with SASL XOAUTH2 (Google's and Microsoft's) or
OAUTHBEARER (RFC 7628): :func:`xoauth2_response`, :func:`oauthbearer_response`.

The ``id_token`` is read without checking its signature: it comes straight from the token
endpoint over a TLS connection whose certificate was verified, which OpenID Connect Core
(section 3.1.3.7, point 6) accepts in place of the signature. Its audience must be our client.

Network: stdlib ``urllib`` with a timeout; the token endpoint must be HTTPS, except on a
loopback address (the test harness's local authorization server). Nothing here logs a token.
"""

import base64
import binascii
import hashlib
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace

from . import addresses, exceptions, net_policy

#: An access token this close to its expiry is refreshed before use (seconds).
EXPIRY_MARGIN = 120
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Provider:
    """An OAuth 2.0 provider of mailboxes, and the servers its mailboxes use."""

    name: str
    label: str
    authorize_url: str
    token_url: str
    scopes: tuple
    #: extra query parameters of the consent page
    authorize_params: dict = field(default_factory=dict)
    imap: tuple = None  # (host, port, security)
    smtp: tuple = None
    #: the provider files sent mail in Sent by itself: no copy is appended
    saves_sent: bool = True


GOOGLE = Provider(
    name="google",
    label="Google",
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",
    # mail.google.com is the only scope Gmail's IMAP and SMTP accept; openid + email give the
    # id_token whose address is checked against the account's
    scopes=("https://mail.google.com/", "openid", "email"),
    # a refresh token is only given with offline access, and again only after consent
    authorize_params={"access_type": "offline", "prompt": "consent"},
    imap=("imap.gmail.com", 993, "ssl"),
    smtp=("smtp.gmail.com", 465, "ssl"),
)

MICROSOFT = Provider(
    name="microsoft",
    label="Microsoft",
    # Odoo's microsoft_outlook module keeps the same base in microsoft_outlook.endpoint
    authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",
    scopes=("offline_access", "openid", "email",
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send"),
    authorize_params={"response_mode": "query", "prompt": "select_account"},
    imap=("outlook.office365.com", 993, "ssl"),
    smtp=("smtp.office365.com", 587, "starttls"),
)

PROVIDERS = {provider.name: provider for provider in (GOOGLE, MICROSOFT)}


@dataclass(frozen=True)
class Client:
    """Our registration at the provider: client id and secret, and the redirect URI."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True)
class Tokens:
    """What a token endpoint gave. ``refresh_token`` is None when it kept the old one."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str = field(default=None, repr=False)
    identity: str = None
    scope: str = ""

    def expired(self, now=None, margin=EXPIRY_MARGIN):
        """True when the access token is gone or about to go (within ``margin`` seconds)."""
        return (now if now is not None else time.time()) + margin >= self.expires_at


def with_endpoints(provider, *, authorize_url=None, token_url=None):
    """``provider`` with other endpoints (a configured tenant, or the test server)."""
    return replace(provider, authorize_url=authorize_url or provider.authorize_url,
                   token_url=token_url or provider.token_url)


def new_pkce():
    """A PKCE pair ``(verifier, S256 challenge)`` (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(provider, client, *, state, code_challenge, login_hint=None):
    """The consent page's URL for ``client``, coming back to its redirect URI with ``state``."""
    params = {
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "response_type": "code",
        "scope": " ".join(provider.scopes),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        **provider.authorize_params,
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in provider.authorize_url else "?"
    return provider.authorize_url + separator + urllib.parse.urlencode(params)


def exchange_code(provider, client, code, code_verifier, *, timeout=DEFAULT_TIMEOUT,
                  policy=None):
    """Trade an authorization code for tokens.

    :returns: :class:`Tokens` with a refresh token and the identity of the id_token
    :raises exceptions.OAuthError: the provider refused (``detail`` says why), or gave no
        refresh token
    :raises exceptions.ConnectionFailed: the token endpoint could not be reached
    """
    answer = _token_request(provider, client, {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": client.redirect_uri,
        "code_verifier": code_verifier,
    }, timeout, policy)
    tokens = _tokens(answer, client)
    if not tokens.refresh_token:
        raise exceptions.OAuthError(
            "the provider gave no refresh token (offline access was not granted)",
            host=_host(provider.token_url))
    return tokens


def refresh(provider, client, refresh_token, *, timeout=DEFAULT_TIMEOUT, policy=None):
    """A new access token from ``refresh_token``.

    :returns: :class:`Tokens`; its ``refresh_token`` is the new one when the provider rotates
        them (Microsoft does), else None: keep the old one
    :raises exceptions.GrantRevoked: the grant is no longer valid: sign in again
    :raises exceptions.OAuthError: any other refusal
    :raises exceptions.ConnectionFailed: the token endpoint could not be reached
    """
    params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if provider.name == "microsoft":
        params["scope"] = " ".join(provider.scopes)  # Microsoft asks for the scopes again
    return _tokens(_token_request(provider, client, params, timeout, policy), client)


def identity_from_id_token(id_token, client_id):
    """The mailbox address an OpenID ``id_token`` names (``email``, else Microsoft's
    ``preferred_username``/``upn``), normalised (:func:`.addresses.normalize`); None when
    there is none.

    :raises exceptions.OAuthError: not a JWT, or issued for another client
    """
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError, AttributeError):
        raise exceptions.OAuthError("the provider's id_token cannot be read")
    if not isinstance(claims, dict):
        raise exceptions.OAuthError("the provider's id_token cannot be read")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if audience is not None and client_id not in audiences:
        raise exceptions.OAuthError("the provider's id_token was issued for another client")
    for claim in ("email", "preferred_username", "upn"):
        value = claims.get(claim)
        if isinstance(value, str) and "@" in value:
            return addresses.normalize(value) or None
    return None


def xoauth2_response(user, access_token):
    """The client response of SASL XOAUTH2 (Google's and Microsoft's mechanism)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"


def oauthbearer_response(user, access_token, host=None, port=None):
    """The client response of SASL OAUTHBEARER (RFC 7628 section 3.1), with ``user`` as the
    authorization identity (GS2 header, RFC 5801: ``,`` and ``=`` escaped)."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    parts = [f"n,a={authzid},"]
    if host:
        parts.append(f"host={host}")
    if port:
        parts.append(f"port={port}")
    parts.append(f"auth=Bearer {access_token}")
    return "\x01".join(parts) + "\x01\x01"


class SaslResponder:
    """The callable a SASL exchange calls with each server challenge.

    The first call gives the client response; a later call means the server refused and sent
    an error challenge (a base64 JSON status for XOAUTH2, RFC 7628's error for OAUTHBEARER),
    kept in :attr:`error`; the answer then ends the exchange (an empty line for XOAUTH2, the
    ``%x01`` of RFC 7628 for OAUTHBEARER) so that the server says NO.
    """

    def __init__(self, mechanism, response):
        self.mechanism = mechanism.upper()
        self.response = response
        self.calls = 0
        self.error = None

    def __call__(self, challenge=None):
        self.calls += 1
        if self.calls == 1:
            return self.response
        self.error = _error_text(challenge)
        return "\x01" if self.mechanism == "OAUTHBEARER" else ""


def _error_text(challenge):
    if not challenge:
        return None
    raw = challenge if isinstance(challenge, bytes) else str(challenge).encode()
    try:
        # imaplib hands the decoded challenge, smtplib too; try the JSON inside
        data = json.loads(raw)
    except ValueError:
        try:
            data = json.loads(base64.b64decode(raw, validate=True))
        except (ValueError, binascii.Error):
            return raw.decode("utf-8", "replace")[:200]
    if isinstance(data, dict):
        return ", ".join(f"{key} {value}" for key, value in data.items())[:200]
    return str(data)[:200]


# -- the token endpoint ---------------------------------------------------------------------------

def _host(url):
    return urllib.parse.urlsplit(url).hostname or url


def check_endpoint(url):
    """Refuse an endpoint that is not HTTPS, unless it is on this machine's loopback.

    :raises exceptions.OAuthError: plain HTTP to another host would carry secrets in clear
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise exceptions.OAuthError(f"the OAuth endpoint {url} is not HTTPS", host=parts.hostname)


def _is_loopback(host):
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token_request(provider, client, params, timeout, policy):
    check_endpoint(provider.token_url)
    host = _host(provider.token_url)
    body = urllib.parse.urlencode({
        "client_id": client.client_id, "client_secret": client.client_secret, **params,
    }).encode()
    request = urllib.request.Request(provider.token_url, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
    })
    try:
        with _open(request, timeout, policy) as response:
            raw = response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        raw = exc.read(100_000)
        error, description = _oauth_error(raw, exc.code)
        if error == "invalid_grant":
            raise exceptions.GrantRevoked(description, host=host)
        raise exceptions.OAuthError(f"{error}: {description}" if description else error,
                                    host=host)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            raise exceptions.HostNotFound(str(reason), host=host)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise exceptions.CertificateUntrusted(reason.verify_message, host=host)
        if isinstance(reason, ConnectionRefusedError):
            raise exceptions.ConnectionRefused(host=host)
        if isinstance(reason, TimeoutError):
            raise exceptions.ConnectionTimeout(host=host)
        raise exceptions.ConnectionFailed(str(reason), host=host)
    except TimeoutError:
        raise exceptions.ConnectionTimeout(host=host)
    except exceptions.WebmailError:
        raise
    except OSError as exc:
        raise exceptions.ConnectionFailed(exc.strerror or str(exc), host=host)
    try:
        answer = json.loads(raw)
    except ValueError:
        raise exceptions.OAuthError("the token endpoint did not answer JSON", host=host)
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        raise exceptions.OAuthError("the token endpoint gave no access token", host=host)
    return answer


def _open(request, timeout, policy):
    """urlopen for a token request: no redirect followed, and with a policy only the
    addresses it allows are connected to (TLS verified against the host name)."""
    parts = urllib.parse.urlsplit(request.full_url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    # the scheme was checked (check_endpoint): no file:// or ftp:// reaches this
    addresses = policy.resolve(parts.hostname, port) if policy is not None else None
    context = ssl.create_default_context()

    class PinnedHTTPS(http.client.HTTPSConnection):
        def connect(self):
            if addresses is None:
                return super().connect()
            sock = net_policy.connect_pinned(addresses, self.port, self.timeout)
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
            return None

    class PinnedHTTP(http.client.HTTPConnection):
        def connect(self):
            if addresses is None:
                return super().connect()
            self.sock = net_policy.connect_pinned(addresses, self.port, self.timeout)
            return None

    class Handler(urllib.request.HTTPSHandler, urllib.request.HTTPHandler):
        def https_open(self, req):
            return self.do_open(PinnedHTTPS, req, context=context)

        def http_open(self, req):
            return self.do_open(PinnedHTTP, req)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            return None  # a token endpoint answers, it does not send elsewhere

    opener = urllib.request.OpenerDirector()
    for handler in (Handler(context=context), NoRedirect(), urllib.request.HTTPErrorProcessor(),
                    urllib.request.HTTPDefaultErrorHandler()):
        opener.add_handler(handler)
    return opener.open(request, timeout=timeout)


def _oauth_error(raw, status):
    try:
        data = json.loads(raw)
    except ValueError:
        return f"HTTP {status}", ""
    if not isinstance(data, dict):
        return f"HTTP {status}", ""
    error = str(data.get("error") or f"HTTP {status}")
    description = str(data.get("error_description") or "")
    # Microsoft's descriptions carry trace ids and timestamps over several lines: the first
    return error, description.splitlines()[0][:300] if description else ""


def _tokens(answer, client):
    try:
        lifetime = int(answer.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600
    identity = None
    if isinstance(answer.get("id_token"), str):
        identity = identity_from_id_token(answer["id_token"], client.client_id)
    refresh_token = answer.get("refresh_token")
    return Tokens(
        access_token=answer["access_token"],
        expires_at=time.time() + max(lifetime, 0),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token
        else None,
        identity=identity,
        scope=str(answer.get("scope") or ""),
    )
