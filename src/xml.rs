//! Escaping text for XML documents (JUnit reports, HTML reports, TwiML answers): one
//! place, so every document the project writes escapes the same way.

/// Text content for XML (and HTML): `&`, `<` and `>` escaped. Characters XML 1.0 forbids (most C0 controls, such as
/// the ESC of terminal colours) become U+FFFD, so the document always parses.
pub fn xml_text(s: &str) -> String {
    escape(s, false)
}

/// An attribute value for XML (and HTML), quoted with `"` or `'`. Line breaks and tabs are written
/// as references, which keeps them through attribute-value normalization.
pub fn xml_attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // Quotes matter only inside attribute values; text keeps them readable (JSON).
            '"' if attribute => out.push_str("&quot;"),
            // &#39; rather than &apos;, which HTML 4 lacks.
            '\'' if attribute => out.push_str("&#39;"),
            // A raw CR would be read back as LF.
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' | '"' | '\'' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}
