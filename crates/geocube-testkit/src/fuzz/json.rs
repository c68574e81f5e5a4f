//! Structure-aware JSON mutations: replace a node by one of another type
//! (type confusion), remove or duplicate members and elements, blow an
//! array up to thousands of elements, nest a node deeply, and edit the
//! text afterwards with tokens JSON does not have (`NaN`, `Infinity`,
//! `1e999`) or plain byte mutations.

use proptest::prelude::*;
use serde_json::{Number, Value, json};

use super::bytes::{At, ByteMutation, at, byte_mutation};

/// Replacement values: every JSON type, numbers at the edges of what
/// parsers convert (`-0`, `1e308`, subnormals, `u64::MAX`, `i64::MIN`),
/// strings that look like numbers, times and paths.
pub fn replacement() -> BoxedStrategy<Value> {
    let numbers = vec![
        json!(0),
        json!(-1),
        json!(1),
        json!(0.5),
        json!(-0.0),
        json!(1e308),
        json!(-1e308),
        json!(5e-324),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(65536),
        json!(4_294_967_296u64),
        json!(180.000_000_1),
        json!(-90.5),
    ];
    let strings = vec![
        json!(""),
        json!("NaN"),
        json!("nan"),
        json!("Infinity"),
        json!("-inf"),
        json!("1e999"),
        json!("0x10"),
        json!("2020-13-45T99:99:99Z"),
        json!("2020-01-01T00:00:00Z"),
        json!("+262143-12-31T23:59:59Z"),
        json!("../../x.tif"),
        json!("file:///nonexistent/x.tif"),
        json!("http://127.0.0.1:9/x.tif"),
        json!("\u{0}\u{ffff}é"),
        Value::String("x".repeat(100_000)),
    ];
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => proptest::sample::select(numbers),
        1 => any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        1 => any::<i64>().prop_map(|i| json!(i)),
        3 => proptest::sample::select(strings),
        1 => Just(json!([])),
        1 => Just(json!({})),
        1 => Just(json!([0, 0])),
        1 => Just(json!([[0, 0]])),
        1 => Just(json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})),
    ]
    .boxed()
}

/// One edit of a JSON value. Nodes are numbered in depth-first order and
/// picked by an [`At`] over that numbering.
#[derive(Clone, Debug)]
pub enum JsonMutation {
    /// Replace a node.
    Replace {
        /// Which node.
        node: At,
        /// With what.
        with: Value,
    },
    /// Remove a node from its object or array (a missing field).
    Remove {
        /// Which node.
        node: At,
    },
    /// Repeat an array element or object member's value under a new key.
    Duplicate {
        /// Which node.
        node: At,
    },
    /// Make an array huge by repeating its elements up to `len` elements
    /// (or about 1 MiB of text, whichever is fewer).
    Grow {
        /// Which node (the nearest array at or above it).
        node: At,
        /// Elements wanted.
        len: usize,
    },
    /// Wrap a node in `depth` arrays.
    Nest {
        /// Which node.
        node: At,
        /// Levels.
        depth: usize,
    },
}

/// A strategy of one [`JsonMutation`].
pub fn json_mutation() -> BoxedStrategy<JsonMutation> {
    prop_oneof![
        5 => (at(), replacement()).prop_map(|(node, with)| JsonMutation::Replace { node, with }),
        3 => at().prop_map(|node| JsonMutation::Remove { node }),
        1 => at().prop_map(|node| JsonMutation::Duplicate { node }),
        1 => (at(), prop_oneof![Just(1000usize), Just(20_000), 2usize..100])
            .prop_map(|(node, len)| JsonMutation::Grow { node, len }),
        1 => (at(), prop_oneof![Just(200usize), 1usize..20])
            .prop_map(|(node, depth)| JsonMutation::Nest { node, depth }),
    ]
    .boxed()
}

/// A text edit after serialisation: a token JSON does not allow, or bytes.
#[derive(Clone, Debug)]
pub enum TextMutation {
    /// Replace the number starting at or after a position with a token.
    Token {
        /// Where to look for a number.
        at: At,
        /// The token (`NaN`, `Infinity`, `-Infinity`, `1e999`, `-0`, `00`).
        token: &'static str,
    },
    /// A byte mutation of the text.
    Bytes(ByteMutation),
}

/// A strategy of one [`TextMutation`].
pub fn text_mutation() -> BoxedStrategy<TextMutation> {
    prop_oneof![
        1 => (at(), proptest::sample::select(vec!["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0", "00", "1.", "+1"]))
            .prop_map(|(at, token)| TextMutation::Token { at, token }),
        1 => byte_mutation().prop_map(TextMutation::Bytes),
    ]
    .boxed()
}

/// A document mutated: structure first, then text.
#[derive(Clone, Debug)]
pub struct JsonEdits {
    /// Structural edits, in order.
    pub structure: Vec<JsonMutation>,
    /// Text edits after serialisation, in order.
    pub text: Vec<TextMutation>,
}

/// Up to `max` structural and up to `max / 2` text edits (often none, so
/// most documents still parse and reach the code behind the parser).
pub fn json_edits(max: usize) -> BoxedStrategy<JsonEdits> {
    let max = max.max(1);
    (
        proptest::collection::vec(json_mutation(), 0..=max),
        prop_oneof![
            3 => Just(Vec::new()),
            1 => proptest::collection::vec(text_mutation(), 1..=(max / 2).max(1)),
        ],
    )
        .prop_map(|(structure, text)| JsonEdits { structure, text })
        .boxed()
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// The path (indices into arrays and objects) of node `n` in depth-first
/// order; `None` past the last node.
fn path_of(v: &Value, mut n: usize) -> Option<Vec<usize>> {
    let mut path = Vec::new();
    let mut cur = v;
    loop {
        if n == 0 {
            return Some(path);
        }
        n -= 1;
        let children: Vec<&Value> = match cur {
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) => o.values().collect(),
            _ => return None,
        };
        let mut next = None;
        for (i, c) in children.into_iter().enumerate() {
            let k = count(c);
            if n < k {
                next = Some((i, c));
                break;
            }
            n -= k;
        }
        let (i, c) = next?;
        path.push(i);
        cur = c;
    }
}

fn node_mut<'a>(v: &'a mut Value, path: &[usize]) -> Option<&'a mut Value> {
    let mut cur = v;
    for &i in path {
        cur = match cur {
            Value::Array(a) => a.get_mut(i)?,
            Value::Object(o) => o.values_mut().nth(i)?,
            _ => return None,
        };
    }
    Some(cur)
}

impl JsonMutation {
    /// Apply to `doc` in place.
    pub fn apply(&self, doc: &mut Value) {
        let pick = |node: &At, doc: &Value| path_of(doc, node.of(count(doc)));
        match self {
            JsonMutation::Replace { node, with } => {
                if let Some(p) = pick(node, doc)
                    && let Some(n) = node_mut(doc, &p)
                {
                    *n = with.clone();
                }
            }
            JsonMutation::Remove { node } => {
                let Some(mut p) = pick(node, doc) else { return };
                let Some(last) = p.pop() else { return };
                match node_mut(doc, &p) {
                    Some(Value::Array(a)) if last < a.len() => {
                        a.remove(last);
                    }
                    Some(Value::Object(o)) => {
                        if let Some(k) = o.keys().nth(last).cloned() {
                            o.remove(&k);
                        }
                    }
                    _ => {}
                }
            }
            JsonMutation::Duplicate { node } => {
                let Some(mut p) = pick(node, doc) else { return };
                let Some(last) = p.pop() else { return };
                match node_mut(doc, &p) {
                    Some(Value::Array(a)) if last < a.len() => {
                        let c = a[last].clone();
                        a.insert(last, c);
                    }
                    Some(Value::Object(o)) => {
                        if let Some((k, v)) =
                            o.iter().nth(last).map(|(k, v)| (k.clone(), v.clone()))
                        {
                            o.insert(format!("{k}_"), v);
                        }
                    }
                    _ => {}
                }
            }
            JsonMutation::Grow { node, len } => {
                let Some(mut p) = pick(node, doc) else { return };
                loop {
                    if let Some(Value::Array(a)) = node_mut(doc, &p) {
                        let a: &mut Vec<Value> = a;
                        if a.is_empty() {
                            a.push(json!(0));
                        }
                        let n = a.len();
                        // Huge, but not past 1 MiB of text added: the
                        // parsers' allocations are bounded against inputs
                        // of about a megabyte.
                        let mut added = 0usize;
                        for i in n..*len {
                            let c = a[i % n].clone();
                            added += serde_json::to_vec(&c).map_or(1, |t| t.len() + 1);
                            if added > 1 << 20 {
                                break;
                            }
                            a.push(c);
                        }
                        return;
                    }
                    if p.pop().is_none() {
                        return;
                    }
                }
            }
            JsonMutation::Nest { node, depth } => {
                if let Some(p) = pick(node, doc)
                    && let Some(n) = node_mut(doc, &p)
                {
                    let mut v = n.take();
                    for _ in 0..*depth {
                        v = Value::Array(vec![v]);
                    }
                    *n = v;
                }
            }
        }
    }
}

fn apply_token(text: &mut Vec<u8>, at: At, token: &str) {
    let start = at.of(text.len());
    let Some(off) = text[start..]
        .iter()
        .position(|b| b.is_ascii_digit() || *b == b'-')
    else {
        return;
    };
    let s = start + off;
    let e = s + text[s..]
        .iter()
        .position(|b| !(b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')))
        .unwrap_or(text.len() - s);
    text.splice(s..e, token.bytes());
}

impl JsonEdits {
    /// `seed` mutated: the structural edits, then the text (compact JSON)
    /// with the text edits. Bytes, as a server would send them: they may
    /// no longer be JSON, nor UTF-8.
    #[must_use]
    pub fn apply(&self, seed: &Value) -> Vec<u8> {
        let mut doc = seed.clone();
        for m in &self.structure {
            m.apply(&mut doc);
        }
        // Deep nesting is built here, not parsed: serde_json serialises it
        // without recursion limits of its own, and the parse on the other
        // side is what must refuse it. Dropping it recursively is fine at
        // the depths generated (≤ 200 per edit).
        let mut text = serde_json::to_vec(&doc).unwrap_or_default();
        for t in &self.text {
            match t {
                TextMutation::Token { at, token } => apply_token(&mut text, *at, token),
                TextMutation::Bytes(b) => b.apply(&mut text),
            }
        }
        text
    }
}

/// Every string in `v`, depth first (for checks on what a mutated document
/// could make a client fetch).
#[must_use]
pub fn strings(v: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => out.push(s.as_str()),
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(o) => {
                stack.extend(o.values());
                out.extend(o.keys().map(String::as_str));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_numbered_depth_first() {
        let v = json!({"a": [1, {"b": 2}], "c": 3});
        assert_eq!(count(&v), 6);
        assert_eq!(path_of(&v, 0), Some(vec![]));
        assert_eq!(path_of(&v, 1), Some(vec![0]));
        assert_eq!(path_of(&v, 3), Some(vec![0, 1]));
        assert_eq!(path_of(&v, 4), Some(vec![0, 1, 0]));
        assert_eq!(path_of(&v, 5), Some(vec![1]));
        assert_eq!(path_of(&v, 6), None);
    }

    #[test]
    fn edits_change_what_they_aim_at() {
        let seed = json!({"a": [1, 2], "b": "x"});
        let e = JsonEdits {
            structure: vec![JsonMutation::Grow {
                node: At(u32::MAX / 3),
                len: 5000,
            }],
            text: vec![],
        };
        let v: Value = serde_json::from_slice(&e.apply(&seed)).unwrap();
        assert_eq!(v["a"].as_array().unwrap().len(), 5000);
        let e = JsonEdits {
            structure: vec![JsonMutation::Remove { node: At(u32::MAX) }],
            text: vec![TextMutation::Token {
                at: At(0),
                token: "NaN",
            }],
        };
        assert_eq!(e.apply(&seed), br#"{"a":[NaN,2]}"#);
        let e = JsonEdits {
            structure: vec![JsonMutation::Nest {
                node: At(0),
                depth: 200,
            }],
            text: vec![],
        };
        assert!(serde_json::from_slice::<Value>(&e.apply(&seed)).is_err());
    }
}
