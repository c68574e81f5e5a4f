//! The root group's `zarr.json` as stored, its `loaded_patches` list read
//! and extended without parsing the whole document into a `serde_json::Value`.
//!
//! The list is the contract with smart-geocubes and must stay in the root
//! attributes, so every commit stores the whole document again: 14 MB of
//! JSON at 10⁶ ids. A `Value` round trip of that (parse, 10⁶ `String`s,
//! print) is what made a commit cost ~0.5 s there. Instead the document
//! keeps its bytes and the byte span of the list: a scanner checks the JSON
//! and finds the span while it collects the ids, and a commit copies the
//! bytes with the new ids, escaped by serde_json, spliced in before the
//! `]` — one memcpy, the rest of the document (`title`, anything a user
//! added) byte for byte as it was. We write compact JSON (cube-layout.md
//! fixes the document's content, not its formatting; Zarr readers parse it).
//!
//! Anything the scanner is not sure of — invalid JSON, a key written with
//! escapes that it cannot rule out, duplicate keys on the path to the list,
//! a list that is missing or holds something other than strings, nesting
//! deeper than serde_json allows — leaves the document to serde_json, as
//! before: its parse decides, and the first commit rewrites the document
//! through a `Value` (compact), after which the scanner succeeds again. A
//! list written with whitespace (zarr-python and earlier geocube print
//! JSON indented) is rewritten compactly by the next commit.

use serde_json::{Map, Value, json};
use zarrs::storage::Bytes;

use super::layout::group_json;
use super::patch_ids::PatchIds;
use crate::{Error, Result};

/// Nesting the scanner follows; deeper documents are left to serde_json
/// (which allows 127 levels).
const MAX_DEPTH: usize = 100;

/// Bytes that end a plain run inside a JSON string: `"`, `\\` and the
/// control characters, which JSON requires escaped.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The bytes of a root group document and, when the scanner read it, where
/// its `loaded_patches` list is.
#[derive(Clone, Debug)]
pub(crate) struct RootDoc {
    bytes: Bytes,
    list: Option<ListSpan>,
}

/// Where the list is in the document's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ListSpan {
    /// Offset of the `[`.
    open: usize,
    /// Offset of the `]`.
    close: usize,
    /// The list holds no ids.
    empty: bool,
    /// No whitespace between the brackets: ids appended after the last one
    /// keep the list compact.
    compact: bool,
}

impl RootDoc {
    /// The document in `bytes` and the ids of its list.
    ///
    /// # Errors
    /// [`Error::Zarr`] when `bytes` is not JSON (serde_json's error).
    pub(crate) fn read(bytes: Bytes) -> Result<(Self, PatchIds)> {
        if let Some((list, ids)) = scan(&bytes) {
            return Ok((
                Self {
                    bytes,
                    list: Some(list),
                },
                ids,
            ));
        }
        let root: Value = serde_json::from_slice(&bytes).map_err(Error::zarr)?;
        let ids = PatchIds::from_ids(list_of(&root).iter().filter_map(|v| v.as_str()));
        Ok((Self { bytes, list: None }, ids))
    }

    /// The stored bytes.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The document parsed with its list emptied: the other attributes
    /// without a parse of the ids.
    ///
    /// # Errors
    /// [`Error::Zarr`] when the document is not JSON.
    pub(crate) fn without_ids(&self) -> Result<Value> {
        let parse = |b: &[u8]| serde_json::from_slice(b).map_err(Error::zarr);
        match self.list {
            Some(list) => {
                let b = &self.bytes;
                parse(&[&b[..=list.open], &b[list.close..]].concat())
            }
            None => parse(&self.bytes),
        }
    }

    /// The document with `new` appended to its list, which holds `current`
    /// (what [`RootDoc::read`] returned for it).
    ///
    /// # Errors
    /// [`Error::Zarr`] when the document is not JSON.
    pub(crate) fn appended(&self, current: &PatchIds, new: &[String]) -> Result<Self> {
        match self.list {
            Some(list) if list.compact => {
                let b = &self.bytes;
                let mut out = Vec::with_capacity(b.len() + new.len() * 16);
                out.extend_from_slice(&b[..list.close]);
                let close = write_ids(&mut out, list.empty, new.iter().map(String::as_str))?;
                out.extend_from_slice(&b[list.close..]);
                Ok(Self {
                    bytes: out.into(),
                    list: Some(ListSpan {
                        open: list.open,
                        close: close.unwrap_or(list.close),
                        empty: list.empty && new.is_empty(),
                        compact: true,
                    }),
                })
            }
            _ => self.with_list(current.iter().chain(new.iter().map(String::as_str))),
        }
    }

    /// The document with its list replaced by `ids`.
    ///
    /// # Errors
    /// [`Error::Zarr`] when the document is not JSON.
    pub(crate) fn with_list<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Result<Self> {
        let Some(list) = self.list else {
            return self.through_value(ids);
        };
        let b = &self.bytes;
        let mut out = Vec::with_capacity(b.len());
        out.extend_from_slice(&b[..=list.open]);
        let close = write_ids(&mut out, true, ids)?;
        let empty = close.is_none();
        let close = close.unwrap_or(list.open + 1);
        out.extend_from_slice(&b[list.close..]);
        Ok(Self {
            bytes: out.into(),
            list: Some(ListSpan {
                open: list.open,
                close,
                empty,
                compact: true,
            }),
        })
    }

    /// The document parsed, its list set to `ids` and printed again: what
    /// every commit did before, now for documents the scanner leaves alone.
    fn through_value<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Result<Self> {
        let mut root: Value = serde_json::from_slice(&self.bytes).map_err(Error::zarr)?;
        let list = json!(ids.collect::<Vec<_>>());
        if let Some(attrs) = root.get_mut("attributes").and_then(Value::as_object_mut) {
            attrs.insert("loaded_patches".into(), list);
        } else {
            let mut attrs = Map::new();
            attrs.insert("loaded_patches".into(), list);
            root = group_json(attrs);
        }
        let bytes = Bytes::from(serde_json::to_vec(&root).map_err(Error::zarr)?);
        let list = scan(&bytes).map(|(span, _)| span);
        Ok(Self { bytes, list })
    }
}

/// `ids` as JSON strings, comma-separated, each escaped as serde_json does,
/// after a list that already holds ids unless `empty`. The offset just past
/// the last one written, if any.
fn write_ids<'a>(
    out: &mut Vec<u8>,
    mut empty: bool,
    ids: impl Iterator<Item = &'a str>,
) -> Result<Option<usize>> {
    let mut wrote = false;
    for id in ids {
        if !empty {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, id).map_err(Error::zarr)?;
        empty = false;
        wrote = true;
    }
    Ok(wrote.then_some(out.len()))
}

/// `attributes.loaded_patches` of a parsed root document, empty if absent.
pub(crate) fn list_of(root: &Value) -> &[Value] {
    root.pointer("/attributes/loaded_patches")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The list's span and ids, if `bytes` is a JSON object the scanner can
/// vouch for (see the module docs); `None` leaves it to serde_json.
fn scan(bytes: &[u8]) -> Option<(ListSpan, PatchIds)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut s = Scanner { text, at: 0 };
    let mut found = None;
    s.object(0, |s, key| {
        if key != "attributes" {
            return s.value(1);
        }
        if found.is_some() {
            return None;
        }
        let mut list = None;
        s.object(1, |s, key| {
            if key != "loaded_patches" {
                return s.value(2);
            }
            if list.is_some() {
                return None;
            }
            list = Some(s.id_list()?);
            Some(())
        })?;
        found = Some(list?);
        Some(())
    })?;
    s.whitespace();
    (s.at == text.len()).then_some(())?;
    found
}

/// A cursor over a JSON document that checks what it passes over as
/// serde_json would and gives up (`None`) where it cannot be sure.
struct Scanner<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Scanner<'t> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Skip whitespace; whether there was any.
    fn whitespace(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
        self.at > start
    }

    /// An object, calling `member` with each key with the cursor on its
    /// value, which `member` must pass over.
    fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, &str) -> Option<()>,
    ) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.whitespace();
        self.eat(b'{')?;
        self.whitespace();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.whitespace();
            let key = self.string()?;
            let key = key.decoded()?;
            self.whitespace();
            self.eat(b':')?;
            self.whitespace();
            member(self, &key)?;
            self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Pass over any value, checking it.
    fn value(&mut self, depth: usize) -> Option<()> {
        self.whitespace();
        match self.peek()? {
            b'{' => self.object(depth, |s, _| s.value(depth + 1)),
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                self.whitespace();
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    self.whitespace();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string()?.check(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// A number, checked by serde_json itself (leading zeros, range).
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.at += 1;
        }
        serde_json::from_str::<serde_json::Number>(&self.text[start..self.at])
            .ok()
            .map(drop)
    }

    /// A string token with the cursor on its opening quote.
    fn string(&mut self) -> Option<Token<'t>> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut escaped = false;
        loop {
            // Plain characters a table lookup each: most of a cold read of
            // 10⁶ ids is spent here.
            while !SPECIAL[usize::from(*bytes.get(self.at)?)] {
                self.at += 1;
            }
            match bytes[self.at] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.at += 2;
                }
                // Control characters must be escaped in JSON strings.
                _ => return None,
            }
        }
        let end = self.at;
        self.at += 1;
        Some(Token {
            quoted: &self.text[start - 1..=end],
            escaped,
        })
    }

    /// The `loaded_patches` list: its span and ids; `None` if it holds
    /// anything but strings.
    fn id_list(&mut self) -> Option<(ListSpan, PatchIds)> {
        let open = self.at;
        self.eat(b'[')?;
        // About 14 bytes per id like `3-1234-5678` in a compact list.
        let rest = self.text.len() - self.at;
        let mut ids = PatchIds::default().appender(rest / 14, rest);
        let mut compact = !self.whitespace();
        if self.eat(b']').is_some() {
            let span = ListSpan {
                open,
                close: self.at - 1,
                empty: true,
                compact,
            };
            return Some((span, ids.finish()));
        }
        loop {
            compact &= !self.whitespace();
            let token = self.string()?;
            match token.escaped {
                false => ids.push(token.raw()),
                true => ids.push(&token.decoded()?),
            }
            compact &= !self.whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    let span = ListSpan {
                        open,
                        close: self.at - 1,
                        empty: false,
                        compact,
                    };
                    return Some((span, ids.finish()));
                }
                _ => return None,
            }
        }
    }
}

/// A string as it stands in the document, quotes included.
struct Token<'t> {
    quoted: &'t str,
    escaped: bool,
}

impl Token<'_> {
    /// The characters between the quotes, for a string without escapes.
    fn raw(&self) -> &str {
        &self.quoted[1..self.quoted.len() - 1]
    }

    /// The string's value; escapes are decoded by serde_json, which also
    /// rejects invalid ones (a lone surrogate, a bad `\u`).
    fn decoded(&self) -> Option<std::borrow::Cow<'_, str>> {
        if self.escaped {
            serde_json::from_str::<String>(self.quoted)
                .ok()
                .map(Into::into)
        } else {
            Some(self.raw().into())
        }
    }

    fn check(&self) -> Option<()> {
        self.decoded().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What a full parse says the list holds (strings only, as before).
    fn parsed_ids(bytes: &[u8]) -> Option<Vec<String>> {
        let root: Value = serde_json::from_slice(bytes).ok()?;
        Some(
            list_of(&root)
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    }

    fn ids_of(ids: &PatchIds) -> Vec<String> {
        ids.iter().map(str::to_owned).collect()
    }

    fn doc(extra: &Map<String, Value>, ids: &[String]) -> Value {
        let mut attrs = extra.clone();
        attrs.insert("loaded_patches".into(), json!(ids));
        json!({"zarr_format": 3, "node_type": "group", "attributes": attrs})
    }

    fn extended(root: &Value, new: &[String]) -> Value {
        let mut root = root.clone();
        let list = root
            .pointer_mut("/attributes/loaded_patches")
            .and_then(Value::as_array_mut)
            .expect("list");
        list.extend(new.iter().map(|s| json!(s)));
        root
    }

    /// Ids: chunk-like ones, and any string with quotes, backslashes,
    /// control characters, `/`, line separators and astral characters.
    fn id() -> impl Strategy<Value = String> {
        let tricky = prop::sample::select(vec![
            '"', '\\', '/', '\u{0}', '\u{8}', '\u{1f}', '\u{7f}', 'é', '\u{2028}', '😀', 'a', '-',
        ]);
        prop_oneof![
            "[0-9]-[0-9]{1,4}-[0-9]{1,4}",
            any::<String>(),
            prop::collection::vec(tricky, 0..6).prop_map(|c| c.into_iter().collect()),
        ]
    }

    /// Any JSON value, for the attributes beside the list.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            id().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::vec((id(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn attributes() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::vec((id(), json_value()), 0..4).prop_map(|kv| {
            kv.into_iter()
                .filter(|(k, _)| k != "loaded_patches")
                .chain([("title".to_owned(), json!("Cube"))])
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// On a document serde_json printed compactly (what geocube writes),
        /// the scan reads the ids a full parse reads, and the splice gives
        /// byte for byte what a full re-serialisation of the extended
        /// document gives.
        #[test]
        fn the_splice_equals_a_full_reserialisation(
            extra in attributes(),
            ids in prop::collection::vec(id(), 0..8),
            new in prop::collection::vec(id(), 0..4),
        ) {
            let root = doc(&extra, &ids);
            let bytes = serde_json::to_vec(&root).expect("print");
            let (read, got) = RootDoc::read(bytes.clone().into()).expect("read");
            prop_assert!(read.list.is_some_and(|l| l.compact));
            prop_assert_eq!(ids_of(&got), ids.clone());
            let spliced = read.appended(&got, &new).expect("splice");
            let want = serde_json::to_vec(&extended(&root, &new)).expect("print");
            prop_assert_eq!(spliced.bytes().as_ref(), want.as_slice());
            // The span carried forward is the one a new scan finds.
            prop_assert_eq!(spliced.list, scan(&want).map(|(span, _)| span));
        }

        /// On an indented document (zarr-python, earlier geocube) the scan
        /// still reads the ids, and a commit rewrites the list compactly
        /// with everything else as it was.
        #[test]
        fn an_indented_list_is_rewritten_compactly(
            extra in attributes(),
            ids in prop::collection::vec(id(), 0..8),
            new in prop::collection::vec(id(), 0..4),
        ) {
            let root = doc(&extra, &ids);
            let bytes = serde_json::to_vec_pretty(&root).expect("print");
            let (read, got) = RootDoc::read(bytes.clone().into()).expect("read");
            prop_assert_eq!(ids_of(&got), ids.clone());
            let spliced = read.appended(&got, &new).expect("splice");
            let value: Value = serde_json::from_slice(spliced.bytes()).expect("valid JSON");
            prop_assert_eq!(&value, &extended(&root, &new));
            let span = spliced.list.expect("span");
            prop_assert!(span.compact);
            // Outside the list, the bytes are the indented document's.
            let old = read.list.expect("span");
            prop_assert_eq!(&spliced.bytes()[..=span.open], &bytes[..=old.open]);
            prop_assert_eq!(&spliced.bytes()[span.close..], &bytes[old.close..]);
        }

        /// Replacing the list (`forget`) gives the document with that list.
        #[test]
        fn a_replaced_list_is_that_list(
            extra in attributes(),
            ids in prop::collection::vec(id(), 0..8),
            kept in prop::collection::vec(id(), 0..8),
            pretty in any::<bool>(),
        ) {
            let root = doc(&extra, &ids);
            let bytes = if pretty {
                serde_json::to_vec_pretty(&root)
            } else {
                serde_json::to_vec(&root)
            }
            .expect("print");
            let (read, _) = RootDoc::read(bytes.into()).expect("read");
            let replaced = read.with_list(kept.iter().map(String::as_str)).expect("replace");
            let value: Value = serde_json::from_slice(replaced.bytes()).expect("valid JSON");
            prop_assert_eq!(value, doc(&extra, &kept));
            let appended = replaced.appended(&PatchIds::from_ids(kept.iter().map(String::as_str)), &ids).expect("splice");
            let mut both = kept.clone();
            both.extend(ids.iter().cloned());
            let value: Value = serde_json::from_slice(appended.bytes()).expect("valid JSON");
            prop_assert_eq!(value, doc(&extra, &both));
        }

        /// Whatever the bytes (documents broken at random), the scanner only
        /// vouches for JSON that serde_json parses, with serde_json's ids;
        /// and `read` fails exactly when serde_json does.
        #[test]
        fn the_scanner_never_disagrees_with_serde_json(
            extra in attributes(),
            ids in prop::collection::vec(id(), 0..6),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, prop::sample::select(
                b"{}[]\",:\\ \t\n0e-.tnu\x01\x1f\xff".to_vec())), 1..4),
        ) {
            let mut bytes = serde_json::to_vec(&doc(&extra, &ids)).expect("print");
            for (at, op, b) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => { bytes.remove(i); }
                    1 => bytes.insert(i, b),
                    2 if i < bytes.len() => bytes[i] = b,
                    _ => bytes.truncate(i),
                }
            }
            let parsed = parsed_ids(&bytes);
            if let Some((_, got)) = scan(&bytes) {
                prop_assert_eq!(Some(ids_of(&got)), parsed.clone(), "{}", String::from_utf8_lossy(&bytes));
            }
            match RootDoc::read(bytes.clone().into()) {
                Ok((_, got)) => prop_assert_eq!(Some(ids_of(&got)), parsed),
                Err(_) => prop_assert!(parsed.is_none()),
            }
        }
    }

    #[test]
    fn documents_the_scanner_leaves_to_serde_json() {
        let cases: [(&str, Option<&[&str]>); 9] = [
            // No list: empty, and the first commit adds one.
            (
                r#"{"zarr_format":3,"node_type":"group","attributes":{"title":"t"}}"#,
                Some(&[]),
            ),
            // Not only strings: the strings, as before.
            (
                r#"{"attributes":{"loaded_patches":["a",1,null,"b"]}}"#,
                Some(&["a", "b"]),
            ),
            // Duplicate keys: the last one, as serde_json has it.
            (
                r#"{"attributes":{"loaded_patches":["a"],"loaded_patches":["b"]}}"#,
                Some(&["b"]),
            ),
            (
                r#"{"attributes":{"loaded_patches":["a"]},"attributes":{"loaded_patches":["c"]}}"#,
                Some(&["c"]),
            ),
            // Out of f64's range, trailing bytes, a lone surrogate: errors.
            (r#"{"attributes":{"x":1e400,"loaded_patches":[]}}"#, None),
            (r#"{"attributes":{"loaded_patches":[]}} x"#, None),
            (r#"{"attributes":{"loaded_patches":["\ud800"]}}"#, None),
            // Nested deeper than the scanner follows, within serde_json's limit.
            (
                &format!(
                    r#"{{"attributes":{{"x":{}{},"loaded_patches":["a"]}}}}"#,
                    "[".repeat(110),
                    "]".repeat(110)
                ),
                Some(&["a"]),
            ),
            // An escaped key is the key it decodes to.
            (
                r#"{"attributes":{"loaded\u005fpatches":["a\"b","c\\d"]}}"#,
                Some(&["a\"b", "c\\d"]),
            ),
        ];
        for (text, want) in cases {
            let got = RootDoc::read(Bytes::copy_from_slice(text.as_bytes()))
                .ok()
                .map(|(_, ids)| ids_of(&ids));
            let want = want.map(|w| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
            assert_eq!(got, want, "{text}");
            assert_eq!(got, parsed_ids(text.as_bytes()), "{text}");
        }
        // The rest of a document, without parsing its ids.
        let text =
            r#"{"attributes":{"loaded_patches":["a","b"],"title":"t\u00e9"},"zarr_format":3}"#;
        let (read, _) = RootDoc::read(Bytes::from_static(text.as_bytes())).expect("read");
        assert_eq!(
            read.without_ids().expect("rest"),
            json!({"attributes": {"loaded_patches": [], "title": "té"}, "zarr_format": 3})
        );
        // Without a list the first commit writes one, through a Value.
        let (read, ids) = RootDoc::read(Bytes::from_static(
            br#"{"zarr_format":3,"node_type":"group","attributes":{"title":"t"}}"#,
        ))
        .expect("read");
        assert!(read.list.is_none());
        let out = read.appended(&ids, &["x".into()]).expect("append");
        let value: Value = serde_json::from_slice(out.bytes()).expect("json");
        assert_eq!(
            value["attributes"],
            json!({"title": "t", "loaded_patches": ["x"]})
        );
        assert!(out.list.is_some());
    }
}
