//! Small text encodings shared by the layers: hex, and Go's URL query codec.

use percent_encoding::{
    percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC,
};

/// Go's `url.QueryEscape`: everything but `A-Z a-z 0-9 - _ . ~` is escaped.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Bytes escaped in the URL path (as a URL path segment needs); `/` and `:`
/// stay, since they are part of FILE:OFFSET:SIZE.
const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Lowercase hex of `bytes` (ids, checksums, signatures).
pub fn hex(bytes: &[u8]) -> String {
    // A table, not `write!("{:02x}")`: ids are hexed on every read, and the
    // formatter was 5 % of a small GET's CPU time.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Go's `url.QueryEscape` of a string: space as `+`.
pub fn query_escape(s: &str) -> String {
    utf8_percent_encode(s, QUERY_ESCAPE)
        .to_string()
        .replace("%20", "+")
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; `None` when an
/// escape is malformed or the result is not UTF-8.
pub fn query_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%'
            && !(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
        {
            return None;
        }
    }
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Parses a raw query string as Go's `url.ParseQuery` does, keeping order;
/// pairs that do not decode are skipped, as Go drops them.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((query_unescape(k)?, query_unescape(v)?))
        })
        .collect()
}

/// Escapes a redirect URL's path `/FILE:OFFSET:SIZE` (see [`PATH_ESCAPE`]).
pub fn redirect_path_escape(s: &str) -> String {
    utf8_percent_encode(s, PATH_ESCAPE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_query_escaping() {
        assert_eq!(query_escape("a b/c~*"), "a+b%2Fc~%2A");
        assert_eq!(query_unescape("a+b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(query_unescape("%zz"), None);
        assert_eq!(query_unescape("abc%"), None);
        assert_eq!(query_unescape("abc%4"), None);
        assert_eq!(query_unescape("%D1%82").as_deref(), Some("т"));
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(hex(&[]), "");
    }
}
