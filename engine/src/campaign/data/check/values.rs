//! The value checks every list entry goes through: each takes the text as written and returns
//! it normalised (case, form) or says why it cannot match a request, with a table test each.

use super::super::{HOST_BYTES_MAX, URL_BYTES_MAX, VALUE_BYTES_MAX};

/// A value matched against request text: present, bounded, no control characters and no
/// surrounding spaces (which would never match).
pub(super) fn plain_value(value: &str) -> Result<&str, String> {
    if value.is_empty() {
        Err("must not be empty".to_owned())
    } else if value.len() > VALUE_BYTES_MAX {
        Err(format!(
            "is {} bytes long; at most {VALUE_BYTES_MAX}",
            value.len()
        ))
    } else if value.chars().any(char::is_control) || value.trim() != value {
        Err(format!(
            "{value:?} must not have control characters or surrounding spaces"
        ))
    } else {
        Ok(value)
    }
}

/// A host name as exchanges send `site.domain` and `badv`: kept exactly (a leading "www." is a
/// different host), lower-cased.
pub(super) fn host(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > HOST_BYTES_MAX {
        return Err(format!(
            "is {} bytes long; at most {HOST_BYTES_MAX}",
            value.len()
        ));
    }
    if value.contains('/') || value.contains(char::is_whitespace) {
        return Err(format!(
            "{value:?} must be a host name such as example.com: no scheme, path or spaces"
        ));
    }
    if value.starts_with("*.") {
        return Err(format!(
            "{value:?} needs no wildcard: a domain already matches its subdomains"
        ));
    }
    if !value.is_ascii() {
        return Err(format!(
            "{value:?} must be ASCII: write an internationalised name in its xn-- form"
        ));
    }
    let lower = value.to_ascii_lowercase();
    if !lower
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(format!(
            "{value:?} is not a host name (letters, digits, '-' and '.'; no port)"
        ));
    }
    if lower.starts_with('.') || lower.ends_with('.') || lower.contains("..") {
        return Err(format!("{value:?} has an empty label"));
    }
    Ok(lower)
}

pub(super) fn bundle(value: &str) -> Result<String, String> {
    let value = plain_value(value)?;
    if value.contains(char::is_whitespace) {
        return Err(format!(
            "{value:?} must not contain spaces (an app bundle or store id)"
        ));
    }
    Ok(value.to_lowercase())
}

pub(super) fn os_name(value: &str) -> Result<String, String> {
    plain_value(value).map(str::to_lowercase)
}

pub(super) fn segment(value: &str) -> Result<String, String> {
    plain_value(value).map(str::to_lowercase)
}

/// Letters, digits and '-' only: region codes ("CA", "US-CA") and IAB categories ("IAB3-1").
pub(super) fn code(value: &str, what: &str) -> Result<String, String> {
    let value = plain_value(value)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!(
            "{value:?} must be {what}: letters, digits and '-' only"
        ));
    }
    Ok(value.to_ascii_uppercase())
}

pub(super) fn region(value: &str) -> Result<String, String> {
    code(value, "a region code such as CA (ISO-3166-2 subdivision)")
}

pub(super) fn category(value: &str) -> Result<String, String> {
    code(value, "an IAB category such as IAB3 or IAB3-1")
}

pub(super) fn mime(value: &str) -> Result<String, String> {
    let value = plain_value(value)?;
    let valid = match value.split_once('/') {
        Some((kind, subtype)) => {
            !kind.is_empty()
                && !subtype.is_empty()
                && !subtype.contains('/')
                && !value.contains(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!("{value:?} must be a MIME type such as video/mp4"))
    }
}

/// An absolute http(s) URL with a host: the click redirect goes there.
pub(super) fn landing_page(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > URL_BYTES_MAX {
        return Err(format!(
            "is {} bytes long; at most {URL_BYTES_MAX}",
            value.len()
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{value:?} must not contain spaces (percent-encode them as %20)"
        ));
    }
    let lower_prefix = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let rest = if lower_prefix.starts_with("https://") {
        value.get(8..)
    } else if lower_prefix.starts_with("http://") {
        value.get(7..)
    } else {
        None
    };
    let Some(rest) = rest else {
        return Err(format!("{value:?} must be an http:// or https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("{value:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host("News.Example.COM"), Ok("news.example.com".to_owned()));
        assert_eq!(host("www.foobar.com"), Ok("www.foobar.com".to_owned()));
        for bad in [
            "",
            "http://example.com",
            "example.com/path",
            "exa mple.com",
            "*.example.com",
            "example.com:8080",
            ".example.com",
            "example..com",
            "bücher.de",
        ] {
            assert!(host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn landing_pages() {
        for good in [
            "https://example.com",
            "HTTP://example.com/a?b=c#d",
            "https://user@example.com:8443/x",
        ] {
            assert_eq!(landing_page(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "javascript:alert(1)",
        ] {
            assert!(landing_page(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(mime("Video/MP4"), Ok("video/mp4".to_owned()));
        assert!(mime("video").is_err());
        assert!(mime("video/mp4/x").is_err());
        assert_eq!(category("iab3-1"), Ok("IAB3-1".to_owned()));
        assert!(category("IAB 3").is_err());
        assert_eq!(os_name("OS X"), Ok("os x".to_owned()));
        assert!(os_name(" ios").is_err());
        assert_eq!(bundle("Com.Example.App"), Ok("com.example.app".to_owned()));
        assert!(bundle("com example").is_err());
        assert_eq!(region("ca"), Ok("CA".to_owned()));
    }
}
