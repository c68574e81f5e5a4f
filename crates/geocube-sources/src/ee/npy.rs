//! The NPY files `computePixels` answers with: a structured array of shape
//! `(height, width)`, one field per band.
//!
//! The format is NumPy's ("A Simple File Format for NumPy Arrays", NEP 1,
//! versions 1.0–3.0): the magic `\x93NUMPY`, a version, a little-endian
//! header length (u16 in 1.0, u32 after), then a Python dict literal
//! `{'descr': …, 'fortran_order': …, 'shape': (…), }` padded with spaces to
//! a multiple of 64 bytes and ended by `\n`, then the data, C order unless
//! `fortran_order`.
//!
//! Parsed here rather than with `npyz`: its header parser pulls in
//! `py_literal` and `pest` (a parser generator and its proc macros) for a
//! grammar of which an Earth Engine reply uses a sliver, and its typed
//! readers need the record layout at compile time, while a reply's bands
//! are known only at run time. The header is parsed strictly: anything but
//! plain (name, type) fields of bool, integer or float types is refused
//! with the reason, never guessed at.

use geocube_core::DType;
use geocube_core::dataset::TypedArray;
use ndarray::{ArrayD, IxDyn};

/// Why an NPY reply cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NpyError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, NpyError> {
    Err(NpyError(msg.into()))
}

/// Element kinds NPY fields may hold that geocube reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyKind {
    /// `b1`.
    Bool,
    /// `u1`, `u2`, `u4`, `u8`.
    Unsigned,
    /// `i1`, `i2`, `i4`, `i8`.
    Signed,
    /// `f4`, `f8`.
    Float,
}

/// One field of the record: a band.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyField {
    /// Field name: the band id.
    pub name: String,
    /// Element kind.
    pub kind: NpyKind,
    /// Bytes per element.
    pub size: usize,
    /// Big-endian (`>`) rather than little-endian or byte-sized.
    pub big_endian: bool,
    /// Offset of the field in the record.
    pub offset: usize,
}

/// A parsed structured NPY array.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyRecords {
    /// Array shape (C order), `(height, width)` for a `computePixels` reply.
    pub shape: Vec<usize>,
    /// Fields in record order.
    pub fields: Vec<NpyField>,
    /// Bytes per record.
    pub record_size: usize,
    data: Vec<u8>,
    data_start: usize,
}

const MAGIC: &[u8] = b"\x93NUMPY";

impl NpyRecords {
    /// Parse `bytes`, a whole NPY file. The data must be exactly as long as
    /// the header says: a truncated reply is an error, not a short array.
    ///
    /// # Errors
    /// [`NpyError`] saying what is wrong.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, NpyError> {
        if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
            return err("not an NPY file (no \\x93NUMPY magic)");
        }
        let major = bytes[6];
        let (header_len, header_start): (usize, usize) = match major {
            1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
            2 | 3 => {
                let Some(len) = bytes.get(8..12) else {
                    return err("NPY header length cut short");
                };
                let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
                (usize::try_from(len).unwrap_or(usize::MAX), 12)
            }
            v => return err(format!("unsupported NPY version {v}.{}", bytes[7])),
        };
        let header_end = header_start
            .checked_add(header_len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| NpyError("NPY header cut short".into()))?;
        let header = std::str::from_utf8(&bytes[header_start..header_end])
            .map_err(|_| NpyError("NPY header is not text".into()))?;
        let dict = parse_literal(header)?;
        let Literal::Dict(entries) = dict else {
            return err("NPY header is not a dict");
        };
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .ok_or_else(|| NpyError(format!("NPY header lacks `{key}`")))
        };
        if entries.len() != 3 {
            return err("NPY header must hold exactly descr, fortran_order and shape");
        }
        if *get("fortran_order")? != Literal::Bool(false) {
            return err("Fortran-ordered NPY arrays are not supported");
        }
        let shape = match get("shape")? {
            Literal::Tuple(items) => items
                .iter()
                .map(|i| match i {
                    Literal::Int(n) => usize::try_from(*n)
                        .map_err(|_| NpyError(format!("negative NPY dimension {n}"))),
                    _ => err("NPY shape holds a non-integer"),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return err("NPY shape is not a tuple"),
        };
        let (fields, record_size) = parse_descr(get("descr")?)?;
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| NpyError("NPY shape overflows".into()))?;
        let want = count
            .checked_mul(record_size)
            .ok_or_else(|| NpyError("NPY size overflows".into()))?;
        let got = bytes.len() - header_end;
        if got != want {
            return err(format!(
                "NPY data is {got} bytes, the header announces {want} ({count} records of {record_size} bytes): {}",
                if got < want {
                    "truncated"
                } else {
                    "trailing bytes"
                }
            ));
        }
        Ok(Self {
            shape,
            fields,
            record_size,
            data: bytes,
            data_start: header_end,
        })
    }

    /// The field called `name`.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&NpyField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Number of records.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field `name` as an array of `dtype` with the array's shape.
    ///
    /// Floats convert to floats (f8 → f4 rounds as a cast does); integers
    /// and bools convert to any type that holds every value present; a
    /// float into an integer type is refused (Earth Engine would have
    /// resampled or masked it, which a cast would hide).
    ///
    /// # Errors
    /// [`NpyError`] for a missing field, a float into an integer type, or
    /// a value the target type cannot hold.
    pub fn to_typed(&self, name: &str, dtype: DType) -> Result<TypedArray, NpyError> {
        let f = self
            .field(name)
            .ok_or_else(|| NpyError(format!("the reply has no band `{name}`")))?;
        let n = self.len();
        let shape = IxDyn(&self.shape);
        let body = &self.data[self.data_start..];
        let elem = |i: usize| -> &[u8] {
            let at = i * self.record_size + f.offset;
            &body[at..at + f.size]
        };
        macro_rules! collect {
            ($t:ty, $conv:expr) => {{
                let mut out: Vec<$t> = Vec::with_capacity(n);
                for i in 0..n {
                    out.push($conv(read_value(f, elem(i)))?);
                }
                ArrayD::from_shape_vec(shape, out).map_err(|e| NpyError(e.to_string()))?
            }};
        }
        let float_into_int = |v: Value| -> Result<i128, NpyError> {
            match v {
                Value::Int(i) => Ok(i),
                Value::Float(_) => err(format!(
                    "band `{name}` holds floats, the cube wants integers"
                )),
            }
        };
        let int_as = |name: &str, target: &str, v: i128, min: i128, max: i128| {
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                err(format!(
                    "band `{name}` holds {v}, which {target} cannot hold"
                ))
            }
        };
        Ok(match dtype {
            DType::Float32 => TypedArray::Float32(collect!(f32, |v: Value| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                Ok::<f32, NpyError>(match v {
                    Value::Float(x) => x as f32,
                    Value::Int(i) => i as f32,
                })
            })),
            DType::Float64 => TypedArray::Float64(collect!(f64, |v: Value| {
                #[allow(clippy::cast_precision_loss)]
                Ok::<f64, NpyError>(match v {
                    Value::Float(x) => x,
                    Value::Int(i) => i as f64,
                })
            })),
            DType::Uint8 => TypedArray::Uint8(collect!(u8, |v| {
                let i = int_as(name, "uint8", float_into_int(v)?, 0, 255)?;
                Ok::<u8, NpyError>(u8::try_from(i).unwrap_or_default())
            })),
            DType::Uint16 => TypedArray::Uint16(collect!(u16, |v| {
                let i = int_as(name, "uint16", float_into_int(v)?, 0, 65_535)?;
                Ok::<u16, NpyError>(u16::try_from(i).unwrap_or_default())
            })),
            DType::Int16 => TypedArray::Int16(collect!(i16, |v| {
                let i = int_as(name, "int16", float_into_int(v)?, -32_768, 32_767)?;
                Ok::<i16, NpyError>(i16::try_from(i).unwrap_or_default())
            })),
            DType::Int32 => TypedArray::Int32(collect!(i32, |v| {
                let i = int_as(
                    name,
                    "int32",
                    float_into_int(v)?,
                    i128::from(i32::MIN),
                    i128::from(i32::MAX),
                )?;
                Ok::<i32, NpyError>(i32::try_from(i).unwrap_or_default())
            })),
            DType::Bool => TypedArray::Bool(collect!(bool, |v| {
                let i = int_as(name, "bool", float_into_int(v)?, 0, 1)?;
                Ok::<bool, NpyError>(i == 1)
            })),
        })
    }

    /// Field `name` as f32, for a band the caller post-processes in float
    /// (the TCTrend fill), without building a typed array first.
    ///
    /// # Errors
    /// As [`NpyRecords::to_typed`].
    pub fn to_f32(&self, name: &str) -> Result<ArrayD<f32>, NpyError> {
        match self.to_typed(name, DType::Float32)? {
            TypedArray::Float32(a) => Ok(a),
            _ => err("internal: float32 conversion gave another type"),
        }
    }
}

/// One element, widened.
#[derive(Clone, Copy, Debug)]
enum Value {
    Int(i128),
    Float(f64),
}

fn read_value(f: &NpyField, b: &[u8]) -> Value {
    let mut buf = [0u8; 8];
    buf[..f.size].copy_from_slice(b);
    if f.big_endian {
        buf[..f.size].reverse();
    }
    match (f.kind, f.size) {
        (NpyKind::Float, 4) => Value::Float(f64::from(f32::from_le_bytes([
            buf[0], buf[1], buf[2], buf[3],
        ]))),
        (NpyKind::Float, _) => Value::Float(f64::from_le_bytes(buf)),
        (NpyKind::Bool, _) => Value::Int(i128::from(buf[0] != 0)),
        (NpyKind::Unsigned, _) => Value::Int(i128::from(u64::from_le_bytes(buf))),
        (NpyKind::Signed, size) => {
            // Sign-extend from `size` bytes.
            let shift = 64 - 8 * size as u32;
            #[allow(clippy::cast_possible_wrap)]
            let v = (u64::from_le_bytes(buf) << shift) as i64 >> shift;
            Value::Int(i128::from(v))
        }
    }
}

fn parse_descr(descr: &Literal) -> Result<(Vec<NpyField>, usize), NpyError> {
    let Literal::List(items) = descr else {
        return err(
            "NPY descr is not a structured (record) type: a computePixels reply has one field per band",
        );
    };
    let mut fields = Vec::with_capacity(items.len());
    let mut offset = 0usize;
    for item in items {
        let Literal::Tuple(parts) = item else {
            return err("NPY descr field is not a tuple");
        };
        let [Literal::Str(name), Literal::Str(ty)] = parts.as_slice() else {
            return err(
                "NPY descr field is not a plain (name, type) pair (sub-arrays and titles are not supported)",
            );
        };
        if name.is_empty() {
            return err("NPY descr holds padding or an unnamed field");
        }
        let (kind, size, big_endian) = parse_type(ty)?;
        if fields.iter().any(|f: &NpyField| f.name == *name) {
            return err(format!("NPY descr names field `{name}` twice"));
        }
        fields.push(NpyField {
            name: name.clone(),
            kind,
            size,
            big_endian,
            offset,
        });
        offset += size;
    }
    if fields.is_empty() {
        return err("NPY descr has no fields");
    }
    Ok((fields, offset))
}

fn parse_type(ty: &str) -> Result<(NpyKind, usize, bool), NpyError> {
    let mut chars = ty.chars();
    let (order, rest) = match chars.next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, chars.as_str()),
        _ => ('|', ty),
    };
    let mut rc = rest.chars();
    let kind = match rc.next() {
        Some('b') => NpyKind::Bool,
        Some('u') => NpyKind::Unsigned,
        Some('i') => NpyKind::Signed,
        Some('f') => NpyKind::Float,
        _ => return err(format!("NPY type `{ty}` is not bool, integer or float")),
    };
    let size: usize = rc
        .as_str()
        .parse()
        .map_err(|_| NpyError(format!("NPY type `{ty}` has no size")))?;
    let ok = match kind {
        NpyKind::Bool => size == 1,
        NpyKind::Unsigned | NpyKind::Signed => matches!(size, 1 | 2 | 4 | 8),
        NpyKind::Float => matches!(size, 4 | 8),
    };
    if !ok {
        return err(format!("NPY type `{ty}` is not supported"));
    }
    let big_endian = size > 1
        && match order {
            '>' => true,
            '=' => cfg!(target_endian = "big"),
            _ => false,
        };
    Ok((kind, size, big_endian))
}

/// The Python literals an NPY header holds.
#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(String, Literal)>),
}

/// Parse the header: one literal, then only whitespace (the padding and
/// the final newline).
fn parse_literal(s: &str) -> Result<Literal, NpyError> {
    let mut p = Parser {
        s: s.as_bytes(),
        at: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.at != p.s.len() {
        return err(format!("NPY header has trailing text at byte {}", p.at));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Literal, NpyError> {
        self.depth += 1;
        if self.depth > 16 {
            return err("NPY header nests too deep");
        }
        let v = match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut entries = Vec::new();
                while !self.eat(b'}') {
                    let Literal::Str(k) = self.value()? else {
                        return err("NPY header dict key is not a string");
                    };
                    if !self.eat(b':') {
                        return err("NPY header dict lacks `:`");
                    }
                    let v = self.value()?;
                    if entries.iter().any(|(key, _)| *key == k) {
                        return err(format!("NPY header repeats `{k}`"));
                    }
                    entries.push((k, v));
                    if !self.eat(b',') && self.peek() != Some(b'}') {
                        return err("NPY header dict lacks `,`");
                    }
                }
                Literal::Dict(entries)
            }
            Some(open @ (b'(' | b'[')) => {
                self.at += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut trailing_comma = false;
                while !self.eat(close) {
                    items.push(self.value()?);
                    trailing_comma = self.eat(b',');
                    if !trailing_comma && self.peek() != Some(close) {
                        return err("NPY header sequence lacks `,`");
                    }
                }
                // `(5)` is an int in Python, `(5,)` a tuple.
                if open == b'(' && items.len() == 1 && !trailing_comma {
                    items.pop().unwrap_or(Literal::Tuple(Vec::new()))
                } else if open == b'(' {
                    Literal::Tuple(items)
                } else {
                    Literal::List(items)
                }
            }
            Some(q @ (b'\'' | b'"')) => {
                self.at += 1;
                let start = self.at;
                while self.at < self.s.len() && self.s[self.at] != q {
                    if self.s[self.at] == b'\\' {
                        return err("NPY header strings with escapes are not supported");
                    }
                    self.at += 1;
                }
                if self.at >= self.s.len() {
                    return err("NPY header string is not closed");
                }
                let text = std::str::from_utf8(&self.s[start..self.at])
                    .map_err(|_| NpyError("NPY header string is not UTF-8".into()))?;
                self.at += 1;
                Literal::Str(text.to_owned())
            }
            Some(b'T') if self.s[self.at..].starts_with(b"True") => {
                self.at += 4;
                Literal::Bool(true)
            }
            Some(b'F') if self.s[self.at..].starts_with(b"False") => {
                self.at += 5;
                Literal::Bool(false)
            }
            Some(c) if c.is_ascii_digit() || c == b'-' => {
                let start = self.at;
                self.at += 1;
                while self.at < self.s.len() && self.s[self.at].is_ascii_digit() {
                    self.at += 1;
                }
                // Python 2's long suffix, which old numpy headers carry.
                let text = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
                if self.s.get(self.at) == Some(&b'L') {
                    self.at += 1;
                }
                Literal::Int(
                    text.parse()
                        .map_err(|_| NpyError(format!("NPY header number `{text}`")))?,
                )
            }
            _ => return err(format!("NPY header: unexpected text at byte {}", self.at)),
        };
        self.depth -= 1;
        Ok(v)
    }
}

/// Write a structured NPY file (version 1.0; 2.0 when the header needs it)
/// as numpy's `np.save` does, for the unit tests (the emulator in the
/// testkit has its own writer; files numpy wrote are read in
/// `tests/earthengine.rs`). `fields` are `(name, numpy type string)`;
/// `data` the records, packed.
#[cfg(test)]
fn write_npy(fields: &[(&str, &str)], shape: &[usize], data: &[u8]) -> Vec<u8> {
    let descr: Vec<String> = fields
        .iter()
        .map(|(n, t)| format!("('{}', '{}')", n.replace(['\'', '\\'], "_"), t))
        .collect();
    let shape_text = match shape {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': [{}], 'fortran_order': False, 'shape': {}, }}",
        descr.join(", "),
        shape_text
    );
    let v1 = header.len() + 11 < 65_536;
    let prefix = if v1 { 10 } else { 12 };
    // Pad so that the data starts on a 64-byte boundary, newline last.
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - prefix - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + data.len());
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(
            &u16::try_from(header.len())
                .unwrap_or(u16::MAX)
                .to_le_bytes(),
        );
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(
            &u32::try_from(header.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
    }
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        // Two records of (a: <f4, b: |u1, c: >i2).
        let mut data = Vec::new();
        for (a, b, c) in [(1.5f32, 7u8, -2i16), (f32::NAN, 255, 300)] {
            data.extend_from_slice(&a.to_le_bytes());
            data.push(b);
            data.extend_from_slice(&c.to_be_bytes());
        }
        write_npy(&[("a", "<f4"), ("b", "|u1"), ("c", ">i2")], &[1, 2], &data)
    }

    #[test]
    fn reads_fields_in_any_byte_order() {
        let r = NpyRecords::parse(sample()).unwrap();
        assert_eq!(r.shape, [1, 2]);
        assert_eq!(r.record_size, 7);
        let a = r.to_f32("a").unwrap();
        assert_eq!(a[[0, 0]], 1.5);
        assert!(a[[0, 1]].is_nan());
        let b = r.to_typed("b", DType::Uint8).unwrap();
        assert_eq!(b.as_array::<u8>().unwrap().as_slice().unwrap(), [7, 255]);
        let c = r.to_typed("c", DType::Int16).unwrap();
        assert_eq!(c.as_array::<i16>().unwrap().as_slice().unwrap(), [-2, 300]);
        // 300 does not fit a byte; floats do not go into integers.
        assert!(
            r.to_typed("c", DType::Uint8)
                .unwrap_err()
                .0
                .contains("uint8 cannot hold")
        );
        assert!(r.to_typed("a", DType::Uint8).is_err());
        assert!(r.to_typed("zz", DType::Uint8).unwrap_err().0.contains("zz"));
    }

    #[test]
    fn refuses_truncated_and_malformed() {
        let mut s = sample();
        s.pop();
        assert!(NpyRecords::parse(s).unwrap_err().0.contains("truncated"));
        let mut s = sample();
        s.push(0);
        assert!(NpyRecords::parse(s).unwrap_err().0.contains("trailing"));
        assert!(NpyRecords::parse(b"hello world".to_vec()).is_err());
        for header in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
            "{'descr': [('a', '<f4')], 'fortran_order': True, 'shape': (1, 2), }",
            "{'descr': [('a', '<c8')], 'fortran_order': False, 'shape': (1, 2), }",
            "{'descr': [('a', '<f4', (2,))], 'fortran_order': False, 'shape': (1, 2), }",
            "{'descr': [('a', '<f4'), ('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 2), 'x': 1}",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 2) ",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        ] {
            let mut f = MAGIC.to_vec();
            f.extend_from_slice(&[1, 0]);
            f.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
            f.extend_from_slice(header.as_bytes());
            f.extend_from_slice(&[0; 8]);
            assert!(NpyRecords::parse(f).is_err(), "{header}");
        }
    }

    #[test]
    fn header_forms_numpy_writes() {
        // numpy >= 1.14 writes "{'descr': [...], 'fortran_order': False, 'shape': (2, 3), }";
        // older ones wrote longs (`2L`); a one-dimensional shape is `(6,)`.
        let lit = parse_literal("{'shape': (2L, 3), 'x': (5), 'y': (5,), 'z': []}\n").unwrap();
        let Literal::Dict(e) = lit else { panic!() };
        assert_eq!(
            e[0].1,
            Literal::Tuple(vec![Literal::Int(2), Literal::Int(3)])
        );
        assert_eq!(e[1].1, Literal::Int(5));
        assert_eq!(e[2].1, Literal::Tuple(vec![Literal::Int(5)]));
        assert_eq!(e[3].1, Literal::List(vec![]));
    }
}
