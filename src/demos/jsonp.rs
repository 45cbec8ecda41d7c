//! JSONP: data from another origin, delivered as a script that calls the page back.
//!
//! Before CORS, a page could not read a response from another origin with `XMLHttpRequest`.
//! But a `<script src>` may come from anywhere, and it runs with the page's powers. So the
//! page defines a function, `window.show = (data) => …`, adds a script whose URL names it
//! (`?cb=show`), and the server answers with a script that does nothing but call it, its data
//! written as a JavaScript object literal: JSON "with padding" around it.
//!
//! The server writes the page's own words into a script, so the callback name is the most
//! dangerous input here: `cb=alert(document.cookie)//` would run the attacker's code on every
//! page that includes the answer. Only a dotted JavaScript name is accepted; anything else is
//! 400, plain text, with no script at all.
//!
//! ```text
//! GET /jsonp?name=jimmy&age=18&cb=show HTTP/1.1\r\n
//! Host: 127.0.0.1:8088\r\n
//! \r\n
//!
//! HTTP/1.1 200 OK\r\n
//! Date: Mon, 23 Nov 2026 16:40:05 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! Content-Type: text/javascript; charset=utf-8\r\n
//! Cache-Control: no-store\r\n
//! Content-Length: 84\r\n
//! \r\n
//! /**/show({"time":1795452005123,"poll_ms":1000,"query":{"name":"jimmy","age":"18"}});
//! ```
//!
//! `?callback=NAME` works too (jQuery's `callback=?` becomes that). `GET /jsonp/never` is a
//! script that never comes, to show a page's timeout.

use std::time::Instant;

use crate::clock::now_millis;
use crate::demos::{Demo, Setup};
use crate::handler::{Context, Reply};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::json;

use crate::router::Route;

// ANCHOR: jsonp_limits
/// Longest JSONP callback name, dots included; longer is 400. jQuery's generated names are
/// about 40 characters; the cap also keeps any payload spelt as a name short (Rosetta Flash's
/// callbacks were far longer).
pub const MAX_CALLBACK_LEN: usize = 64;
// ANCHOR_END: jsonp_limits

pub const DEMO: Demo = Demo {
    name: "jsonp",
    title: "JSONP",
    summary: "a <script> from the other origin calls the page back: GET /jsonp?cb=NAME",
    chapter: "09-jsonp.md",
    page: include_str!("../../demos/jsonp.html"),
    extra_pages: &[],
    routes,
};

/// The routes, read like a table.
fn routes(_: &Setup) -> Result<Vec<Route>, String> {
    Ok(vec![
        Route::get("/jsonp", jsonp),
        Route::get("/jsonp/never", never),
    ])
}

// ANCHOR: jsonp
/// `GET /jsonp?cb=NAME&…`: a script calling `NAME` with the time and the other parameters.
fn jsonp(request: &Request, context: &Context) -> Reply {
    let callback = match callback_of(request) {
        Ok(callback) => callback,
        Err(error) => return bad_callback(error),
    };
    // Every parameter but the callback, echoed back; a repeated name keeps its first value,
    // as `URLSearchParams.get` does.
    let mut query = json::Object::new();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in request.query_params() {
        if name != "cb" && name != "callback" && !seen.contains(&name) {
            query = query.string(&name, &value);
            seen.push(name);
        }
    }
    // The articles' page polls every second, twice the pace of their other demos: half a tick.
    let poll_ms = context.app.config.tick.as_millis() / 2;
    let data = json::Object::new()
        .number("time", now_millis())
        .number("poll_ms", poll_ms as u64)
        .raw("query", &query.finish())
        .finish();
    Response::new(200)
        // RFC 9239: text/javascript is the one JavaScript media type to send.
        .with_header("Content-Type", "text/javascript; charset=utf-8")
        .with_header("Cache-Control", "no-store")
        .with_body(script(&callback, &data).into_bytes())
        .into()
}

/// The answer's body. `/**/` first, so the response never begins with bytes the requester
/// chose: Rosetta Flash (2014) made a callback that spelt a Flash file, and a plugin that
/// sniffed the start of the response ran it. `json::string` escapes U+2028, U+2029 and `<`.
pub fn script(callback: &str, data: &str) -> String {
    format!("/**/{callback}({data});")
}
// ANCHOR_END: jsonp

// ANCHOR: callback
/// The callback name a request gives, as `cb=` (the article's) or `callback=` (jQuery's).
/// Exactly once: with two, which one runs would depend on which the reader looks at.
fn callback_of(request: &Request) -> Result<String, CallbackError> {
    let given: Vec<String> = request
        .query_params()
        .into_iter()
        .filter(|(name, _)| name == "cb" || name == "callback")
        .map(|(_, value)| value)
        .collect();
    match given.as_slice() {
        [] => Err(CallbackError::Missing),
        [callback] => check_callback(callback).map(|()| callback.clone()),
        _ => Err(CallbackError::Repeated),
    }
}

/// Accepts `name` or `name.name.…` where each name is ASCII letters, digits, `_` and `$`,
/// not starting with a digit, and the first is not a reserved word: a reference to a function
/// and nothing else (ECMA-262 §13.1 IdentifierReference, then §13.3 `.IdentifierName`).
/// Nothing else means no brackets, quotes, parentheses, spaces, comments or escapes.
pub fn check_callback(callback: &str) -> Result<(), CallbackError> {
    if callback.len() > MAX_CALLBACK_LEN {
        return Err(CallbackError::TooLong);
    }
    for part in callback.split('.') {
        let mut bytes = part.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'$');
        if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
            return Err(CallbackError::NotAName);
        }
    }
    // After a dot any name is a property (`a.while` is fine); first, a reserved word would
    // make a statement: `/**/while({…});` is a loop that never ends, freezing the page.
    let first = callback.split('.').next().unwrap_or("");
    if RESERVED_WORDS.contains(&first) {
        return Err(CallbackError::ReservedWord);
    }
    Ok(())
}

/// ECMA-262 §12.7.2 ReservedWord (2025). `let`, `static` and the like are names in a classic
/// script, so they are allowed.
#[rustfmt::skip] // in the spec's order, a few to a line
const RESERVED_WORDS: [&str; 38] = [
    "await", "break", "case", "catch", "class", "const", "continue", "debugger", "default",
    "delete", "do", "else", "enum", "export", "extends", "false", "finally", "for", "function",
    "if", "import", "in", "instanceof", "new", "null", "return", "super", "switch", "this",
    "throw", "true", "try", "typeof", "var", "void", "while", "with", "yield",
];
// ANCHOR_END: callback

/// Why a callback name was refused. Each is 400 with a one-line reason that never repeats
/// the name: a refused name must not reach the page in any form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackError {
    Missing,
    Repeated,
    TooLong,
    NotAName,
    ReservedWord,
}

fn bad_callback(error: CallbackError) -> Reply {
    let reason = match error {
        CallbackError::Missing => "a callback name is needed: ?cb=NAME or ?callback=NAME".into(),
        CallbackError::Repeated => {
            "give the callback once: cb= or callback=, not both or twice".into()
        }
        CallbackError::TooLong => {
            format!("a callback name may be at most {MAX_CALLBACK_LEN} characters")
        }
        CallbackError::NotAName => {
            "a callback must be a JavaScript name, or names joined by dots: \
            letters, digits, _ and $, not starting with a digit"
                .into()
        }
        CallbackError::ReservedWord => {
            "a callback cannot start with a JavaScript reserved word".into()
        }
    };
    // Plain text, and the server adds nosniff, so no browser runs it as a script; the 400
    // alone already stops it (a script must come with an ok status), and cross-origin,
    // Chromium does not even hand it over (Opaque Response Blocking).
    Response::refusal(400, &reason).into()
}

// ANCHOR: never
/// `GET /jsonp/never?cb=NAME`: a script that never comes, for a page's timeout. The request
/// is held for `--hold-ms` (25 s), far past any sensible timeout, then answered `204 No
/// Content`: no script. Removing the `<script>` element does not cancel its request, so the
/// hold usually runs its course; a page that is closed or reloaded ends it within a check.
fn never(request: &Request, context: &Context) -> Reply {
    if let Err(error) = callback_of(request) {
        return bad_callback(error);
    }
    context.client_stays_until(Instant::now() + context.app.config.hold);
    Response::new(204)
        .with_header("Cache-Control", "no-store")
        .into()
}
// ANCHOR_END: never

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_javascript_names_are_callbacks() {
        let longest = format!("a{}", "b".repeat(MAX_CALLBACK_LEN - 1));
        let good: &[(&str, &str)] = &[
            ("cb", "the article's"),
            (
                "jQuery360071826423583218_1700000000000",
                "jQuery's generated name",
            ),
            ("$", "a dollar is a letter in JavaScript"),
            ("_", "so is an underscore"),
            ("A_$9", "digits after the first character"),
            ("app.on_data", "a method"),
            ("$.fn.x", "dots between names"),
            (
                "a.while",
                "after a dot a reserved word is just a property name",
            ),
            ("let", "not reserved in a classic (non-strict) script"),
            (
                "undefined",
                "a global, not a reserved word; calling it is a TypeError",
            ),
            (&longest, "exactly the longest allowed"),
        ];
        for (name, why) in good {
            assert_eq!(check_callback(name), Ok(()), "{name:?}: {why}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        use CallbackError::*;
        let too_long = "a".repeat(MAX_CALLBACK_LEN + 1);
        let bad: &[(&str, CallbackError, &str)] = &[
            ("alert(1)//", NotAName, "the classic reflected XSS"),
            ("a;alert(1)", NotAName, "a second statement"),
            ("a[0]", NotAName, "brackets reach anything"),
            ("a b", NotAName, "a space"),
            ("a-b", NotAName, "a minus is an operator"),
            ("", NotAName, "empty"),
            ("1a", NotAName, "a digit first"),
            ("a.1b", NotAName, "a digit first, after a dot"),
            ("a..b", NotAName, "an empty name between dots"),
            (".a", NotAName, "a leading dot"),
            ("a.", NotAName, "a trailing dot"),
            ("é", NotAName, "JavaScript allows it; we keep to ASCII"),
            ("\\u0061", NotAName, "an escape spelling a"),
            ("a\u{2028}", NotAName, "a line terminator"),
            ("/*x*/a", NotAName, "a comment"),
            ("while", ReservedWord, "an endless loop: /**/while({…});"),
            ("this.x", ReservedWord, "reserved as the first name"),
            ("true", ReservedWord, "a literal"),
            ("import", ReservedWord, "import({…}) would fetch a module"),
            (&too_long, TooLong, "one character too many"),
        ];
        for (name, error, why) in bad {
            assert_eq!(check_callback(name), Err(*error), "{name:?}: {why}");
        }
    }

    #[test]
    fn the_script_is_the_callback_called_with_the_data() {
        assert_eq!(script("cb", r#"{"a":1}"#), r#"/**/cb({"a":1});"#);
    }

    #[test]
    fn reserved_words_are_sorted_and_distinct() {
        // Makes the list easy to check against the spec's, which is in alphabetical order.
        assert!(RESERVED_WORDS.windows(2).all(|w| w[0] < w[1]));
    }
}
