import { Component, onWillUnmount, useRef } from "@odoo/owl";
import { formatDate } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { humanSize } from "@web/core/utils/binary";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

const { DateTime } = luxon;
const fieldRegistry = registry.category("fields");
const ADDRESS = /^\s*"?(.*?)"?\s*<([^<>]+)>\s*$/;
/** Room for the frame's horizontal scrollbar, in pixels. */
const SCROLLBAR_ALLOWANCE = 20;

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

/** A record's name as a link to it (``qualified_record_url``), e.g. where a mail was qualified. */
export class WebmailRecordLinkField extends Component {
    static template = "vt_webmail.RecordLinkField";
    static props = { ...standardFieldProps };

    get label() {
        return this.props.record.data[this.props.name] || "";
    }

    get url() {
        return this.props.record.data.qualified_record_url || "";
    }
}

fieldRegistry.add("vt_webmail_record_link", {
    component: WebmailRecordLinkField,
    supportedTypes: ["char"],
    fieldDependencies: [{ name: "qualified_record_url", type: "char" }],
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
 * The body of a mail, in a sandboxed frame: the document of /vt_webmail/body/<id>, where the
 * mail's own style sheets apply to the mail alone (see controllers/main.py and core/html.py),
 * as the form read it (`body_frame_document`), loaded from a blob: URL, so that opening a mail
 * is one request; the route when the record holds no such document. A blob: document is
 * parsed as a page is, in the mode its doctype says (an srcdoc document is always in
 * no-quirks mode, which breaks the layout of mail written for quirks mode); it carries its
 * Content-Security-Policy in a <meta>, and the server made its parts' URLs absolute.
 *
 * The sandbox flags are those of core/html.py FRAME_SANDBOX (a test keeps them equal), written
 * in the template so that the frame never loads without them. No allow-scripts: nothing in the
 * mail runs. allow-same-origin, so that this component can read the height of the mail and
 * size the frame to it (no inner scrollbar, and the whole mail when the page is printed); it
 * reads only sizes there, through properties a mail cannot shadow (the server removes its
 * names, forms, frames and plugins).
 *
 * The field's value is the notice shown when the body could not be fetched this time (the
 * server could not be reached), `body_frame_notice`; `body_frame_version`, which changes with
 * the body the frame shows, keys the frame, so "Show images" and "Always trust this sender",
 * which change the body, reload it. The form never reads the body itself (`body_html`): the
 * frame does, once.
 */
export class WebmailBodyField extends Component {
    static template = "vt_webmail.BodyField";
    static props = { ...standardFieldProps };

    setup() {
        this.wrapperRef = useRef("wrapper");
        this.frameRef = useRef("frame");
        this.observer = null;
        this.blob = { document: null, url: null }; // the blob: URL of the document shown
        onWillUnmount(() => {
            this.observer?.disconnect();
            this.releaseBlob();
        });
    }

    get value() {
        return this.props.record.data[this.props.name];
    }

    /**
     * The frame's URL: a blob: URL of its whole document when the form read it with the mail
     * (`body_frame_document`: the route's document, its Content-Security-Policy in a <meta>
     * first), so the frame needs no request to the server; else the route's. Null when there
     * is only a notice to show.
     */
    get frameSrc() {
        const record = this.props.record;
        if (!record.resId || record.data.body_state === "none") {
            return null;
        }
        if (record.data.body_frame_document) {
            return this.blobUrl(record.data.body_frame_document);
        }
        const images = record.data.show_remote_images ? 1 : 0;
        const version = record.data.body_frame_version || "";
        return `/vt_webmail/body/${record.resId}?images=${images}&v=${version}`;
    }

    /** One blob: URL per document shown (a render asks again); the one it replaces is freed. */
    blobUrl(document) {
        if (this.blob.document !== document) {
            this.releaseBlob();
            const blob = new Blob([document], { type: "text/html;charset=utf-8" });
            this.blob = { document, url: URL.createObjectURL(blob) };
        }
        return this.blob.url;
    }

    releaseBlob() {
        if (this.blob.url) {
            URL.revokeObjectURL(this.blob.url);
        }
        this.blob = { document: null, url: null };
    }

    onFrameLoad() {
        this.observer?.disconnect();
        const root = this.frameRef.el?.contentDocument?.documentElement;
        if (!root) {
            return;
        }
        // late images and a narrower or wider window change the mail's height
        this.observer = new ResizeObserver(() => this.fit());
        this.observer.observe(root);
        this.fit();
    }

    /**
     * Size the frame to the mail. The frame is measured collapsed, so that a mail sized on its
     * window (height: 100vh, 100%) gets its natural height instead of growing with the frame;
     * meanwhile the wrapper keeps the page's height, so the page does not scroll.
     */
    fit() {
        const frame = this.frameRef.el;
        const wrapper = this.wrapperRef.el;
        const scroller = frame?.contentDocument?.scrollingElement;
        if (!scroller || !wrapper) {
            return;
        }
        wrapper.style.minHeight = `${wrapper.offsetHeight}px`;
        frame.style.height = "0px";
        let height = scroller.scrollHeight;
        if (scroller.scrollWidth > scroller.clientWidth + 1) {
            height += SCROLLBAR_ALLOWANCE; // a mail wider than the form scrolls sideways
        }
        frame.style.height = `${Math.ceil(height)}px`;
        wrapper.style.minHeight = "";
    }
}

fieldRegistry.add("vt_webmail_body", {
    component: WebmailBodyField,
    supportedTypes: ["html"],
    fieldDependencies: [
        { name: "body_state", type: "selection" },
        { name: "show_remote_images", type: "boolean" },
        { name: "body_frame_version", type: "char" },
        { name: "body_frame_document", type: "text" },
    ],
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
