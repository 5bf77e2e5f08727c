{
    "name": "Webmail",
    "summary": "Read and send your own IMAP mail in Odoo; log any mail on a lead or contact",
    "version": "1.3.0",
    "category": "Productivity/Discuss",
    "author": "vt_webmail developers",
    "website": "https://github.com/vt-webmail/vt_webmail",
    "license": "LGPL-3",
    # google_gmail and microsoft_outlook: their Settings hold the OAuth client id and secret
    # that Google and Microsoft 365 accounts sign in with (README, "Google and Microsoft 365")
    "depends": ["mail", "crm", "contacts", "google_gmail", "microsoft_outlook"],
    "external_dependencies": {"python": ["imapclient", "lxml"]},
    "data": [
        "security/vt_webmail_groups.xml",
        "security/ir.model.access.csv",
        "security/vt_webmail_security.xml",
        "data/ir_cron_data.xml",
        "views/vt_webmail_account_views.xml",
        "views/vt_webmail_oauth_templates.xml",
        "views/res_config_settings_views.xml",
        "views/vt_webmail_message_views.xml",
        "views/vt_webmail_trusted_sender_views.xml",
        "wizards/vt_webmail_message_move_views.xml",
        "wizards/vt_webmail_qualify_views.xml",
        "wizards/vt_webmail_compose_views.xml",
        "views/vt_webmail_message_compose_views.xml",
        "wizards/vt_webmail_compose_qualify_views.xml",
        "views/vt_webmail_message_qualify_views.xml",
        "views/vt_webmail_menus.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "vt_webmail/static/src/compose/**/*",
            "vt_webmail/static/src/webmail/**/*",
            ("remove", "vt_webmail/static/src/**/*.dark.scss"),
        ],
        "web.assets_web_dark": [
            "vt_webmail/static/src/**/*.dark.scss",
        ],
        "web.assets_tests": [
            "vt_webmail/static/tests/tours/vt_webmail_reply_tour.js",
            "vt_webmail/static/tests/tours/vt_webmail_read_tour.js",
            "vt_webmail/static/tests/tours/vt_webmail_qualify_tour.js",
            "vt_webmail/static/tests/tours/vt_webmail_oauth_tour.js",
        ],
    },
    "application": True,
    "installable": True,
}
