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
 * Odoo 18's AutoComplete calls its `onSelect` prop with the option chosen; Odoo 19's has no
 * such prop and calls the option's own `onSelect`. Each option here has its `onSelect`, and
 * on 18 the prop hands the choice to it. Goes with Odoo 18 support (then no prop at all).
 */
const SELECT_PROP = "onSelect" in AutoComplete.props;

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
        const cssClass = "o_vt_webmail_recipient_suggestion";
        return found.map((suggestion) => ({
            label: suggestion.label,
            value: suggestion.label,
            // the option's class: classList in Odoo 18, cssClass in Odoo 19
            classList: cssClass,
            cssClass,
            // what was typed when the suggestions were asked for: the list goes as soon as
            // the input changes, so this is what is in the input when one is chosen
            onSelect: () => this.choose(replaceLastToken(request, suggestion.label)),
        }));
    }

    /** The props of the AutoComplete (the template spreads them). */
    get autoCompleteProps() {
        const props = {
            id: this.props.id,
            value: this.value,
            sources: this.sources,
            placeholder: this.props.placeholder || "",
            onChange: (change) => this.onChange(change),
            class: "o_vt_webmail_recipients w-100",
        };
        if (SELECT_PROP) {
            props.onSelect = (option) => option.onSelect();
        }
        return props;
    }

    choose(value) {
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
