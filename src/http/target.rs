//! Where a request goes: the request target's four forms (RFC 9112 §3.2) and the `Host`
//! header that must come with it (RFC 9112 §3.2.2, RFC 9110 §7.2).

use crate::http::error::RequestError;
use crate::http::method::Method;
use crate::http::query;
use crate::http::request::{Request, Version};

/// Fills `path` and `query` from the target's four forms (RFC 9112 §3.2): origin-form
/// `/p?q`, absolute-form `http://host/p?q` (sent to proxies; servers must accept it),
/// authority-form `host:port` (CONNECT only) and asterisk-form `*` (OPTIONS only).
pub(super) fn split_target(request: &mut Request) -> Result<(), RequestError> {
    let target = request.target.as_str();
    let path_and_query = if target.starts_with('/') {
        target
    } else if target == "*" && request.method == Method::Options {
        request.path = "*".to_string();
        return Ok(());
    } else if request.method == Method::Connect {
        return Ok(()); // authority-form: the router refuses CONNECT anyway
    } else if let Some(rest) = strip_prefix_ignore_case(target, "http://")
        .or_else(|| strip_prefix_ignore_case(target, "https://"))
    {
        match rest.find('/') {
            Some(slash) => &rest[slash..],
            None => "/",
        }
    } else {
        return Err(RequestError::InvalidTarget);
    };
    // A fragment (`#...`) belongs to the browser and is never part of a request target.
    if path_and_query.contains('#') {
        return Err(RequestError::InvalidTarget);
    }
    let (raw_path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    request.path = query::decode_path(raw_path).ok_or(RequestError::InvalidTarget)?;
    request.query = query.to_string();
    Ok(())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
/// HTTP/1.1 request message that lacks a Host header field and to any request message that
/// contains more than one Host header field line or a Host header field with an invalid
/// field value."
pub(super) fn check_host(request: &Request) -> Result<(), RequestError> {
    let mut hosts = request.header_values("host");
    match (hosts.next(), hosts.next()) {
        (None, _) if request.version == Version::Http11 => Err(RequestError::MissingHost),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(RequestError::MultipleHosts),
        (Some(host), None) if is_valid_host(host) => Ok(()),
        (Some(_), None) => Err(RequestError::InvalidHost),
    }
}

/// `Host = uri-host [ ":" port ]`: a name, an IPv4 address or a bracketed IPv6 literal, in the
/// characters RFC 3986 allows there, and an optional decimal port.
fn is_valid_host(host: &str) -> bool {
    let (name, port) = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => (&host[..colon], Some(&host[colon + 1..])),
        _ => (host, None),
    };
    let name_ok = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b))
    };
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    name_ok && port_ok
}
