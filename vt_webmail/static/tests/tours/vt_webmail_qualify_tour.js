/**
 * Qualify in the browser: the preview of one mail (the rule in plain words, another record
 * picked instead), then Qualify on a selection of the list and its report. The mail and the
 * CRM records are prepared by vt_webmail/tests/test_qualify.py (TestQualifyTour).
 */
import { registry } from "@web/core/registry";
import { openWebmailAppSteps } from "./tour_steps";

const ROW = ".o_vt_webmail_list .o_data_row";

registry.category("web_tour.tours").add("vt_webmail_qualify_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Open the mail from Jane",
            trigger: `${ROW}:contains('Question about the deal') td[name='subject']`,
            run: "click",
        },
        {
            content: "Qualify it",
            trigger: ".o_form_statusbar button[name='action_open_qualify']",
            run: "click",
        },
        {
            content: "The preview says which rule chose the lead",
            trigger: ".modal .alert-info:contains(\"Lead 'ACME deal' wins over contact 'Jane Doe', which has the same address.\")",
        },
        {
            content: "The lead is proposed first",
            trigger: ".modal .o_radio_item:first-child input:checked",
        },
        {
            content: "Any other record can be picked too",
            trigger: ".modal .o_radio_item:contains('Another record...') input",
            run: "click",
        },
        {
            content: "A record field appears, to search the models offered",
            trigger: ".modal div[name='other_reference'] select",
        },
        {
            content: "Pick the contact instead",
            trigger: ".modal .o_radio_item:contains(\"Contact 'Jane Doe'\") input",
            run: "click",
        },
        {
            trigger: ".modal:not(:has(div[name='other_reference']))",
        },
        {
            content: "Confirm",
            trigger: ".modal button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The mail says where it went, with a link",
            trigger: ".o_vt_webmail_qualified:contains('Jane Doe') a",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "Back to the list",
            trigger: ".o_breadcrumb .o_back_button, .o_breadcrumb li:first-child a",
            run: "click",
        },
        {
            content: "The list says where the mail went, with a link to the record",
            trigger: `${ROW}:contains('Question about the deal') a.o_vt_webmail_record_link:contains('Jane Doe')`,
        },
        {
            content: "Select the two other mails",
            trigger: `${ROW}:contains('Invoice from Bob') .o_list_record_selector input`,
            run: "click",
        },
        {
            trigger: `${ROW}:contains('Hello from Nina') .o_list_record_selector input`,
            run: "click",
        },
        {
            content: "Qualify the selection",
            trigger: "button[name='action_open_qualify']",
            run: "click",
        },
        {
            content: "The preview lists where each mail goes",
            trigger: ".modal .o_data_row:contains('Hello from Nina'):contains(\"New contact 'Nina New'\")",
        },
        {
            trigger: ".modal .o_data_row:contains('Invoice from Bob'):contains(\"Contact 'Bob Stone'\")",
        },
        {
            content: "Confirm",
            trigger: ".modal button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The report says what went where",
            trigger: ".modal .alert-info:contains('2 qualified, 0 already qualified, 0 not qualified.')",
        },
        {
            trigger: ".modal .o_data_row:contains('Hello from Nina'):contains('Contact Nina New')",
        },
        {
            content: "Close the report",
            trigger: ".modal-footer button:contains('Close')",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});
