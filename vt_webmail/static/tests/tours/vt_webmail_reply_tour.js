import { inputFiles } from "@web/../tests/utils";
import { registry } from "@web/core/registry";

/**
 * Open Webmail, open a mail, reply to it with a contact picked in Cc and a file attached,
 * send. The Python side (tests/test_compose_tour.py) then checks what the SMTP server received
 * and that the copy sits in the Sent folder on Dovecot.
 */
registry.category("web_tour.tours").add("vt_webmail_reply_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open the apps menu",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Open Webmail",
            trigger: ".o_app[data-menu-xmlid='vt_webmail.vt_webmail_menu_root']",
            run: "click",
        },
        {
            content: "Open the mail",
            trigger: ".o_data_row td[name=subject]:contains('Tour: please reply')",
            run: "click",
        },
        {
            content: "Reply",
            trigger: "button.o_vt_webmail_reply",
            run: "click",
        },
        {
            content: "The reply goes to the sender",
            trigger: ".modal .o_field_widget[name=email_to] input",
            run() {
                if (this.anchor.value !== "Alice Martin <alice@example.org>") {
                    throw new Error(`unexpected recipient: ${this.anchor.value}`);
                }
            },
        },
        {
            content: "Type a contact's name in Cc",
            trigger: ".modal .o_field_widget[name=email_cc] input",
            run: "fill Bob Sto",
        },
        {
            content: "Pick the contact suggested",
            trigger: ".o_vt_webmail_recipient_suggestion:contains('Bob Stone <bob@example.org>')",
            run: "click",
        },
        {
            content: "The contact's address is in Cc",
            trigger: ".modal .o_field_widget[name=email_cc] input",
            run() {
                if (this.anchor.value !== "Bob Stone <bob@example.org>, ") {
                    throw new Error(`unexpected Cc: ${this.anchor.value}`);
                }
            },
        },
        {
            content: "The original is quoted",
            trigger: ".modal .o_field_widget[name=body_html] blockquote:contains('Please answer me.')",
        },
        {
            content: "Write the answer",
            trigger: ".modal .o_field_widget[name=body_html] .odoo-editor-editable > p:first-child",
            run: "editor Thanks Alice, the note is attached.",
        },
        {
            content: "Attach a file",
            trigger: ".modal .o_field_widget[name=attachment_ids] .o_attach",
            async run() {
                const file = new File(["a note from the tour"], "tour-note.txt", {
                    type: "text/plain",
                });
                await inputFiles(".modal .o_field_widget[name=attachment_ids] input[type=file]", [
                    file,
                ]);
            },
        },
        {
            content: "The file is attached",
            trigger: ".modal .o_attachment[title='tour-note.txt']",
        },
        {
            content: "Send",
            trigger: ".modal button[name=action_send]",
            run: "click",
        },
        {
            content: "Sent: the window is closed",
            trigger: ".o_notification:contains('Your mail was sent')",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});
