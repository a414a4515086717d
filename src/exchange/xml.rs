//! A small, bounded XML tree for XFDF, read with quick-xml.
//!
//! XFDF comes from outside, so the reader refuses what XML parsers are attacked with: any DTD
//! (`<!DOCTYPE`, hence no entity definitions, no billion laughs, no external entities), any
//! entity reference other than the five predefined ones and character references, more than
//! [`Bounds::max_nodes`] nodes, nesting deeper than [`Bounds::max_depth`], and attribute values
//! or element text longer than [`Bounds::max_value_bytes`]. The whole input is bounded by the
//! route's body limit before it gets here.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// An element: its local name (namespace prefix dropped), attributes and children, and the
/// text directly inside it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// How much a document may hold.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Elements, attributes, text runs, comments and processing instructions together.
    pub max_nodes: usize,
    /// Nesting of elements.
    pub max_depth: usize,
    /// One attribute value, or the text of one element.
    pub max_value_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_nodes: 200_000,
            max_depth: 32,
            max_value_bytes: 1024 * 1024,
        }
    }
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(pub String);

fn err(msg: impl Into<String>) -> XmlError {
    XmlError(msg.into())
}

/// Parses `input` into its root element, within `bounds`.
pub fn parse(input: &[u8], bounds: Bounds) -> Result<Element, XmlError> {
    let text =
        std::str::from_utf8(input).map_err(|_| err("the document must be UTF-8 (as XFDF is)"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    let mut count = |n: usize| -> Result<(), XmlError> {
        nodes += n;
        if nodes > bounds.max_nodes {
            return Err(err(format!(
                "the document holds more than {} nodes",
                bounds.max_nodes
            )));
        }
        Ok(())
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| err(format!("not well-formed XML: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                let _ = e;
                return Err(err("the document has more than one root element"));
            }
            Event::Start(e) => {
                if stack.len() >= bounds.max_depth {
                    return Err(err(format!(
                        "elements are nested deeper than {} levels",
                        bounds.max_depth
                    )));
                }
                let element = element(&e, bounds, &mut count)?;
                stack.push(element);
            }
            Event::Empty(e) => {
                if stack.len() >= bounds.max_depth {
                    return Err(err(format!(
                        "elements are nested deeper than {} levels",
                        bounds.max_depth
                    )));
                }
                let element = element(&e, bounds, &mut count)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| err("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                count(1)?;
                let s = t.xml_content().map_err(|e| err(format!("text: {e}")))?;
                push_text(&mut stack, &s, bounds)?;
            }
            Event::CData(t) => {
                count(1)?;
                let s = t.decode().map_err(|e| err(format!("CDATA: {e}")))?;
                push_text(&mut stack, &s, bounds)?;
            }
            Event::GeneralRef(r) => {
                count(1)?;
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                        .ok_or_else(|| err("an invalid character reference"))?
                } else {
                    let name = r.decode().map_err(|e| err(format!("reference: {e}")))?;
                    quick_xml::escape::resolve_predefined_entity(&name)
                        .map(String::from)
                        .ok_or_else(|| {
                            err(format!(
                                "entity `&{name};` is refused: only the five predefined entities and character references are accepted"
                            ))
                        })?
                };
                push_text(&mut stack, &resolved, bounds)?;
            }
            Event::DocType(_) => {
                return Err(err(
                    "DTDs (<!DOCTYPE>) are refused: XFDF needs none, and they can define entities",
                ))
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => count(1)?,
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(err("the document ends inside an element"));
    }
    root.ok_or_else(|| err("the document has no root element"))
}

fn push_text(stack: &mut [Element], s: &str, bounds: Bounds) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(top) => {
            if top.text.len() + s.len() > bounds.max_value_bytes {
                return Err(err(format!(
                    "the text of <{}> is longer than {} bytes",
                    top.name, bounds.max_value_bytes
                )));
            }
            top.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(err("text outside the root element")),
    }
}

fn element(
    e: &BytesStart<'_>,
    bounds: Bounds,
    count: &mut impl FnMut(usize) -> Result<(), XmlError>,
) -> Result<Element, XmlError> {
    count(1)?;
    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        count(1)?;
        let a = a.map_err(|e| err(format!("attribute: {e}")))?;
        if a.value.len() > bounds.max_value_bytes {
            return Err(err(format!(
                "an attribute of <{name}> is longer than {} bytes",
                bounds.max_value_bytes
            )));
        }
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let value = a.unescape_value().map_err(|e| {
            err(format!(
                "attribute `{key}` of <{name}>: {e} (only the five predefined entities and character references are accepted)"
            ))
        })?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse_default(s: &str) -> Result<Element, XmlError> {
        parse(s.as_bytes(), Bounds::default())
    }

    #[test]
    fn a_document_becomes_a_tree_with_entities_resolved() {
        let root = parse_default(
            r#"<?xml version="1.0"?><x:xfdf xmlns:x="ns"><a k="1 &amp; 2"><b>t&lt;&#65;<![CDATA[<c>]]></b></a><!-- c --></x:xfdf>"#,
        )
        .unwrap();
        assert_eq!(root.name, "xfdf");
        let a = root.child("a").unwrap();
        assert_eq!(a.attr("k"), Some("1 & 2"));
        assert_eq!(a.child("b").unwrap().text, "t<A<c>");
    }

    #[test]
    fn dtds_and_entities_are_refused() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert!(parse_default(laughs).unwrap_err().0.contains("DTD"));
        let external = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#;
        assert!(parse_default(external).unwrap_err().0.contains("DTD"));
        assert!(parse_default("<x>&e;</x>").unwrap_err().0.contains("&e;"));
        assert!(parse_default(r#"<x a="&e;"/>"#).is_err());
    }

    #[test]
    fn depth_nodes_and_value_sizes_are_bounded() {
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert!(parse_default(&deep).unwrap_err().0.contains("nested"));
        let many = format!("<r>{}</r>", "<a/>".repeat(300_000));
        assert!(parse_default(&many).unwrap_err().0.contains("nodes"));
        let bounds = Bounds {
            max_value_bytes: 100,
            ..Bounds::default()
        };
        let long_attr = format!(r#"<r a="{}"/>"#, "x".repeat(101));
        assert!(parse(long_attr.as_bytes(), bounds)
            .unwrap_err()
            .0
            .contains("longer"));
        let long_text = format!("<r>{}</r>", "x".repeat(101));
        assert!(parse(long_text.as_bytes(), bounds)
            .unwrap_err()
            .0
            .contains("longer"));
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "text",
            "<a>\u{0}</a",
            "</a>",
        ] {
            assert!(parse_default(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&[0xff, 0xfe, b'<'], Bounds::default()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any bytes give a tree or a refusal, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes, Bounds::default());
        }

        /// Strings made of XML syntax never panic the parser and stay within the bounds.
        #[test]
        fn xml_like_input_never_panics(parts in proptest::collection::vec(prop::sample::select(vec![
            "<a>", "</a>", "<b x=\"1\">", "</b>", "<c/>", "&amp;", "&#65;", "&#xZZ;", "&bogus;",
            "<!DOCTYPE a>", "<![CDATA[x]]>", "<!-- c -->", "<?pi x?>", "text", "\"", "=", "<", ">",
        ]), 0..64)) {
            let input = parts.concat();
            let bounds = Bounds { max_nodes: 50, max_depth: 4, max_value_bytes: 16 };
            if let Ok(root) = parse(input.as_bytes(), bounds) {
                fn depth(e: &Element) -> usize {
                    1 + e.children.iter().map(depth).max().unwrap_or(0)
                }
                prop_assert!(depth(&root) <= 4);
            }
        }
    }
}
