import { Component } from "@odoo/owl";
import { AutoComplete } from "@web/core/autocomplete/autocomplete";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/**
 * Where the address being typed starts: after the last comma that separates addresses (not
 * one inside a quoted name such as `"Doe, John" <john@example.com>`).
 */
export function lastTokenStart(value) {
    let start = 0;
    let quoted = false;
    let angle = false;
    for (let index = 0; index < value.length; index++) {
        const char = value[index];
        if (char === "\\" && quoted) {
            index++;
        } else if (char === '"') {
            quoted = !quoted;
        } else if (!quoted && char === "<") {
            angle = true;
        } else if (!quoted && char === ">") {
            angle = false;
        } else if (!quoted && !angle && (char === "," || char === ";")) {
            start = index + 1;
        }
    }
    return start;
}

/** `value` with the address being typed replaced by `address`, ready for the next one. */
export function replaceLastToken(value, address) {
    const head = value.slice(0, lastTokenStart(value)).trim();
    return `${head ? `${head} ` : ""}${address}, `;
}

/** AutoComplete for a list of addresses: focusing the input must not select what is in it. */
export class RecipientsAutoComplete extends AutoComplete {
    onInputFocus(ev) {
        this.props.onFocus(ev);
    }
}

/**
 * To/Cc/Bcc: free text (any address can be typed), with suggestions from the contacts the
 * user may read for the address being typed. Choosing one never creates a contact.
 */
export class RecipientsField extends Component {
    static template = "vt_webmail.RecipientsField";
    static components = { AutoComplete: RecipientsAutoComplete };
    static props = {
        ...standardFieldProps,
        placeholder: { type: String, optional: true },
    };

    setup() {
        this.orm = useService("orm");
    }

    get value() {
        return this.props.record.data[this.props.name] || "";
    }

    get sources() {
        return [{ placeholder: _t("Searching contacts..."), options: (request) => this.search(request) }];
    }

    async search(request) {
        const term = request.slice(lastTokenStart(request)).trim();
        if (term.length < 2) {
            return [];
        }
        const found = await this.orm.call("vt_webmail.compose", "search_recipients", [term], {
            limit: 8,
        });
        return found.map((suggestion) => ({
            label: suggestion.label,
            value: suggestion.label,
            classList: "o_vt_webmail_recipient_suggestion",
        }));
    }

    onSelect(option, { input }) {
        const value = replaceLastToken(input.value, option.value);
        input.value = value;
        this.props.record.update({ [this.props.name]: value });
    }

    onChange({ inputValue }) {
        if (inputValue !== this.value) {
            this.props.record.update({ [this.props.name]: inputValue });
        }
    }
}

export const recipientsField = {
    component: RecipientsField,
    displayName: _t("Mail recipients"),
    supportedTypes: ["char"],
    extractProps: ({ attrs }) => ({ placeholder: attrs.placeholder }),
};

registry.category("fields").add("vt_webmail_recipients", recipientsField);
