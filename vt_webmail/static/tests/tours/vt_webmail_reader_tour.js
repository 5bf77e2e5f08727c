/**
 * Tours of reading like a modern mail client (#13): the conversation reader, one inbox for all
 * accounts, the reading pane and the keyboard. The mail is put on Dovecot first by
 * vt_webmail/tests/test_reader_tours.py; not meant to be run by hand.
 */
import { registry } from "@web/core/registry";
import { openWebmailAppSteps } from "./tour_steps";

const tours = registry.category("web_tour.tours");
const ROW = ".o_vt_webmail_list .o_data_row";
const MAIL = ".o_vt_webmail_conversation_mail";

/** Press Alt (+Shift) + key as a person would: Odoo's hotkey service reads window keydowns. */
function pressHotkey(key, shift = false) {
    const options = { key: shift ? key.toUpperCase() : key, altKey: true, shiftKey: shift };
    options.code = `Key${key.toUpperCase()}`;
    for (const type of ["keydown", "keyup"]) {
        document.activeElement.dispatchEvent(
            new KeyboardEvent(type, { ...options, bubbles: true, cancelable: true })
        );
    }
}

function openMenu(name, xmlid) {
    return [
        {
            content: `Open the "${name}" menu`,
            trigger: ".o_menu_sections [data-menu-xmlid='vt_webmail.vt_webmail_unified_menu']",
            run: "click",
        },
        {
            trigger: `.dropdown-item[data-menu-xmlid='vt_webmail.${xmlid}']`,
            run: "click",
        },
    ];
}

tours.add("vt_webmail_conversation_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Open the Conversations",
            trigger: ".o_menu_sections [data-menu-xmlid='vt_webmail.vt_webmail_conversation_menu']",
            run: "click",
        },
        {
            content: "One row per conversation: the one with the reply has 2 mails, unread",
            trigger: ".o_vt_webmail_conversations .o_data_row.fw-bold:contains('Plan') td[name='message_count']:contains('2')",
            run: "click",
        },
        {
            content: "The reader shows both mails, oldest first, the user's reply from Sent",
            trigger: `.o_vt_webmail_conversation:has(${MAIL} + ${MAIL}[data-folder-role='sent'])`,
        },
        {
            content: "The newest mail is open, its quoted text folded",
            trigger: `${MAIL}.o_open[data-folder-role='sent'] details.o_vt_webmail_quote:not([open]) summary:contains('Show quoted text')`,
            run: "click",
        },
        {
            content: "Unfolded: the quoted text shows",
            trigger: `${MAIL}.o_open details.o_vt_webmail_quote[open]:contains('Shall we meet?')`,
        },
        {
            content: "Alt+Shift+P: the older mail opens, the keys go to it",
            trigger: ".o_vt_webmail_conversation_keys .o_vt_webmail_key_previous",
            run: () => pressHotkey("p", true),
        },
        {
            trigger: `${MAIL}.o_open.o_vt_webmail_current[data-folder-role='inbox']`,
        },
        {
            content: "Alt+Shift+S flags it",
            trigger: `${MAIL}.o_vt_webmail_current .o_vt_webmail_conversation_flag[data-hotkey='shift+s']`,
            run: () => pressHotkey("s", true),
        },
        {
            content: "It is flagged (on the server: the test checks)",
            trigger: `${MAIL}[data-folder-role='inbox'] .o_vt_webmail_conversation_star .fa-star`,
        },
        {
            content: "Reply to it: the composer opens",
            trigger: `${MAIL}.o_open[data-folder-role='inbox'] .o_vt_webmail_conversation_action_reply`,
            run: "click",
        },
        {
            trigger: ".o_vt_webmail_compose_form, .o_form_view:has([name='subject'] input)",
        },
    ],
});

tours.add("vt_webmail_unified_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Webmail opens on the default account's inbox",
            trigger: `${ROW}:contains('Plan')`,
        },
        ...openMenu("All inboxes", "vt_webmail_all_inboxes_menu"),
        {
            content: "All inboxes: the mail of both accounts, each row saying which",
            trigger: `${ROW}:contains('Team meeting') td[name='account_id']:contains('team')`,
        },
        {
            trigger: `${ROW}:contains('Plan') td[name='account_id']:not(:contains('team'))`,
        },
        {
            content: "Flag the team account's mail from the unified list",
            trigger: `${ROW}:contains('Team meeting') .o_vt_webmail_flag a`,
            run: "click",
        },
        {
            trigger: `${ROW}:contains('Team meeting') .o_vt_webmail_flag .fa-star`,
        },
        ...openMenu("All flagged", "vt_webmail_all_flagged_menu"),
        {
            content: "All flagged: the team mail only",
            trigger: `.o_vt_webmail_list:not(:has(.o_data_row:contains('Plan'))) .o_data_row:contains('Team meeting')`,
        },
    ],
});

tours.add("vt_webmail_keys_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "The list, and the reading pane switch",
            trigger: `${ROW}:contains('Plan')`,
        },
        {
            content: "Alt shows the keys in Odoo's overlay",
            trigger: ".o_vt_webmail_key_next",
            run() {
                document.activeElement.dispatchEvent(
                    new KeyboardEvent("keydown", { key: "Alt", altKey: true, bubbles: true })
                );
            },
        },
        {
            trigger: ".o_vt_webmail_key_next .o_web_hotkey_overlay:contains('shift+n')",
            run() {
                document.activeElement.dispatchEvent(
                    new KeyboardEvent("keyup", { key: "Alt", bubbles: true })
                );
            },
        },
        {
            content: "Turn the reading pane on",
            trigger: ".o_vt_webmail_layout_toggle",
            run: "click",
        },
        {
            trigger: ".o_vt_webmail_with_pane .o_vt_webmail_pane_empty",
        },
        {
            content: "Alt+Shift+N: the first mail opens in the pane",
            trigger: ".o_vt_webmail_key_next",
            run: () => pressHotkey("n", true),
        },
        {
            trigger: `${ROW}.o_vt_webmail_cursor:contains('Plan')`,
        },
        {
            content: "The pane shows it beside the list",
            trigger: ".o_vt_webmail_pane .o_form_view .o_vt_webmail_subject:contains('Plan')",
        },
        {
            content: "Alt+Shift+N again: the next mail",
            trigger: ".o_vt_webmail_key_next",
            run: () => pressHotkey("n", true),
        },
        {
            trigger: ".o_vt_webmail_pane .o_form_view .o_vt_webmail_subject:contains('Old news')",
        },
        {
            content: "Alt+Shift+S flags it (the pane's Flag button)",
            trigger: ".o_vt_webmail_pane button[name='action_flag']",
            run: () => pressHotkey("s", true),
        },
        {
            trigger: ".o_vt_webmail_pane button[name='action_unflag']:enabled",
        },
        {
            content: "Alt+E archives it: it leaves the list, the pane empties",
            trigger: ".o_vt_webmail_pane button[name='action_archive_mail']:enabled",
            run: () => pressHotkey("e"),
        },
        {
            trigger: `.o_vt_webmail_list:not(:has(.o_data_row:contains('Old news'))) .o_vt_webmail_pane_empty`,
        },
        {
            content: "Alt+Shift+P: back up to the previous mail",
            trigger: ".o_vt_webmail_key_previous",
            run: () => pressHotkey("p", true),
        },
        {
            trigger: ".o_vt_webmail_pane .o_form_view .o_vt_webmail_subject",
        },
        {
            content: "Back to the list-then-mail layout (remembered)",
            trigger: ".o_vt_webmail_layout_toggle",
            run: "click",
        },
        {
            trigger: ".o_vt_webmail_list:not(.o_vt_webmail_with_pane) .o_vt_webmail_key_reply",
        },
        {
            content: "Alt+Shift+K: the search box",
            trigger: ".o_vt_webmail_key_search",
            run: () => pressHotkey("k", true),
        },
        {
            trigger: ".o_searchview_input:focus",
        },
    ],
});
