//! A small hand-written HTML form parser: enough to find the hosted login form and submit it
//! the way a browser would.
//!
//! Tag and attribute names are case-insensitive; attribute values may be double-quoted,
//! single-quoted or unquoted and have their character references decoded. Comments and the
//! contents of `<script>`/`<style>` are skipped. `<select>` is not supported.

/// One `<form>` with the name/value pairs a browser would submit (its "successful controls").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// `method`, lowercased; `get` when missing.
    pub method: String,
    /// `action` as written (decoded); `None` when missing.
    pub action: Option<String>,
    /// The fields in document order: text, hidden, password, checked boxes, textareas and the
    /// default (first) submit button if it has a name.
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the form has a field `name`.
    pub fn has_field(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets the first field `name` to `value`, or appends it.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.fields.iter_mut().find(|(k, _)| k == name) {
            Some(field) => field.1 = value.to_owned(),
            None => self.fields.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Where the form posts: `action` resolved against the page URL, or the page URL itself
    /// when `action` is missing or empty.
    pub fn action_url(&self, page_url: &url::Url) -> url::Url {
        match self.action.as_deref().map(str::trim) {
            None | Some("") => page_url.clone(),
            Some(action) => page_url
                .join(action)
                .unwrap_or_else(|e| panic!("form action {action:?} on {page_url}: {e}")),
        }
    }
}

/// All forms of the document, in order.
pub fn parse_forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    let mut submitter_seen = false;
    for tag in tags(html) {
        match (tag.name.as_str(), tag.closing) {
            ("form", false) if current.is_none() => {
                current = Some(Form {
                    method: tag
                        .attr("method")
                        .unwrap_or("get")
                        .trim()
                        .to_ascii_lowercase(),
                    action: tag.attr("action").map(str::to_owned),
                    fields: Vec::new(),
                });
                submitter_seen = false;
            }
            ("form", true) => forms.extend(current.take()),
            (_, false) => {
                if let Some(form) = current.as_mut() {
                    add_control(form, &tag, &mut submitter_seen);
                }
            }
            _ => {}
        }
    }
    forms.extend(current);
    forms
}

/// The first `method="post"` form holding fields named `email` and `password`.
pub fn find_login_form(html: &str) -> Option<Form> {
    parse_forms(html)
        .into_iter()
        .find(|f| f.method == "post" && f.has_field("email") && f.has_field("password"))
}

/// Adds what `tag` contributes to the form data set, as a browser does.
fn add_control(form: &mut Form, tag: &Tag, submitter_seen: &mut bool) {
    let name = tag.attr("name").unwrap_or_default();
    let value = tag.attr("value");
    let kind = match tag.name.as_str() {
        "input" => tag
            .attr("type")
            .unwrap_or("text")
            .trim()
            .to_ascii_lowercase(),
        "button" => match tag.attr("type").map(|t| t.trim().to_ascii_lowercase()) {
            Some(t) if t != "submit" => return,
            _ => "submit".to_owned(),
        },
        "textarea" => "textarea".to_owned(),
        _ => return,
    };
    let submits = matches!(kind.as_str(), "submit" | "image");
    // The default button (the first one) is the one "clicked" when the form is submitted.
    let is_default = submits && !std::mem::replace(submitter_seen, true);
    if name.is_empty() || tag.attr("disabled").is_some() {
        return;
    }
    let value = match kind.as_str() {
        "checkbox" | "radio" if tag.attr("checked").is_some() => value.unwrap_or("on"),
        "checkbox" | "radio" | "reset" | "button" | "file" | "image" => return,
        "submit" if !is_default => return,
        "textarea" => tag.text.strip_prefix('\n').unwrap_or(&tag.text),
        _ => value.unwrap_or_default(),
    };
    form.fields.push((name.to_owned(), value.to_owned()));
}

/// A start or end tag.
#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    attrs: Vec<(String, String)>,
    /// Decoded text content, for `<textarea>` only.
    text: String,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits the document into tags, skipping text, comments, doctypes and raw-text contents.
fn tags(html: &str) -> Vec<Tag> {
    // ASCII lowercasing keeps byte offsets, so indexes found in `lower` are valid in `html`.
    let lower = html.to_ascii_lowercase();
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        let start = i + offset;
        let rest = &lower[start..];
        if rest.starts_with("<!--") {
            i = lower[start + 4..]
                .find("-->")
                .map_or(html.len(), |e| start + 4 + e + 3);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            i = html[start..]
                .find('>')
                .map_or(html.len(), |e| start + e + 1);
            continue;
        }
        let closing = bytes.get(start + 1) == Some(&b'/');
        let name_start = start + 1 + usize::from(closing);
        let name_end = (name_start..html.len())
            .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-'))
            .unwrap_or(html.len());
        if name_end == name_start || !bytes[name_start].is_ascii_alphabetic() {
            i = start + 1; // a literal '<' in text
            continue;
        }
        let name = lower[name_start..name_end].to_owned();
        let (attrs, end) = parse_attrs(html, name_end);
        let mut tag = Tag {
            name,
            closing,
            attrs,
            text: String::new(),
        };
        i = end;
        if !closing && matches!(tag.name.as_str(), "script" | "style" | "textarea" | "title") {
            let close = format!("</{}", tag.name);
            let content_end = lower[i..].find(&close).map_or(html.len(), |e| i + e);
            if tag.name == "textarea" {
                tag.text = decode_entities(&html[i..content_end]);
            }
            i = content_end;
        }
        out.push(tag);
    }
    out
}

/// Parses attributes from `pos` up to the closing `>`; returns them (names lowercased, first
/// occurrence wins, values decoded) and the index just after `>`.
fn parse_attrs(html: &str, mut pos: usize) -> (Vec<(String, String)>, usize) {
    let bytes = html.as_bytes();
    let len = bytes.len();
    let mut attrs: Vec<(String, String)> = Vec::new();
    loop {
        while pos < len && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'/') {
            pos += 1;
        }
        if pos >= len {
            return (attrs, len);
        }
        if bytes[pos] == b'>' {
            return (attrs, pos + 1);
        }
        let name_start = pos;
        while pos < len
            && !matches!(bytes[pos], b'=' | b'>' | b'/')
            && !bytes[pos].is_ascii_whitespace()
        {
            pos += 1;
        }
        let name = html[name_start..pos].to_ascii_lowercase();
        while pos < len && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let mut value = String::new();
        if pos < len && bytes[pos] == b'=' {
            pos += 1;
            while pos < len && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            let raw = if pos < len && matches!(bytes[pos], b'"' | b'\'') {
                let quote = bytes[pos];
                let value_start = pos + 1;
                let value_end = (value_start..len)
                    .find(|&j| bytes[j] == quote)
                    .unwrap_or(len);
                pos = (value_end + 1).min(len);
                &html[value_start..value_end]
            } else {
                let value_start = pos;
                while pos < len && bytes[pos] != b'>' && !bytes[pos].is_ascii_whitespace() {
                    pos += 1;
                }
                &html[value_start..pos]
            };
            value = decode_entities(raw);
        }
        if !name.is_empty() && !attrs.iter().any(|(k, _)| *k == name) {
            attrs.push((name, value));
        }
    }
}

/// Decodes `&amp; &lt; &gt; &quot; &apos; &nbsp;` and numeric references (`&#39;`, `&#x27;`);
/// anything else is left as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let entity = &rest[1..semi];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = entity.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => num.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }
            };
            ch.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
