import { Component } from "@odoo/owl";
import { formatDate } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { humanSize } from "@web/core/utils/binary";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

const { DateTime } = luxon;
const fieldRegistry = registry.category("fields");
const ADDRESS = /^\s*"?(.*?)"?\s*<([^<>]+)>\s*$/;

/** A star that flags the mail on the mail server (list and form). */
export class WebmailFlagField extends Component {
    static template = "vt_webmail.FlagField";
    static props = { ...standardFieldProps };

    setup() {
        this.orm = useService("orm");
    }

    get flagged() {
        return this.props.record.data[this.props.name];
    }

    get label() {
        return this.flagged ? _t("Unflag") : _t("Flag");
    }

    async toggle() {
        const record = this.props.record;
        if (!record.resId) {
            return;
        }
        await this.orm.call(record.resModel, this.flagged ? "action_unflag" : "action_flag", [
            [record.resId],
        ]);
        await record.load();
    }
}

fieldRegistry.add("vt_webmail_flag", {
    component: WebmailFlagField,
    displayName: _t("Mail flag"),
    supportedTypes: ["boolean"],
    isEmpty: () => false,
    listViewWidth: 32,
});

/** "Alice Martin <alice@example.com>" shown as "Alice Martin", the address as its title. */
export class WebmailAddressField extends Component {
    static template = "vt_webmail.AddressField";
    static props = { ...standardFieldProps };

    get value() {
        return this.props.record.data[this.props.name] || "";
    }

    get label() {
        const addresses = this.value.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
        const names = addresses.map((address) => {
            const match = address.match(ADDRESS);
            return (match && match[1].trim()) || (match ? match[2] : address.trim());
        });
        return names.filter(Boolean).join(", ");
    }
}

fieldRegistry.add("vt_webmail_address", {
    component: WebmailAddressField,
    supportedTypes: ["char"],
});

/** A paperclip when the mail has attachments. */
export class WebmailPaperclipField extends Component {
    static template = "vt_webmail.PaperclipField";
    static props = { ...standardFieldProps };
}

fieldRegistry.add("vt_webmail_paperclip", {
    component: WebmailPaperclipField,
    supportedTypes: ["boolean"],
    isEmpty: () => false,
    listViewWidth: 32,
});

/** The date as mail programs show it: the time today, the day this year, else the date. */
export class WebmailDateField extends Component {
    static template = "vt_webmail.DateField";
    static props = { ...standardFieldProps };

    get value() {
        return this.props.record.data[this.props.name];
    }

    get label() {
        const value = this.value;
        if (!value) {
            return "";
        }
        const now = DateTime.local();
        if (value.hasSame(now, "day")) {
            return value.toLocaleString(DateTime.TIME_SIMPLE);
        }
        if (value.hasSame(now, "year")) {
            return value.toLocaleString({ month: "short", day: "numeric" });
        }
        return formatDate(value);
    }

    get title() {
        return this.value ? this.value.toLocaleString(DateTime.DATETIME_MED_WITH_WEEKDAY) : "";
    }
}

fieldRegistry.add("vt_webmail_date", {
    component: WebmailDateField,
    supportedTypes: ["datetime"],
});

/** A size in bytes, for people. */
export class WebmailSizeField extends Component {
    static template = "vt_webmail.SizeField";
    static props = { ...standardFieldProps };

    get label() {
        const value = this.props.record.data[this.props.name];
        return value ? humanSize(value) : "";
    }
}

fieldRegistry.add("vt_webmail_size", {
    component: WebmailSizeField,
    supportedTypes: ["integer"],
});

/**
 * The body of a mail. It was cleaned on the server (vt_webmail's mail pass, then Odoo's
 * html_sanitize): no script, handler, form, frame or style sheet is left, so it is shown as
 * it is, without the HTML editor's processing.
 */
export class WebmailBodyField extends Component {
    static template = "vt_webmail.BodyField";
    static props = { ...standardFieldProps };

    get value() {
        return this.props.record.data[this.props.name];
    }
}

fieldRegistry.add("vt_webmail_body", {
    component: WebmailBodyField,
    supportedTypes: ["html"],
});

/** The files attached to a mail, each downloaded through the owner-checking route. */
export class WebmailAttachmentsField extends Component {
    static template = "vt_webmail.AttachmentsField";
    static props = { ...standardFieldProps };

    get files() {
        return this.props.record.data[this.props.name].records.map((file) => ({
            id: file.resId,
            name: file.data.name,
            mimetype: file.data.mimetype,
            size: file.data.file_size ? humanSize(file.data.file_size) : "",
            extension: (file.data.name || "").split(".").slice(1).pop() || "",
            url: `/vt_webmail/attachment/${this.props.record.resId}/${file.resId}`,
        }));
    }
}

fieldRegistry.add("vt_webmail_attachments", {
    component: WebmailAttachmentsField,
    supportedTypes: ["many2many", "one2many"],
    isEmpty: () => false,
    relatedFields: [
        { name: "name", type: "char" },
        { name: "mimetype", type: "char" },
        { name: "file_size", type: "integer" },
    ],
});
