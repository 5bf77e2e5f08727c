/**
 * A Google account whose sign-in the provider no longer accepts: Webmail shows "Sign in again";
 * the click goes through the provider's consent (the local test server answers at once) and
 * back to the account form, signed in. Prepared by vt_webmail/tests/test_oauth.py
 * (TestOAuth.test_sign_in_again_from_webmail_in_the_browser).
 */
import { registry } from "@web/core/registry";
import { leavingThePage, openWebmailAppSteps } from "./tour_steps";

registry.category("web_tour.tours").add("vt_webmail_oauth_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        leavingThePage({
            content: "Webmail says the account must sign in again",
            trigger: ".o_vt_webmail_sign_in_again:contains('Sign in again')",
            run: "click",
        }),
        {
            content: "Back from the provider: the account's form, signed in",
            trigger: ".o_form_view .o_field_widget[name='oauth_identity']:contains('@example.com')",
        },
        {
            content: "No sign-in banner any more",
            trigger: ".o_form_view:not(:has(.o_vt_webmail_sign_in_banner:visible))",
        },
    ],
});
