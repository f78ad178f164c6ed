//! The XML documents S3 replies with, written by hand: they are few and
//! flat, and escaping is the only subtle part.

use std::fmt::Write as _;
use std::time::SystemTime;

/// The S3 XML namespace.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// The XML declaration every document starts with.
pub const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Whether XML 1.0 can carry `c` at all, even as a character reference:
/// not the C0 controls but TAB, LF and CR, and not U+FFFE or U+FFFF
/// (Rust strings hold no surrogates).
pub fn is_xml_char(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Escapes text for XML content and attribute values. CR is written
/// `&#13;`, since a parser turns a literal CR (and CR LF) into LF; what
/// XML 1.0 cannot carry ([`is_xml_char`]) becomes U+FFFD, so every
/// document parses (listings carry such keys exactly with `encoding-type=url`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => out.push_str("&#xFFFD;"),
            c => out.push(c),
        }
    }
    out
}

/// ISO 8601 with milliseconds, as S3 writes times: `2026-12-01T11:54:49.123Z`.
/// The milliseconds are kept (floored), not zeroed: `aws s3 sync` uploads a
/// file again when its mtime is newer than the listed LastModified, so a
/// time cut to the second re-sent files changed in the second of their upload.
pub fn iso8601(t: SystemTime) -> String {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// A proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// An error document.
pub fn error(code: &str, message: &str, resource: &str, request_id: &str) -> String {
    error_with(code, message, resource, request_id, &[])
}

/// [`error`] with more elements after `<RequestId>`.
pub fn error_with(
    code: &str,
    message: &str,
    resource: &str,
    request_id: &str,
    details: &[(&str, String)],
) -> String {
    let mut out = format!(
        "{DECL}<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId>",
        escape(code),
        escape(message),
        escape(resource),
        escape(request_id)
    );
    for (name, value) in details {
        let _ = write!(out, "<{name}>{}</{name}>", escape(value));
    }
    out.push_str("</Error>");
    out
}

/// `ListAllMyBucketsResult`: `(name, creation time)` per bucket.
pub fn list_buckets(owner: &str, buckets: &[(String, SystemTime)]) -> String {
    let mut out = format!(
        "{DECL}<ListAllMyBucketsResult xmlns=\"{NS}\"><Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner><Buckets>",
        escape(owner)
    );
    for (name, created) in buckets {
        let _ = write!(
            out,
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
            escape(name),
            iso8601(*created)
        );
    }
    out.push_str("</Buckets></ListAllMyBucketsResult>");
    out
}

/// `LocationConstraint`: empty for us-east-1, as S3 answers.
pub fn location(region: &str) -> String {
    let region = if region == "us-east-1" { "" } else { region };
    format!(
        "{DECL}<LocationConstraint xmlns=\"{NS}\">{}</LocationConstraint>",
        escape(region)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y"), "x&#xFFFD;y");
        assert_eq!(
            escape("a\u{fffe}b\u{ffff}c\u{fffd}"),
            "a&#xFFFD;b&#xFFFD;c\u{fffd}"
        );
        assert_eq!(escape("cr\r\nlf\ttab"), "cr&#13;\nlf\ttab");
        assert!(!is_xml_char('\u{0}') && !is_xml_char('\u{1f}') && !is_xml_char('\u{ffff}'));
        assert!(is_xml_char('\t') && is_xml_char('\r') && is_xml_char('\u{10ffff}'));
        assert_eq!(escape("тест\n"), "тест\n");
    }

    #[test]
    fn times() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_nanos(1_440_938_160_123_999_999)),
            "2015-08-30T12:36:00.123Z"
        );
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1440938160)),
            "2015-08-30T12:36:00.000Z"
        );
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951868799)),
            "2000-02-29T23:59:59.000Z"
        );
    }

    #[test]
    fn documents() {
        let e = error("NoSuchKey", "no <k>", "/b/k", "R1");
        assert!(e.ends_with("<Error><Code>NoSuchKey</Code><Message>no &lt;k&gt;</Message><Resource>/b/k</Resource><RequestId>R1</RequestId></Error>"), "{e}");
        let l = list_buckets("u&1", &[("b1".into(), UNIX_EPOCH)]);
        assert!(
            l.contains("<ID>u&amp;1</ID>")
                && l.contains(
                    "<Name>b1</Name><CreationDate>1970-01-01T00:00:00.000Z</CreationDate>"
                ),
            "{l}"
        );
        assert!(location("us-east-1").contains("></LocationConstraint>"));
        assert!(location("eu-1").contains(">eu-1</LocationConstraint>"));
    }
}
