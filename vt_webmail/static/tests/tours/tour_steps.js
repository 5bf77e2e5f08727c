/**
 * Steps the Webmail tours share. Odoo's own step helpers (stepUtils) moved between Odoo 18
 * (@web_tour/tour_service/tour_utils) and Odoo 19 (@web_tour/tour_utils), and a module cannot
 * import from whichever exists: these steps do what stepUtils.goToAppSteps does, on both.
 */

/** Open the Webmail app from the apps menu (community) or the home menu (enterprise). */
export function openWebmailAppSteps() {
    return [
        {
            isActive: ["auto", "community", "desktop"],
            trigger: ".o_navbar_apps_menu button:enabled",
            run: "click",
        },
        {
            content: "Open the Webmail app",
            trigger: '.o_app[data-menu-xmlid="vt_webmail.vt_webmail_menu_root"]',
            run: "click",
        },
    ];
}

/**
 * A step after which the page unloads (a redirection to another site and back). Odoo 19's
 * tours must be told so (`expectUnloadPage`), or they fail; Odoo 18's reject that key. Odoo 19
 * is recognised by its tour step module (@web_tour/js/tour_step), which Odoo 18 does not have.
 * Goes with Odoo 18 support (then `expectUnloadPage: true` in the step itself).
 */
export function leavingThePage(step) {
    if (odoo.loader.modules.has("@web_tour/js/tour_step")) {
        return { ...step, expectUnloadPage: true };
    }
    return step;
}
