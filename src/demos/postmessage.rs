//! postMessage: two windows on two origins talk to each other, and the server only serves them.
//!
//! The same-origin policy stands between windows too. A page may embed a frame from another
//! origin, but its script may not read the frame's document or call the frame's functions:
//! `frame.contentWindow.document` throws a `SecurityError`, and the frame cannot reach into its
//! parent either. Pages that had to cooperate across that wall (a site and its embedded
//! widget, a page and its login popup) used hacks: both setting `document.domain` to a shared
//! parent domain (sibling subdomains only; Chromium no longer lets a page set it since 115),
//! messages written into the frame's URL fragment and polled for, `window.name`.
//!
//! HTML5 made a door in the wall: `otherWindow.postMessage(message, targetOrigin)`. The
//! browser copies the message with the structured clone algorithm (objects, arrays, `Date`s,
//! `Map`s, not just strings) and fires a `message` event at the other window, whose
//! `event.origin` is the sender's origin as the *browser* knows it (a sender cannot forge it)
//! and whose `event.source` is the sender's window, to answer to. Both sides have a duty
//! (HTML, "Cross-document messaging", security): the receiver checks `event.origin` against
//! an allow-list, because any window can post to it; the sender names `targetOrigin`, because
//! the window it holds may be showing another site's page by the time the message arrives.
//!
//! Nothing of it crosses the network. The server serves two pages: the parent,
//! `/postmessage.html`, and the child page it frames from the *other* origin, which
//! `pages.rs` serves from its `EXTRA_PAGES` table. The parent loaded from
//! `http://localhost:8088` makes the browser ask 127.0.0.1 for the frame (Chromium's request,
//! cut to the lines that matter here):
//!
//! ```text
//! GET /postmessage-child.html HTTP/1.1\r\n
//! Host: 127.0.0.1:8088\r\n
//! Sec-Fetch-Site: cross-site\r\n
//! Sec-Fetch-Mode: navigate\r\n
//! Sec-Fetch-Dest: iframe\r\n
//! Referer: http://localhost:8088/\r\n
//! \r\n
//!
//! HTTP/1.1 200 OK\r\n
//! Date: Mon, 23 Nov 2026 17:09:04 GMT\r\n
//! Server: webwire\r\n
//! X-Content-Type-Options: nosniff\r\n
//! ETag: "472f4096edf7f550"\r\n
//! Cache-Control: no-cache\r\n
//! Content-Type: text/html; charset=utf-8\r\n
//! Content-Length: 5240\r\n
//! \r\n
//! ```
//!
//! No `X-Frame-Options` and no CSP `frame-ancestors`: any page may frame these two. That is
//! the point of the child's allow-list and of its `targetOrigin`: it cannot choose who frames
//! it, only whom it listens to and whom it answers. The page with the loopback names swapped
//! (loaded from 127.0.0.1, framing localhost) works the same: each page computes the other.

use crate::demos::Demo;

// ANCHOR: demo
pub const DEMO: Demo = Demo {
    name: "postmessage",
    title: "postMessage",
    summary: "a page and a frame on another origin talk with postMessage, checking event.origin",
    chapter: "11-postmessage.md",
    page: include_str!("../../demos/postmessage.html"),
    // Pages only: the parent is `page`; the child it frames from the other origin needs a
    // path of its own.
    extra_pages: &[(
        CHILD_PATH,
        include_str!("../../demos/postmessage-child.html"),
    )],
    routes: |_| Ok(Vec::new()),
};
// ANCHOR_END: demo

/// Where the parent finds its child frame.
const CHILD_PATH: &str = "/postmessage-child.html";

#[cfg(test)]
mod tests {
    use super::*;

    fn child_page() -> &'static str {
        DEMO.extra_pages[0].1
    }

    /// The text of `function name() { … }` in a page, up to the first line that is `}`.
    fn function<'a>(page: &'a str, name: &str) -> &'a str {
        let start = page.find(&format!("function {name}(")).expect(name);
        let end = page[start..]
            .find("\n}\n")
            .expect("the end of the function");
        &page[start..start + end]
    }

    #[test]
    fn the_parent_frames_the_page_the_server_serves_as_the_child() {
        assert!(
            DEMO.page
                .contains(&format!("${{CHILD_ORIGIN}}{CHILD_PATH}"))
        );
        assert!(child_page().contains("<title>postMessage: the child frame"));
    }

    #[test]
    fn both_pages_pick_the_other_origin_the_same_way() {
        // If they disagreed, each would wait for messages from an origin the other is not on.
        let parent = function(DEMO.page, "otherOrigin");
        assert_eq!(parent, function(child_page(), "otherOrigin"));
        assert!(parent.contains("{ localhost: '127.0.0.1', '127.0.0.1': 'localhost' }"));
    }

    #[test]
    fn only_the_stranger_posts_to_any_origin() {
        // `'*'` delivers to whatever page the window shows by then. The two pages always name
        // the origin; only the stranger (the parent's <template>), with nothing private, uses it.
        let star = "'*')";
        assert_eq!(child_page().matches(star).count(), 0);
        let start = DEMO
            .page
            .find("<template")
            .expect("the stranger's template");
        let end = DEMO.page.find("</template>").expect("its end");
        let in_template = DEMO.page[start..end].matches(star).count();
        assert_eq!(in_template, 2, "to the parent and to the child");
        assert_eq!(DEMO.page.matches(star).count(), in_template);
    }
}
