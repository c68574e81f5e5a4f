//! Static files with single byte-range requests.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::http::{Body, Request, Response};

/// A byte range resolved against a file size.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No (usable) Range header: the whole file.
    Full,
    /// Inclusive byte range.
    Partial(u64, u64),
    /// Well-formed but outside the file (or backwards): 416.
    Unsatisfiable,
    /// Not a byte range at all: 400.
    Malformed,
}

/// Interprets a `Range` header for a file of `size` bytes. Several ranges
/// (`bytes=0-1,5-6`) are answered with the whole file, which RFC 9110 allows.
pub(crate) fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(h) = header else {
        return RangeRequest::Full;
    };
    let h = h.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .and_then(|_| h.get(6..))
    else {
        return RangeRequest::Malformed;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Malformed;
    };
    let num = |s: &str| {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse::<u64>().ok()
        }
    };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeRequest::Malformed,
        // Suffix: the last n bytes.
        (true, false) => match num(b) {
            None => RangeRequest::Malformed,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial(size.saturating_sub(n), size - 1),
        },
        (false, open_end) => {
            let Some(first) = num(a) else {
                return RangeRequest::Malformed;
            };
            let last = if open_end {
                Some(u64::MAX)
            } else {
                match num(b) {
                    None => return RangeRequest::Malformed,
                    last => last,
                }
            };
            match last {
                Some(last) if first <= last && first < size => {
                    RangeRequest::Partial(first, last.min(size - 1))
                }
                _ => RangeRequest::Unsatisfiable,
            }
        }
    }
}

/// Maps a request path onto a file under `root`; `Err` with a status for
/// paths that try to escape it.
pub(crate) fn resolve_path(root: &Path, path: &str) -> Result<PathBuf, u16> {
    let mut out = root.to_path_buf();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return Err(400);
        }
        out.push(seg);
    }
    Ok(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("tif" | "tiff") => crate::stac::COG_MEDIA_TYPE,
        Some("json") => "application/json",
        Some("parquet") => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

/// Serves a file for GET or HEAD.
pub(crate) fn serve_file(root: &Path, req: &Request) -> Response {
    let path = match resolve_path(root, &req.path) {
        Ok(p) => p,
        Err(status) => return Response::error(status, "path escapes the fixture directory"),
    };
    let (Ok(file), Ok(meta)) = (File::open(&path), std::fs::metadata(&path)) else {
        return Response::error(404, &format!("no such file: {}", req.path));
    };
    if !meta.is_file() {
        return Response::error(404, &format!("not a file: {}", req.path));
    }
    let size = meta.len();
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| chrono::DateTime::from_timestamp(i64::try_from(d.as_secs()).ok()?, 0))
        .unwrap_or_default();
    let etag = format!(
        "\"{:x}-{size:x}\"",
        crate::terrain::splitmix64(modified.timestamp().cast_unsigned() ^ size)
    );
    let with_meta = |r: Response| {
        r.header("Accept-Ranges", "bytes")
            .header("ETag", etag.clone())
            .header(
                "Last-Modified",
                modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            )
    };
    match parse_range(req.header("range"), size) {
        RangeRequest::Full => with_meta(Response {
            status: 200,
            headers: vec![("Content-Type".into(), content_type(&path).into())],
            body: Body::File {
                file,
                start: 0,
                len: size,
            },
        }),
        RangeRequest::Partial(a, b) => with_meta(Response {
            status: 206,
            headers: vec![
                ("Content-Type".into(), content_type(&path).into()),
                ("Content-Range".into(), format!("bytes {a}-{b}/{size}")),
            ],
            body: Body::File {
                file,
                start: a,
                len: b - a + 1,
            },
        }),
        RangeRequest::Unsatisfiable => with_meta(
            Response::error(416, "range not satisfiable")
                .header("Content-Range", format!("bytes */{size}")),
        ),
        RangeRequest::Malformed => Response::error(400, "malformed Range header"),
    }
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::*;
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Partial(0, 3));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Partial(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Partial(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Partial(0, 9));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Partial(8, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-4"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Malformed);
        assert_eq!(parse_range(Some("items=0-1"), 10), Malformed);
        assert_eq!(parse_range(Some("bytes=-"), 10), Malformed);
        assert_eq!(
            parse_range(Some("bytes=99999999999999999999-"), 10),
            Malformed
        );
        assert_eq!(parse_range(Some("é"), 10), Malformed);
    }

    #[test]
    fn paths_stay_inside() {
        let root = Path::new("/r");
        assert_eq!(
            resolve_path(root, "/a/b.tif"),
            Ok(PathBuf::from("/r/a/b.tif"))
        );
        assert_eq!(resolve_path(root, "/a/../../etc/passwd"), Err(400));
    }
}
