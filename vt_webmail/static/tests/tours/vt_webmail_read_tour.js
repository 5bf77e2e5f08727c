/**
 * Tours of the reading side of Webmail. They depend on the mail the Python tests put on their
 * Dovecot first (see vt_webmail/tests/test_tours.py); they are not meant to be run by hand.
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

const tours = registry.category("web_tour.tours");
const ROW = ".o_vt_webmail_list .o_data_row";

function openWebmail() {
    return [
        ...stepUtils.goToAppSteps("vt_webmail.vt_webmail_menu_root", "Open the Webmail app"),
        {
            content: "The inbox is listed, with its unread count",
            trigger: ".o_search_panel_category_value:contains('Inbox (2)') .active",
        },
    ];
}

tours.add("vt_webmail_read_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmail(),
        {
            content: "Unread mail is in bold, newest first",
            trigger: `${ROW}:first-child.fw-bold:contains('Spring collection is here')`,
        },
        {
            content: "Open the newsletter",
            trigger: `${ROW}:contains('Spring collection is here') td[name='subject']`,
            run: "click",
        },
        {
            content: "Its body is shown, its remote images are not loaded",
            trigger: ".o_vt_webmail_body:contains('Spring collection'):not(:has(img[src*='images.example.net']))",
        },
        {
            content: "Show the images of this mail",
            trigger: ".o_vt_webmail_remote_banner .o_vt_webmail_show_images",
            run: "click",
        },
        {
            content: "The remote images are there now, and the banner is gone",
            trigger: ".o_vt_webmail_body img[src='https://images.example.net/banner.jpg']",
        },
        {
            trigger: ".o_form_view:not(:has(.o_vt_webmail_remote_banner:visible))",
        },
        {
            content: "Mark it unread",
            trigger: ".o_form_statusbar button[name='action_mark_unread']",
            run: "click",
        },
        {
            content: "Back in the list, the mail is unread again",
            trigger: `${ROW}.fw-bold:contains('Spring collection is here')`,
        },
        {
            trigger: ".o_search_panel_category_value:contains('Inbox (2)')",
        },
        {
            content: "Open the mail with an inline image",
            trigger: `${ROW}:contains('Our March newsletter') td[name='subject']`,
            run: "click",
        },
        {
            content: "The inline image is served by Webmail and shown",
            trigger: ".o_vt_webmail_body img[src^='/vt_webmail/part/']",
            async run() {
                const image = document.querySelector(".o_vt_webmail_body img[src^='/vt_webmail/part/']");
                if (!image.complete) {
                    await new Promise((resolve) => image.addEventListener("load", resolve));
                }
                if (image.naturalWidth !== 16) {
                    throw new Error(`the inline image did not load (${image.naturalWidth}px)`);
                }
            },
        },
        {
            content: "Back to the list: opening it marked it read",
            trigger: ".o_breadcrumb .o_back_button a, .o_breadcrumb .breadcrumb-item a",
            run: "click",
        },
        {
            trigger: `${ROW}:not(.fw-bold):contains('Our March newsletter')`,
        },
        {
            trigger: ".o_search_panel_category_value:contains('Inbox (1)')",
        },
    ],
});

tours.add("vt_webmail_check_now_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmail(),
        {
            trigger: `${ROW}:contains('Arrived before')`,
        },
        {
            content: "Nothing new is shown before checking",
            trigger: `.o_vt_webmail_list:not(:has(.o_data_row:contains('Arrived later')))`,
        },
        {
            content: "Check now",
            trigger: ".o_vt_webmail_check_now",
            run: "click",
        },
        {
            content: "The new mail is listed at once",
            trigger: `${ROW}:first-child.fw-bold:contains('Arrived later')`,
        },
        {
            trigger: ".o_search_panel_category_value:contains('Inbox (3)')",
        },
    ],
});

tours.add("vt_webmail_new_mail_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmail(),
        {
            trigger: `${ROW}:contains('Arrived before')`,
        },
        {
            content: "The scheduled refresh runs elsewhere (not from this page)",
            trigger: `.o_vt_webmail_list:not(:has(.o_data_row:contains('Arrived later')))`,
            async run() {
                const ids = await rpc("/web/dataset/call_kw/vt_webmail.account/search", {
                    model: "vt_webmail.account",
                    method: "search",
                    args: [[]],
                    kwargs: {},
                });
                await rpc("/web/dataset/call_kw/vt_webmail.account/action_refresh", {
                    model: "vt_webmail.account",
                    method: "action_refresh",
                    args: [ids],
                    kwargs: {},
                });
            },
        },
        {
            content: "The new mail shows up by itself",
            trigger: `${ROW}:first-child.fw-bold:contains('Arrived later')`,
        },
        {
            trigger: ".o_search_panel_category_value:contains('Inbox (3)')",
        },
    ],
});

tours.add("vt_webmail_act_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("vt_webmail.vt_webmail_menu_root", "Open the Webmail app"),
        {
            trigger: `${ROW}:contains('Keep me')`,
        },
        {
            content: "Flag a mail with its star",
            trigger: `${ROW}:contains('Keep me') .o_vt_webmail_flag a`,
            run: "click",
        },
        {
            trigger: `${ROW}:contains('Keep me') .o_vt_webmail_flag .fa-star`,
        },
        {
            content: "Search a word of a body: the cache knows only headers",
            trigger: ".o_searchview_input",
            run: "edit pineapple",
        },
        {
            trigger: ".o_searchview_input",
            run: "press Enter",
        },
        {
            trigger: ".o_searchview_facet:contains('pineapple')",
        },
        {
            trigger: ".o_vt_webmail_list:not(:has(.o_data_row))",
        },
        {
            content: "Run the search on the mail server",
            trigger: ".o_vt_webmail_search_server",
            run: "click",
        },
        {
            content: "The server found it",
            trigger: `${ROW}:contains('Meeting notes')`,
        },
        {
            trigger: ".o_breadcrumb:contains('Found on the server')",
        },
        {
            content: "Back to the inbox",
            trigger: ".o_breadcrumb .breadcrumb-item a",
            run: "click",
        },
        {
            trigger: ".o_searchview_facet:contains('pineapple') .o_facet_remove",
            run: "click",
        },
        {
            content: "Open the mail to move",
            trigger: `${ROW}:contains('Move me') td[name='subject']`,
            run: "click",
        },
        {
            trigger: ".o_form_statusbar button[name='action_open_move_wizard']",
            run: "click",
        },
        {
            content: "Choose the archive",
            trigger: ".modal .o_field_widget[name='folder_id'] input",
            run: "edit Archive",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains('Archive')",
            run: "click",
        },
        {
            trigger: ".modal footer button[name='action_move']",
            run: "click",
        },
        {
            content: "Back in the list, the mail has left the inbox",
            trigger: `.o_vt_webmail_list:not(:has(.o_data_row:contains('Move me')))`,
        },
        {
            trigger: `${ROW}:contains('Delete me') td[name='subject']`,
            run: "click",
        },
        {
            trigger: ".o_form_statusbar button[name='action_delete']",
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Back in the list, the mail is gone",
            trigger: `.o_vt_webmail_list:not(:has(.o_data_row:contains('Delete me')))`,
        },
        {
            trigger: `${ROW}:contains('Keep me')`,
        },
    ],
});

tours.add("vt_webmail_switch_account_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("vt_webmail.vt_webmail_menu_root", "Open the Webmail app"),
        {
            content: "The default account's inbox",
            trigger: `${ROW}:contains('For the first account')`,
        },
        {
            trigger: ".o_vt_webmail_account_switcher",
            run: "click",
        },
        {
            trigger: ".o_vt_webmail_account_item:contains('second')",
            run: "click",
        },
        {
            content: "The other account's inbox, with its own folders",
            trigger: `${ROW}:contains('For the second account')`,
        },
        {
            trigger: ".o_vt_webmail_list:not(:has(.o_data_row:contains('For the first account')))",
        },
        {
            trigger: ".o_search_panel_category_value:contains('Inbox (1)') .active",
        },
        {
            trigger: ".o_breadcrumb:contains('second')",
        },
    ],
});
