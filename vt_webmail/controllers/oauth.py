"""Signing in to Google or Microsoft 365 for a mail account: the OAuth 2.0 consent round trip.

Threat model: any internal user may start a sign-in, for their *own* account only; the
provider's answer comes back through the user's browser, so it is untrusted.

* ``/vt_webmail/oauth/start/<account>`` looks the account up among the caller's own (another
  user's, or one that does not exist, is a 404 alike), makes a PKCE verifier and a nonce, keeps
  them in the caller's Odoo session, and redirects to the provider with a ``state`` that binds
  account, user and nonce under an HMAC of the database secret.
* ``/vt_webmail/oauth/confirm`` accepts an answer only when its state's HMAC is right for the
  *current* user, its nonce is one this session started (used once: a replayed or forged
  answer, or one started in another browser, is refused), and the account is still the
  caller's. The code is then traded for tokens with the session's PKCE verifier, and the
  identity the provider returns must be the account's address: signing in to another mailbox
  is refused, in plain words. Tokens are stored encrypted (``vt_webmail.account``).

Nothing here logs a code or a token.
"""

import logging
import secrets
import time

import werkzeug.utils
from werkzeug.exceptions import NotFound

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request
from odoo.tools import consteq
from odoo.tools.misc import hmac

from ..core import addresses, net_policy, oauth
from ..core import exceptions as core_errors

_logger = logging.getLogger(__name__)

#: Session key of the sign-ins under way, and how long one may take (seconds).
SESSION_KEY = "vt_webmail_oauth"
MAX_AGE = 15 * 60
MAX_PENDING = 5


def _state_signature(env, account_id, nonce):
    # sudo: the HMAC key is the database secret, read by Odoo's own helper
    return hmac(env(su=True), "vt_webmail_oauth", (account_id, env.uid, nonce))


class VtWebmailOAuthController(http.Controller):

    @http.route("/vt_webmail/oauth/start/<int:account_id>", type="http", auth="user",
                methods=["GET"])
    def start(self, account_id, **kwargs):
        account = request.env["vt_webmail.account"].search(
            [("id", "=", account_id), ("user_id", "=", request.env.uid)])
        if not account or account.auth_method not in oauth.PROVIDERS:
            raise NotFound()
        try:
            provider, client = account._oauth_provider(), account._oauth_client()
        except UserError as exc:  # not configured: said on a page, not as a traceback
            return self._page(account, exc.args[0], ok=False)
        verifier, challenge = oauth.new_pkce()
        nonce = secrets.token_urlsafe(16)
        pending = {key: value for key, value in
                   (request.session.get(SESSION_KEY) or {}).items()
                   if time.time() - value["at"] < MAX_AGE}
        pending = dict(sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING + 1:])
        pending[nonce] = {"account": account.id, "verifier": verifier, "at": time.time()}
        request.session[SESSION_KEY] = pending
        state = f"{account.id}.{nonce}.{_state_signature(request.env, account.id, nonce)}"
        url = oauth.authorize_url(provider, client, state=state, code_challenge=challenge,
                                  login_hint=(account.email or "").strip() or None)
        return werkzeug.utils.redirect(url, 303)

    @http.route("/vt_webmail/oauth/confirm", type="http", auth="user", methods=["GET"])
    def confirm(self, state=None, code=None, error=None, error_description=None, **kwargs):
        account, entry = self._check_state(state)
        if error:
            reason = (error_description or error).splitlines()[0][:300]
            return self._page(account, request.env._(
                "%(provider)s did not give access: %(reason)s",
                provider=account._provider_label(), reason=reason), ok=False)
        if not code:
            raise NotFound()
        # sudo: the account is the caller's (checked in _check_state); its token columns
        # are written by its own methods
        account = account.sudo()
        try:
            tokens = oauth.exchange_code(
                account._oauth_provider(), account._oauth_client(), code, entry["verifier"],
                timeout=account._network_timeout(),
                policy=account._net_policy(net_policy.HTTPS_PORTS))
        except core_errors.WebmailError as exc:
            _logger.info("Webmail account %s: sign-in refused by the provider: %s",
                         account.id, exc)
            return self._page(account, account._error_message(exc), ok=False)
        expected = addresses.normalize(account.email or "")
        if not tokens.identity or tokens.identity != expected:
            _logger.info("Webmail account %s: signed in as another mailbox; refused",
                         account.id)
            return self._page(account, request.env._(
                "You signed in to %(provider)s as %(identity)s, but this account is "
                "%(email)s. Sign in with %(email)s, or change the account's address first.",
                provider=account._provider_label(),
                identity=tokens.identity or request.env._("an unknown mailbox"),
                email=account.email), ok=False)
        account._oauth_store_tokens(tokens, identity=tokens.identity)
        if account.login != tokens.identity:
            account.login = tokens.identity
        _logger.info("Webmail account %s: signed in to %s", account.id, account.auth_method)
        return werkzeug.utils.redirect(f"/odoo/action-vt_webmail.vt_webmail_account_action/"
                                       f"{account.id}", 303)

    def _check_state(self, state):
        """The caller's account and session entry named by ``state``; 404 for anything else
        (a forged, replayed, expired, foreign or malformed state)."""
        try:
            account_id, nonce, signature = (state or "").split(".", 2)
            account_id = int(account_id)
        except ValueError:
            raise NotFound()
        expected = _state_signature(request.env, account_id, nonce)
        pending = dict(request.session.get(SESSION_KEY) or {})
        entry = pending.pop(nonce, None)
        request.session[SESSION_KEY] = pending  # single use, right or wrong
        if not consteq(signature, expected) or not entry or entry["account"] != account_id \
                or time.time() - entry["at"] > MAX_AGE:
            _logger.info("Webmail OAuth: an answer with an unknown or forged state was refused")
            raise NotFound()
        account = request.env["vt_webmail.account"].search(
            [("id", "=", account_id), ("user_id", "=", request.env.uid)])
        if not account:
            raise NotFound()
        return account, entry

    def _page(self, account, message, *, ok):
        return request.render("vt_webmail.oauth_result", {
            "account": account,
            "message": message,
            "ok": ok,
            "back_url": f"/odoo/action-vt_webmail.vt_webmail_account_action/{account.id}",
        })
