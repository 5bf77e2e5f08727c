"""core/quotes.py: quoted text found and folded, as the conversation view shows it."""

import lxml.html

from vt_webmail.core.html import text_to_html
from vt_webmail.core.quotes import QUOTE_CLASS, fold_quotes, split_text


def folds(html):
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    return root.xpath(f"//details[@class='{QUOTE_CLASS}']")


def test_plain_text_reply_folds_the_quote_and_its_attribution():
    body = text_to_html("Sounds good, see you then.\n\nOn Mon, 2 Mar 2026, Jane wrote:\n"
                        "> Shall we meet on Tuesday?\n> Jane")
    html, count = fold_quotes(body)
    assert count == 1
    [fold] = folds(html)
    assert "Shall we meet on Tuesday?" in fold.text_content()
    assert "Jane wrote:" in fold.text_content()
    assert fold[0].tag == "summary" and fold[0].text == "Show quoted text"
    # what the sender wrote stays outside
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for found in root.xpath("//details"):
        found.getparent().remove(found)
    assert "Sounds good" in root.text_content()
    assert "wrote" not in root.text_content()


def test_nested_quotes_fold_once_at_the_outermost():
    body = text_to_html("Yes.\n> No.\n>> Maybe?\n> No.")
    html, count = fold_quotes(body)
    assert count == 1
    assert "Maybe?" in folds(html)[0].text_content()


def test_gmail_quote_with_its_attribution():
    body = ('<div dir="ltr">Thanks!</div><br><div class="gmail_quote">'
            '<div class="gmail_attr">On Tue, Bob wrote:<br></div>'
            '<blockquote class="gmail_quote">Here is the file.</blockquote></div>')
    html, count = fold_quotes(body)
    assert count == 1
    [fold] = folds(html)
    assert "Bob wrote" in fold.text_content()
    assert "Here is the file." in fold.text_content()
    assert html.startswith('<div dir="ltr">Thanks!</div>')


def test_thunderbird_cite_prefix_and_blockquote_fold_together():
    body = ('<p>Agreed.</p><div class="moz-cite-prefix">On 3/2/26 Jane wrote:<br></div>'
            '<blockquote type="cite">The plan.</blockquote><p>-- <br>Sig</p>')
    html, count = fold_quotes(body)
    assert count == 1
    [fold] = folds(html)
    assert "Jane wrote" in fold.text_content() and "The plan." in fold.text_content()
    assert "Sig" not in fold.text_content()
    assert html.endswith("<p>-- <br>Sig</p>")


def test_outlook_reply_header_folds_everything_after_it():
    body = ('<div><p>Fine by me.</p><div id="divRplyFwdMsg"><b>From:</b> Jane<br>'
            '<b>Sent:</b> Monday</div><div>Original text</div><p>More original</p></div>')
    html, count = fold_quotes(body)
    assert count == 1
    [fold] = folds(html)
    assert "Original text" in fold.text_content() and "More original" in fold.text_content()
    assert "Fine by me." not in fold.text_content()


def test_outlook_hr_then_from_sent_header():
    body = ('<p>See below.</p><hr><div><b>From:</b> Jane <br><b>Sent:</b> Monday<br>'
            '<b>Subject:</b> Plan</div><p>Old text</p>')
    html, count = fold_quotes(body)
    assert count == 1
    assert "Old text" in folds(html)[0].text_content()


def test_french_and_german_attributions():
    for line in ("Le lun. 2 mars 2026 à 10:00, Jeanne a écrit :",
                 "Am Mo., 2. März 2026 um 10:00 schrieb Hans <h@example.de>:"):
        html, count = fold_quotes(text_to_html(f"Ok.\n{line}\n> Alt"))
        assert count == 1
        assert line.split()[0] in folds(html)[0].text_content()


def test_no_quote_comes_back_unchanged():
    body = "<p>Hello <b>there</b></p>"
    assert fold_quotes(body) == (body, 0)
    assert fold_quotes("") == ("", 0)
    assert fold_quotes(None) == ("", 0)


def test_two_quotes_two_folds():
    body = "<p>a</p><blockquote>q1</blockquote><p>b</p><blockquote>q2</blockquote><p>c</p>"
    html, count = fold_quotes(body)
    assert count == 2
    assert [f.text_content() for f in folds(html)] == ["Show quoted textq1",
                                                       "Show quoted textq2"]
    assert "<p>b</p>" in html and html.endswith("<p>c</p>")


def test_whole_document_gives_its_body():
    html, count = fold_quotes("<html><head><title>t</title></head><body><p>x</p>"
                              "<blockquote>y</blockquote></body></html>")
    assert count == 1
    assert "<title>" not in html and html.startswith("<p>x</p>")


def test_split_text_marks_the_quote_and_its_attribution():
    text = "Sure.\n\nOn Mon, Jane wrote:\n> When?\n> J.\n\nCheers"
    assert split_text(text) == [
        (False, "Sure.\n"),
        (True, "On Mon, Jane wrote:\n> When?\n> J."),
        (False, "\nCheers"),
    ]
    assert split_text("no quote") == [(False, "no quote")]
    assert split_text("") == []
