import { formatDateTime } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { openWebmailAppSteps } from "./tour_steps";

/**
 * Reply with an Odoo template filled in with the lead the mail is qualified on, send, and undo
 * within the delay: the composer comes back with the text, nothing was sent (checked on the
 * SMTP server by tests/test_compose_tour.py).
 */
registry.category("web_tour.tours").add("vt_webmail_template_undo_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Open the qualified mail",
            trigger: ".o_data_row td[name=subject]:contains('Tour: template')",
            run: "click",
        },
        {
            content: "Reply",
            trigger: "button.o_vt_webmail_reply",
            run: "click",
        },
        {
            content: "Choose a template",
            trigger: ".modal .o_field_widget[name=template_id] input",
            run: "fill Lead follow",
        },
        {
            content: "Pick it",
            trigger: ".o-autocomplete--dropdown-item:contains('Lead follow-up')",
            run: "click",
        },
        {
            content: "The template is filled in with the lead",
            trigger:
                ".modal .o_field_widget[name=body_html] .odoo-editor-editable:contains('Dear Alice Lead, about Big deal.')",
        },
        {
            content: "Send",
            trigger: ".modal button[name=action_send]",
            run: "click",
        },
        {
            content: "The mail waits, counting down",
            trigger: ".modal .o_vt_webmail_countdown:contains('Sending in')",
        },
        {
            content: "Undo",
            trigger: ".modal button[name=action_undo]",
            run: "click",
        },
        {
            content: "Back in the composer, with the text",
            trigger:
                ".modal .o_field_widget[name=body_html] .odoo-editor-editable:contains('Dear Alice Lead, about Big deal.')",
        },
        {
            content: "Close it",
            trigger: ".modal .modal-footer button:contains('Discard')",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});

/**
 * A new mail sent with a short Undo delay: the countdown runs out in the browser, which then
 * sends the mail (the SMTP server's side: tests/test_compose_tour.py).
 */
registry.category("web_tour.tours").add("vt_webmail_undo_countdown_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Compose",
            trigger: ".o_menu_sections a:contains('Compose'), .o_menu_sections button:contains('Compose')",
            run: "click",
        },
        {
            content: "A recipient",
            trigger: ".modal .o_field_widget[name=email_to] input",
            run: "fill carol@example.org",
        },
        {
            content: "A subject",
            trigger: ".modal .o_field_widget[name=subject] input",
            run: "fill Countdown tour",
        },
        {
            content: "Send",
            trigger: ".modal button[name=action_send]",
            run: "click",
        },
        {
            content: "The countdown is shown",
            trigger: ".modal .o_vt_webmail_countdown:contains('Sending in')",
        },
        {
            content: "When it ends the mail is sent",
            trigger: ".o_notification:contains('Your mail was sent')",
            timeout: 20000,
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});

/**
 * Auto-save: with the interval shortened for the test, a mail being written is saved in the
 * Drafts folder by itself (the Python side checks Dovecot), and saved again after a change.
 */
registry.category("web_tour.tours").add("vt_webmail_autosave_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "Auto-save every second for this tour",
            trigger: "body",
            run() {
                odoo.loader.modules.get("@vt_webmail/compose/autosave").AUTOSAVE_INTERVAL.ms = 1000;
            },
        },
        ...openWebmailAppSteps(),
        {
            content: "Compose",
            trigger: ".o_menu_sections a:contains('Compose'), .o_menu_sections button:contains('Compose')",
            run: "click",
        },
        {
            content: "A subject",
            trigger: ".modal .o_field_widget[name=subject] input",
            run: "fill Autosaved by the tour",
        },
        {
            content: "Some text",
            trigger: ".modal .o_field_widget[name=body_html] .odoo-editor-editable",
            run: "editor Half-written words",
        },
        {
            content: "Saved by itself",
            trigger: ".modal .o_vt_webmail_autosave:contains('Draft saved at')",
            timeout: 15000,
        },
        {
            content: "Close the composer",
            trigger: ".modal .modal-footer button:contains('Discard')",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});

/**
 * A draft reopened from the Drafts folder, then sent later: scheduled for a date, it waits in
 * the Outbox (the Python side sends it and checks the draft is gone from Dovecot).
 */
registry.category("web_tour.tours").add("vt_webmail_draft_send_later_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Open the Drafts folder",
            trigger: ".o_search_panel_label_title:contains('Drafts')",
            run: "click",
        },
        {
            content: "Open the draft",
            trigger: ".o_data_row td[name=subject]:contains('Tour draft')",
            run: "click",
        },
        {
            content: "Edit it",
            trigger: "button.o_vt_webmail_edit_draft",
            run: "click",
        },
        {
            content: "The composer has its recipient and text",
            trigger:
                ".modal .o_field_widget[name=body_html] .odoo-editor-editable:contains('Words of the draft')",
        },
        {
            content: "Send it later",
            trigger: ".modal .o_field_widget[name=scheduled_at] input",
            async run(helpers) {
                // written as the user's language writes a date and time (Odoo 18: 24-hour
                // clock; Odoo 19's en_US: 12-hour)
                const when = luxon.DateTime.fromObject({ year: 2099, month: 1, day: 1, hour: 9 });
                await helpers.edit(formatDateTime(when));
            },
        },
        {
            content: "The date is taken (leaving the field)",
            trigger: ".modal .o_field_widget[name=subject] input",
            run: "click",
        },
        {
            // Odoo 18 shows an input; Odoo 19 a button (an input only while editing)
            trigger:
                ".modal .o_field_widget[name=scheduled_at] input:value(2099), " +
                ".modal .o_field_widget[name=scheduled_at] button:contains(2099)",
        },
        {
            trigger: ".modal button[name=action_schedule]",
            run: "click",
        },
        {
            content: "Scheduled",
            trigger: ".o_notification:contains('Mail scheduled')",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});
