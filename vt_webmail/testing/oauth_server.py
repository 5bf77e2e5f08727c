"""A small, real OAuth 2.0 authorization server on loopback, for tests and the demo.

:class:`OAuthServer` plays Google's and Microsoft's part in the authorization code flow, over
plain HTTP on ``127.0.0.1`` (stdlib :class:`http.server.ThreadingHTTPServer` in a daemon
thread), so that no test reaches the internet:

* ``GET /authorize``: the user's consent. With ``consent="auto"`` the server redirects at once
  to ``redirect_uri?code=...&state=...`` for :attr:`OAuthServer.identity` (or with
  ``error=access_denied`` when :attr:`OAuthServer.deny` is set); with ``consent="page"`` it
  shows a small form ("Sign in as ... Allow / Deny") that posts to ``/authorize/decide``.
* ``POST /token``: ``authorization_code`` (single-use codes, redirect URI and PKCE checked) and
  ``refresh_token`` grants; JSON answers and RFC 6749 errors as the providers give them, with
  an OpenID ``id_token`` (HS256, signed with the client secret).
* ``POST /introspect`` (RFC 7662, what Dovecot's ``oauth2`` passdb calls) and
  ``GET /userinfo`` (Bearer).

Every endpoint is also served under ``/ms/`` (:attr:`OAuthServer.endpoint`), the way Odoo's
Microsoft integration joins ``authorize`` and ``token`` to its ``microsoft_outlook.endpoint``
parameter.

Differences from the real providers, on purpose: codes and tokens are random strings, not
JWTs; with :attr:`OAuthServer.rotate_refresh_tokens` the refresh token just used stops working
at once (Microsoft keeps it valid a while; a client that forgets to store the new one is caught
here at its next refresh); any redirect URI is accepted (none is registered).

Nothing is printed: the request log (:attr:`OAuthServer.requests`) masks every secret.
"""

import base64
import hashlib
import hmac
import html
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from .imap_server import free_port

__all__ = ["OAuthServer"]

#: request parameters whose values never enter the log
SECRET_PARAMS = frozenset({
    "client_secret", "code", "code_verifier", "refresh_token", "access_token", "token",
    "id_token", "password", "assertion",
})
MASK = "***"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier):
    """The S256 ``code_challenge`` of a PKCE ``code_verifier`` (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def subject_of(identity):
    """A stable, numeric ``sub`` for an identity, as Google gives one."""
    return str(int(hashlib.sha256(identity.encode()).hexdigest()[:15], 16))


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    identity: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float
    grant: int
    used: bool = False


@dataclass
class _RefreshToken:
    client_id: str
    scope: str
    identity: str
    grant: int
    active: bool = True


@dataclass
class _AccessToken:
    client_id: str
    scope: str
    identity: str
    expires_at: float
    grant: int
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False

    def active(self, now):
        return not self.revoked and now < self.expires_at


class OAuthError(Exception):
    """An RFC 6749 error answer of the token endpoint."""

    def __init__(self, error, description, status=HTTPStatus.BAD_REQUEST):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class OAuthServer:
    """An OAuth 2.0 authorization server on ``127.0.0.1``; a context manager.

    :param clients: ``{client_id: client_secret}`` the token endpoint accepts

    Controls a test may set at any time: :attr:`identity` (the address the next consent
    grants), :attr:`deny`, :attr:`consent` (``"auto"`` or ``"page"``),
    :attr:`access_token_lifetime` (seconds), :attr:`code_lifetime` (seconds),
    :attr:`rotate_refresh_tokens`; and the methods :meth:`revoke`,
    :meth:`expire_access_tokens`, :meth:`token_identity`, :meth:`issue_tokens`.
    """

    host = "127.0.0.1"

    def __init__(self, clients=None):
        self.clients = dict(clients or {"vt-client": "vt-secret"})
        self.identity = "user@example.com"
        self.deny = False
        self.consent = "auto"
        self.access_token_lifetime = 3600
        self.code_lifetime = 60
        self.rotate_refresh_tokens = False
        self.port = free_port(self.host)
        self.url = f"http://{self.host}:{self.port}"
        self.authorize_url = self.url + "/authorize"
        self.token_url = self.url + "/token"
        self.introspection_url = self.url + "/introspect"
        self.userinfo_url = self.url + "/userinfo"
        #: Microsoft-style base: ``endpoint + "authorize"``, ``endpoint + "token"``
        self.endpoint = self.url + "/ms/"
        self._lock = threading.Lock()
        self._log = []
        self._codes = {}
        self._refresh_tokens = {}
        self._access_tokens = {}
        self._pending = {}  # consent pages shown: request id -> authorize parameters
        #: exceptions raised while handling a request (kept here, never printed)
        self.errors = []
        self._grants = 0
        self._httpd = None
        self._thread = None

    def __repr__(self):
        return f"<OAuthServer {self.url}>"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self):
        """Serve (again, after :meth:`stop`, on the same port with the same tokens)."""
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.port), _make_handler(self))
            # a short poll: shutdown() waits for it, and every test stops a server
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name=f"oauth-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self):
        """Stop serving; the port refuses connections until :meth:`start`."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            self._thread.join(5)
            self._thread = None

    def close(self):
        self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    # -- controls for tests ----------------------------------------------------------------

    @property
    def requests(self):
        """A copy of the request log: ``(method, path, params)`` with secrets masked."""
        with self._lock:
            return list(self._log)

    def token_requests(self, grant_type=None):
        """The logged token endpoint requests (of one ``grant_type`` when given)."""
        return [params for _method, path, params in self.requests
                if path.endswith("/token")
                and (grant_type is None or params.get("grant_type") == grant_type)]

    def token_identity(self, access_token):
        """The identity an access token stands for, or ``None`` when it is not active
        (unknown, expired or revoked): what introspection says."""
        with self._lock:
            token = self._access_tokens.get(access_token)
            return token.identity if token and token.active(time.time()) else None

    def revoke(self, identity=None, refresh_token=None):
        """Revoke refresh tokens, and every access token of the same grants: all of them, or
        those of ``identity``, or the grant ``refresh_token`` belongs to. Return how many
        refresh tokens were revoked."""
        with self._lock:
            grants = {
                rt.grant for value, rt in self._refresh_tokens.items()
                if (identity is None or rt.identity == identity)
                and (refresh_token is None or value == refresh_token)
            }
            if refresh_token is None:
                grants |= {at.grant for at in self._access_tokens.values()
                           if identity is None or at.identity == identity}
            return self._revoke_grants(grants)

    def expire_access_tokens(self, identity=None):
        """Make the access tokens (of ``identity``, or all) expire now; refresh tokens stay."""
        now = time.time()
        with self._lock:
            for token in self._access_tokens.values():
                if identity is None or token.identity == identity:
                    token.expires_at = min(token.expires_at, now - 1)

    def issue_tokens(self, identity=None, client_id=None, scope="https://mail.google.com/"):
        """Tokens for ``identity`` (default :attr:`identity`) without the browser dance, as
        the token endpoint would answer an authorization code: a dict with ``access_token``,
        ``refresh_token``, ``id_token``..."""
        client_id = client_id or next(iter(self.clients))
        with self._lock:
            grant = self._new_grant()
            return self._token_answer(client_id, scope, identity or self.identity, grant,
                                      with_refresh=True)

    # -- the endpoints' logic (called by the handler, under no lock) -------------------------

    def _record(self, method, path, params):
        masked = {key: (MASK if key in SECRET_PARAMS else value) for key, value in params.items()}
        with self._lock:
            self._log.append((method, path, masked))

    def _new_grant(self):
        self._grants += 1
        return self._grants

    def _revoke_grants(self, grants):
        count = 0
        for rt in self._refresh_tokens.values():
            if rt.grant in grants and rt.active:
                rt.active = False
                count += 1
        for at in self._access_tokens.values():
            if at.grant in grants:
                at.revoked = True
        return count

    def _authorize_error(self, params):
        """``None`` when the request may go to consent, else the 400 page's text."""
        if params.get("client_id") not in self.clients:
            return "Unknown client_id."
        if not params.get("redirect_uri"):
            return "Missing redirect_uri."
        scheme = urlsplit(params["redirect_uri"]).scheme
        if scheme not in ("http", "https"):
            return "Invalid redirect_uri."
        return None

    def _decide(self, params, identity, allow):
        """The redirect (URL) after consent: a code, or an error."""
        answer = {}
        if not allow:
            answer = {"error": "access_denied",
                      "error_description": "The user denied access to the application."}
        elif params.get("response_type") != "code":
            answer = {"error": "unsupported_response_type",
                      "error_description": "Only response_type=code is supported."}
        else:
            challenge = params.get("code_challenge") or ""
            method = params.get("code_challenge_method") or ("plain" if challenge else "")
            if challenge and method not in ("S256", "plain"):
                answer = {"error": "invalid_request",
                          "error_description": "code_challenge_method must be S256 or plain."}
            else:
                code = secrets.token_urlsafe(24)
                with self._lock:
                    self._codes[code] = _Code(
                        client_id=params["client_id"], redirect_uri=params["redirect_uri"],
                        scope=params.get("scope", ""), identity=identity,
                        code_challenge=challenge, code_challenge_method=method,
                        expires_at=time.time() + self.code_lifetime, grant=self._new_grant(),
                    )
                answer = {"code": code}
        if "state" in params:
            answer["state"] = params["state"]
        uri = params["redirect_uri"]
        return uri + ("&" if urlsplit(uri).query else "?") + urlencode(answer)

    def _authenticate_client(self, params, authorization):
        """The client id, authenticated by HTTP Basic or by the body; else OAuthError."""
        client_id, secret = params.get("client_id"), params.get("client_secret")
        if authorization and authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                basic_id, _, basic_secret = decoded.partition(":")
            except ValueError:
                raise OAuthError("invalid_client", "Malformed Basic credentials.",
                                 HTTPStatus.UNAUTHORIZED) from None
            basic_id, basic_secret = unquote(basic_id), unquote(basic_secret)
            if client_id is not None and client_id != basic_id:
                raise OAuthError("invalid_request", "client_id differs from the Basic one.")
            client_id, secret = basic_id, basic_secret
        expected = self.clients.get(client_id) if client_id else None
        if expected is None or secret is None or not hmac.compare_digest(
                expected.encode(), secret.encode()):
            raise OAuthError("invalid_client", "Client authentication failed.",
                             HTTPStatus.UNAUTHORIZED)
        return client_id

    def _token(self, params, authorization):
        client_id = self._authenticate_client(params, authorization)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "Missing grant_type.")
        with self._lock:
            if grant_type == "authorization_code":
                return self._grant_code(client_id, params)
            if grant_type == "refresh_token":
                return self._grant_refresh(client_id, params)
        raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")

    def _grant_code(self, client_id, params):
        code = self._codes.get(params.get("code") or "")
        if code is None:
            raise OAuthError("invalid_grant", "Unknown authorization code.")
        if code.used:
            # RFC 6749 4.1.2: a code used twice revokes what it gave the first time
            self._revoke_grants({code.grant})
            raise OAuthError("invalid_grant", "The authorization code was already used.")
        code.used = True
        if time.time() >= code.expires_at:
            raise OAuthError("invalid_grant", "The authorization code has expired.")
        if code.client_id != client_id:
            raise OAuthError("invalid_grant", "The code was issued to another client.")
        if params.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match.")
        verifier = params.get("code_verifier")
        if code.code_challenge:
            if not verifier:
                raise OAuthError("invalid_grant", "Missing code_verifier.")
            computed = pkce_challenge(verifier) if code.code_challenge_method == "S256" \
                else verifier
            if not hmac.compare_digest(computed.encode(), code.code_challenge.encode()):
                raise OAuthError("invalid_grant", "Invalid code_verifier.")
        elif verifier:
            # RFC 9700 2.1.1: a verifier without a challenge is a PKCE downgrade attempt
            raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was.")
        return self._token_answer(client_id, code.scope, code.identity, code.grant,
                                  with_refresh=True)

    def _grant_refresh(self, client_id, params):
        value = params.get("refresh_token") or ""
        token = self._refresh_tokens.get(value)
        if token is None or not token.active:
            raise OAuthError("invalid_grant", "The refresh token is invalid or was revoked.")
        if token.client_id != client_id:
            raise OAuthError("invalid_grant", "The refresh token was issued to another client.")
        scope = token.scope
        if params.get("scope"):
            asked = set(params["scope"].split())
            if not asked <= set(token.scope.split()):
                raise OAuthError("invalid_scope", "The scope exceeds the one granted.")
            scope = " ".join(sorted(asked))
        if self.rotate_refresh_tokens:
            token.active = False
        return self._token_answer(client_id, scope, token.identity, token.grant,
                                  with_refresh=self.rotate_refresh_tokens)

    def _token_answer(self, client_id, scope, identity, grant, *, with_refresh):
        now = time.time()
        access = secrets.token_urlsafe(32)
        self._access_tokens[access] = _AccessToken(
            client_id=client_id, scope=scope, identity=identity, grant=grant,
            expires_at=now + self.access_token_lifetime, issued_at=now,
        )
        answer = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_lifetime),
            "scope": scope,
        }
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self._refresh_tokens[refresh] = _RefreshToken(
                client_id=client_id, scope=scope, identity=identity, grant=grant)
            answer["refresh_token"] = refresh
        answer["id_token"] = self._id_token(client_id, identity, now)
        return answer

    def _id_token(self, client_id, identity, now):
        header = {"alg": "HS256", "typ": "JWT"}
        payload = {
            "iss": self.url, "aud": client_id, "sub": subject_of(identity),
            "email": identity, "email_verified": True, "preferred_username": identity,
            "iat": int(now), "exp": int(now + self.access_token_lifetime),
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
        )
        signature = hmac.new(self.clients[client_id].encode(), signing_input.encode(),
                             hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    def _introspect(self, value):
        with self._lock:
            token = self._access_tokens.get(value or "")
            if token is None or not token.active(time.time()):
                return {"active": False}
            return {
                "active": True, "email": token.identity, "username": token.identity,
                "sub": subject_of(token.identity), "exp": int(token.expires_at),
                "iat": int(token.issued_at), "scope": token.scope,
                "client_id": token.client_id, "token_type": "Bearer",
            }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Keep the exception for the test instead of printing a traceback to stderr."""
        self.RequestHandlerClass.oauth.errors.append(sys.exc_info()[1])


def _make_handler(server):
    class Handler(_Handler):
        oauth = server
    return Handler


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.0, one request per connection: simple to stop, and enough for Dovecot."""

    oauth = None  # the OAuthServer, set by _make_handler
    server_version = "vt-oauth/1"
    timeout = 10  # a client that never sends its request does not hold a thread forever

    def log_message(self, format, *args):
        """Silent: the access log would carry codes and tokens in query strings."""

    # -- plumbing --------------------------------------------------------------------------

    def _route(self):
        path = urlsplit(self.path).path
        if path.startswith("/ms/"):
            path = path[3:]
        return path

    def _query(self):
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def _form(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20:
            return None
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        return dict(parse_qsl(body, keep_blank_values=True))

    def _send(self, status, body, content_type, headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, status, answer, headers=()):
        self._send(status, json.dumps(answer), "application/json", headers)

    def _page(self, status, title, body):
        self._send(status, f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
                           f"<title>{html.escape(title)}</title></head><body>{body}</body>"
                           f"</html>", "text/html; charset=utf-8")

    def _redirect(self, location):
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- methods ---------------------------------------------------------------------------

    def do_GET(self):
        route, params = self._route(), self._query()
        self.oauth._record("GET", urlsplit(self.path).path, params)
        if route == "/authorize":
            self._authorize(params)
        elif route == "/userinfo":
            self._userinfo()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    def do_POST(self):
        route, params = self._route(), self._form()
        if params is None:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "invalid_request"})
            return
        self.oauth._record("POST", urlsplit(self.path).path, params)
        if route == "/token":
            self._token(params)
        elif route == "/introspect":
            self._json(HTTPStatus.OK, self.oauth._introspect(params.get("token")))
        elif route == "/authorize/decide":
            self._decide(params)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not_found"})

    # -- endpoints -------------------------------------------------------------------------

    def _authorize(self, params):
        oauth = self.oauth
        error = oauth._authorize_error(params)
        if error:
            self._page(HTTPStatus.BAD_REQUEST, "Error 400: invalid_request",
                       f"<h1>Error 400: invalid_request</h1><p>{html.escape(error)}</p>")
            return
        if oauth.consent != "page":
            self._redirect(oauth._decide(params, oauth.identity, not oauth.deny))
            return
        request_id = secrets.token_urlsafe(16)
        with oauth._lock:
            oauth._pending[request_id] = params
        action = urlsplit(self.path).path.rstrip("/") + "/decide"
        self._page(HTTPStatus.OK, "Sign in", f"""
<h1>vt_webmail test sign-in</h1>
<form method="post" action="{html.escape(action)}">
  <input type="hidden" name="request_id" value="{html.escape(request_id)}">
  <p>Application <b>{html.escape(params['client_id'])}</b> asks for
     <code>{html.escape(params.get('scope', ''))}</code>.</p>
  <label>Sign in as <input name="identity" type="email" value="{html.escape(oauth.identity)}"
         required></label>
  <button name="decision" value="allow" type="submit">Allow</button>
  <button name="decision" value="deny" type="submit">Deny</button>
</form>""")

    def _decide(self, form):
        with self.oauth._lock:
            params = self.oauth._pending.pop(form.get("request_id", ""), None)
        identity = (form.get("identity") or "").strip()
        if params is None or not identity:
            self._page(HTTPStatus.BAD_REQUEST, "Error 400: invalid_request",
                       "<h1>Error 400: invalid_request</h1><p>Unknown or used sign-in.</p>")
            return
        self._redirect(self.oauth._decide(params, identity, form.get("decision") == "allow"))

    def _token(self, params):
        try:
            answer = self.oauth._token(params, self.headers.get("Authorization"))
        except OAuthError as exc:
            headers = [("WWW-Authenticate", 'Basic realm="token"')] \
                if exc.status == HTTPStatus.UNAUTHORIZED else []
            self._json(exc.status, {"error": exc.error, "error_description": exc.description},
                       headers)
            return
        self._json(HTTPStatus.OK, answer, [("Pragma", "no-cache")])

    def _userinfo(self):
        authorization = self.headers.get("Authorization") or ""
        identity = None
        if authorization[:7].lower() == "bearer ":
            identity = self.oauth.token_identity(authorization[7:].strip())
        if identity is None:
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "invalid_token"},
                       [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return
        self._json(HTTPStatus.OK, {"email": identity, "email_verified": True,
                                   "sub": subject_of(identity)})

