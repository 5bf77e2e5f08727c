/**
 * Tours of the reading side of Webmail. They depend on the mail the Python tests put on their
 * Dovecot first (see vt_webmail/tests/test_tours.py); they are not meant to be run by hand.
 */
import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";
import { openWebmailAppSteps } from "./tour_steps";

const tours = registry.category("web_tour.tours");
const ROW = ".o_vt_webmail_list .o_data_row";
/** Inside the mail's sandboxed frame (hoot-dom's :iframe looks into its document). */
const FRAME = ".o_vt_webmail_body_frame:iframe";

/** The inbox of the search panel, showing `count` unread mails. */
function inboxUnread(count) {
    return (
        ".o_search_panel_category_value:has(.o_search_panel_label_title:contains('Inbox'))" +
        `:has(.o_vt_webmail_unread_count[data-count='${count}'])`
    );
}

function openWebmail() {
    return [
        ...openWebmailAppSteps(),
        {
            content: "The inbox is listed, with its unread count",
            trigger: `${inboxUnread(2)} .active`,
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
            content: "Its body is shown in the frame, its remote images are not loaded",
            trigger: `${FRAME} body:contains('Spring collection'):not(:has(img[src*='images.example.net']))`,
        },
        {
            content: "Show the images of this mail",
            trigger: ".o_vt_webmail_remote_banner .o_vt_webmail_show_images",
            run: "click",
        },
        {
            content: "The frame was loaded again: the remote images are there now",
            trigger: `${FRAME} img[src='https://images.example.net/banner.jpg']`,
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
            trigger: inboxUnread(2),
        },
        {
            content: "Open the mail with an inline image",
            trigger: `${ROW}:contains('Our March newsletter') td[name='subject']`,
            run: "click",
        },
        {
            content: "The inline image is served by Webmail and shown in the frame",
            // by its absolute URL: a blob: document resolves no relative one
            trigger: `${FRAME} img[src^='${window.location.origin}/vt_webmail/part/']`,
            async run() {
                const frame = document.querySelector(".o_vt_webmail_body_frame");
                // written for quirks mode (no doctype): its document came with the form too,
                // from a blob: URL, which keeps the mode (an srcdoc document would not)
                check(frame.getAttribute("src")?.startsWith("blob:"),
                      `the frame loaded ${frame.getAttribute("src")}`);
                check(frame.contentDocument.compatMode === "BackCompat",
                      `rendered in ${frame.contentDocument.compatMode}`);
                const image = frame.contentDocument.querySelector("img[src*='/vt_webmail/part/']");
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
            trigger: inboxUnread(1),
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
            trigger: inboxUnread(3),
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
            trigger: inboxUnread(3),
        },
    ],
});

tours.add("vt_webmail_act_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
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
        ...openWebmailAppSteps(),
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
            trigger: `${inboxUnread(1)} .active`,
        },
        {
            trigger: ".o_breadcrumb:contains('second')",
        },
    ],
});

/** Wait (5 s at most) until the frame is sized to its mail: the frame's load event and its
 * ResizeObserver may come a moment after the mail's text is in the frame. */
async function fitted(frame) {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
        const scroller = frame.contentDocument?.scrollingElement;
        if (scroller && scroller.scrollHeight <= frame.clientHeight + 1) {
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

function check(condition, message) {
    if (!condition) {
        throw new Error(message);
    }
}

tours.add("vt_webmail_style_frame_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Open the newsletter built on a style sheet",
            trigger: `${ROW}:contains('Autumn sale starts today') td[name='subject']`,
            run: "click",
        },
        {
            content: "Its style sheet applies inside the frame, and nowhere else",
            trigger: `${FRAME} .promo:contains('Everything must go.')`,
            async run() {
                const frame = document.querySelector(".o_vt_webmail_body_frame");
                await fitted(frame);
                const flags = frame.getAttribute("sandbox").split(/\s+/).sort().join(" ");
                check(flags === "allow-popups allow-popups-to-escape-sandbox allow-same-origin",
                      `sandbox flags: ${flags}`);
                const doc = frame.contentDocument;
                const style = (element) => doc.defaultView.getComputedStyle(element);
                const promo = style(doc.querySelector(".promo"));
                check(promo.color === "rgb(200, 30, 40)", `.promo color: ${promo.color}`);
                check(promo.fontWeight === "700", `.promo weight: ${promo.fontWeight}`);
                const headline = style(doc.getElementById("headline"));
                check(headline.fontSize === "34px", `#headline size: ${headline.fontSize}`);
                const mailBody = style(doc.body).backgroundColor;
                check(mailBody === "rgb(250, 240, 220)", `mail body: ${mailBody}`);
                // the page around it
                const pageBody = getComputedStyle(document.body).backgroundColor;
                check(pageBody !== "rgb(250, 240, 220)", `the page's body took ${pageBody}`);
                const outline = getComputedStyle(document.documentElement).outlineColor;
                check(outline !== "rgb(0, 255, 0)", "the page's <html> took the outline");
                for (const selector of [".o_form_view", ".o_control_panel", ".o_main_navbar",
                                        ".o_form_statusbar .btn"]) {
                    const element = document.querySelector(selector);
                    check(element && getComputedStyle(element).display !== "none",
                          `${selector} was hidden by the mail`);
                }
                // sized to the mail: no scrollbar inside the frame
                const scroller = doc.scrollingElement;
                check(scroller.scrollHeight <= frame.clientHeight + 1,
                      `frame ${frame.clientHeight}px for a mail of ${scroller.scrollHeight}px`);
            },
        },
        {
            content: "Its remote image and CSS background are not loaded",
            trigger: `${FRAME} body:contains('Autumn sale'):not(:has(img[src*='images.example.net']))`,
            run() {
                const doc = document.querySelector(".o_vt_webmail_body_frame").contentDocument;
                const hero = doc.defaultView.getComputedStyle(doc.querySelector(".hero"));
                check(hero.backgroundImage === "none", `.hero: ${hero.backgroundImage}`);
            },
        },
        {
            content: "The frame's document came with the form (a blob: URL), its policy first",
            trigger: `${FRAME} body:contains('Autumn sale')`,
            async run() {
                const frame = document.querySelector(".o_vt_webmail_body_frame");
                check(frame.getAttribute("src")?.startsWith("blob:"),
                      `the frame loaded ${frame.getAttribute("src")}, not the form's document`);
                const doc = frame.contentDocument;
                const meta = doc.head.firstElementChild;
                check(meta && meta.getAttribute("http-equiv") === "Content-Security-Policy",
                      "the policy is not the first element of the frame's <head>");
                // the browser enforces it: an image from elsewhere, put there by hand, is refused
                const refused = await new Promise((resolve) => {
                    doc.addEventListener("securitypolicyviolation",
                                         (event) => resolve(event.blockedURI), { once: true });
                    const image = doc.createElement("img");
                    image.src = "https://images.example.net/not-allowed.png";
                    doc.body.appendChild(image);
                    setTimeout(() => resolve(null), 5000);
                });
                check(refused && refused.includes("images.example.net"),
                      `a remote image was not refused by the frame's policy: ${refused}`);
            },
        },
        {
            content: "Show the images of this mail",
            trigger: ".o_vt_webmail_remote_banner .o_vt_webmail_show_images",
            run: "click",
        },
        {
            content: "The frame loaded again, with the images, the style sheet's too",
            trigger: `${FRAME} img[src='https://images.example.net/autumn.jpg']`,
            run() {
                const doc = document.querySelector(".o_vt_webmail_body_frame").contentDocument;
                const hero = doc.defaultView.getComputedStyle(doc.querySelector(".hero"));
                check(hero.backgroundImage.includes("https://images.example.net/hero.png"),
                      `.hero: ${hero.backgroundImage}`);
                const promo = doc.defaultView.getComputedStyle(doc.querySelector(".promo"));
                check(promo.color === "rgb(200, 30, 40)", `.promo color: ${promo.color}`);
            },
        },
        {
            trigger: ".o_form_view:not(:has(.o_vt_webmail_remote_banner:visible))",
        },
    ],
});

tours.add("vt_webmail_text_count_tour", {
    url: "/odoo",
    steps: () => [
        ...openWebmailAppSteps(),
        {
            content: "Without a filter the pager counts the folder's 1,010 mails exactly",
            trigger: ".o_pager_limit:contains('1010')",
        },
        {
            trigger: ".o_searchview_input",
            run: "edit zebra",
        },
        {
            trigger: ".o_searchview_input",
            run: "press Enter",
        },
        {
            content: "1,005 match: the pager says 1000+",
            trigger: ".o_searchview_facet:contains('zebra')",
        },
        {
            trigger: ".o_pager_limit:contains('1000+')",
            run: "click",
        },
        {
            content: "Clicked, it counts them all",
            trigger: ".o_pager_limit:contains('1005'):not(:contains('+'))",
        },
        {
            content: "Without the filter again: Odoo's bound, an exact count",
            trigger: ".o_searchview_facet:contains('zebra') .o_facet_remove",
            run: "click",
        },
        {
            trigger: ".o_pager_limit:contains('1010')",
        },
    ],
});
