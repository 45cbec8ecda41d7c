//! The request method (RFC 9110 §9), as a type rather than a string.
//!
//! A method is a case-sensitive token: `GET` is a method, `get` is another one that this
//! server does not know (it answers 501). The nine of RFC 9110 and RFC 5789's `PATCH` are named;
//! any other token is kept as sent in `Other`, so the log and the 501 can still show it.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Trace,
    Connect,
    /// A valid token that names no method this server knows: 501 Not Implemented.
    Other(String),
}

impl Method {
    /// The method for a token, exactly as sent (no case folding: RFC 9110 §9.1).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_case_sensitive_and_kept() {
        assert_eq!(Method::from_token("GET"), Method::Get);
        assert_eq!(Method::from_token("get"), Method::Other("get".to_string()));
        assert_eq!(Method::from_token("BREW").as_str(), "BREW");
        for method in [Method::Patch, Method::Connect, Method::Options] {
            assert_eq!(Method::from_token(method.as_str()), method);
        }
    }
}
