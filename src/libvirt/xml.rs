//! A tiny element tree and its serialisation through quick-xml's writer: escaping and
//! well-formedness are the writer's job, never `format!`'s. Attributes keep insertion order
//! and the output is indented by two spaces, which is what lxml's `pretty_print` gives nova,
//! so an expected document can be written once and compared byte for byte.

use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::Writer;

/// One element: name, attributes in order, children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct El {
    pub name: &'static str,
    pub attrs: Vec<(&'static str, String)>,
    pub children: Vec<El>,
}

impl El {
    pub fn new(name: &'static str) -> Self {
        El {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn attr(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push((key, value.into()));
        self
    }

    pub fn child(mut self, c: El) -> Self {
        self.children.push(c);
        self
    }

    pub fn push(&mut self, c: El) {
        self.children.push(c);
    }

    fn write<W: std::io::Write>(&self, w: &mut Writer<W>) -> std::io::Result<()> {
        let mut start = BytesStart::new(self.name);
        for (k, v) in &self.attrs {
            start.push_attribute((*k, v.as_str()));
        }
        if self.children.is_empty() {
            return w.write_event(Event::Empty(start));
        }
        w.write_event(Event::Start(start))?;
        for c in &self.children {
            c.write(w)?;
        }
        w.write_event(Event::End(BytesEnd::new(self.name)))
    }

    /// The element as an indented document fragment, without a trailing newline.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing into a Vec cannot fail.
        self.write(&mut w).expect("writing XML into memory");
        String::from_utf8(w.into_inner()).expect("the writer emits UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_indents() {
        let e = El::new("interface")
            .attr("type", "bridge")
            .child(El::new("source").attr("bridge", "a<b&\"c'"))
            .child(El::new("virtualport").child(El::new("parameters").attr("x", "1")));
        assert_eq!(
            e.to_xml(),
            "<interface type=\"bridge\">\n  <source bridge=\"a&lt;b&amp;&quot;c&apos;\"/>\n  <virtualport>\n    <parameters x=\"1\"/>\n  </virtualport>\n</interface>"
        );
    }
}
