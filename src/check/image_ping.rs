//! The rules of the image ping (`docs/10-image-ping.md`, its exercise), checked against
//! `GET <url>?…` and the tally at `<url>/stats`.
//!
//! A page learns nothing from a ping's answer but `load` or `error`, so the server's side is
//! the whole technique: answer at once, let no cache answer instead, and count what arrived.
//! The count is observable only through the stats, so that is where the checker looks: each
//! ping it sends carries a nonce of its own, and is looked for (or, for a ping that must not
//! count, looked for in vain) among the newest the stats list.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::client::{self, Connection, Exchange, Head, Url};
use super::json_reader::{Json, read_json};
use super::{Report, Rule, Target, Technique, show};

pub static TECHNIQUE: Technique = Technique {
    name: "image-ping",
    chapter: "10-image-ping.md",
    endpoint: "/ping",
    rules: &[&ANSWERS, &GIF, &NO_STORE, &COUNTED, &HEAD, &BAD_INPUT],
    run,
};

/// The exercise's sections (chapter 10): the ping's answers, and the stats that count them.
const PING_SECTION: &str = "The ping";
const STATS_SECTION: &str = "The stats";

static ANSWERS: Rule = Rule {
    id: "image-ping.answers",
    says: "GET ?anything (and ?gif=0) answers 204 No Content: no body, no Content-Type, no \
           Content-Length",
    section: PING_SECTION,
};
static GIF: Rule = Rule {
    id: "image-ping.gif",
    says: "GET ?gif=1 answers 200, Content-Type: image/gif, Content-Length: 43, and the \
           chapter's 43-byte transparent GIF",
    section: PING_SECTION,
};
static NO_STORE: Rule = Rule {
    id: "image-ping.no-store",
    says: "the 204, the GIF and the stats carry Cache-Control: no-store, so no cache answers \
           for the server",
    section: PING_SECTION,
};
static COUNTED: Rule = Rule {
    id: "image-ping.counted",
    says: "GET <url>/stats is JSON whose count grows with every ping and whose recent list has \
           each ping's query as sent, its status and its Referer",
    section: STATS_SECTION,
};
static HEAD: Rule = Rule {
    id: "image-ping.head",
    says: "HEAD answers with the head the same GET gets (status, Content-Type, Content-Length, \
           Cache-Control) and no body, and is not counted",
    section: PING_SECTION,
};
static BAD_INPUT: Rule = Rule {
    id: "image-ping.bad-input",
    says: "a query over 512 bytes is 414 and a gif other than 0 or 1 is 400, text/plain with \
           its reason, and neither is counted; 512 bytes is fine",
    section: PING_SECTION,
};

/// The chapter's transparent 1×1 GIF, written out here independently of the server's copy.
const PIXEL_GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\
    \x21\xf9\x04\x01\x00\x00\x00\x00\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\
    \x02\x02\x44\x01\x00\x3b";

/// Longest query a ping may carry (the chapter's `MAX_PING_QUERY_BYTES`).
const MAX_QUERY_BYTES: usize = 512;

const TOO_LONG: &str = "a ping's query may be at most 512 bytes\n";
const BAD_GIF: &str = "gif must be 1 (a GIF) or 0 (204)\n";

/// After a 204's head, how long to wait for body bytes a server should not send. Waiting
/// can only make a wrong server fail, never a right one, so a slow machine costs nothing
/// but this: bytes that come later still pass unseen.
const STRAY_BYTES_WAIT: Duration = Duration::from_millis(200);

fn run(target: &Target, report: &mut Report) {
    let url = &target.url;
    let nonce = nonce();
    let ping = |query: &str| url.with_query(&format!("{query}&nonce={nonce}"));
    let referer = format!("{}/", url.origin());

    // The stats before anything: the count must grow from here.
    let stats_url = url.joined("/stats");
    let before = client::get(&stats_url, target.patience, &[]);

    let first = ping("event=signup&plan=free&note=hello%20there");
    let first_head = match answer_204(&first, target, &[("Referer", &referer)]) {
        Ok((head, verdict)) => {
            report.record(&ANSWERS, verdict);
            report.record(&NO_STORE, no_store(&head));
            head
        }
        // No answer at all: nothing else can be checked.
        Err(why) => {
            report.record(&ANSWERS, Err(why));
            return;
        }
    };
    let gif0 = ping("event=plain&gif=0");
    report.record(
        &ANSWERS,
        answer_204(&gif0, target, &[]).and_then(|(_, verdict)| verdict),
    );

    let gif1 = ping("event=view&gif=1");
    let gif_head = match client::get(&gif1, target.patience, &[]) {
        Ok(answer) => {
            report.record(&GIF, gif(&answer));
            report.record(&NO_STORE, no_store(&answer.head));
            Some(answer.head)
        }
        Err(why) => {
            report.record(&GIF, Err(why));
            None
        }
    };

    // HEAD, and the refusals: their verdicts wait for the stats, which must not list them.
    let looked = ping("event=look");
    let looked_gif = ping("event=look&gif=1");
    let heads = head(&looked, &first_head, target).and_then(|()| match &gif_head {
        Some(gif_head) => head(&looked_gif, gif_head, target),
        None => Ok(()),
    });
    let refused = bad_input(url, target, &nonce);

    let after = client::get(&stats_url, target.patience, &[]);
    let tally = match (before, after) {
        (Ok(before), Ok(after)) => tally(&before, &after),
        (Err(why), _) | (_, Err(why)) => Err(why),
    };
    let (stats, answer) = match tally {
        Ok(tally) => tally,
        Err(why) => {
            report.record(&COUNTED, Err(why));
            // Only a failure can be told without the stats.
            for (rule, verdict) in [(&HEAD, heads), (&BAD_INPUT, refused.map(|_| ()))] {
                if verdict.is_err() {
                    report.record(rule, verdict);
                }
                report.skip(
                    rule,
                    "the stats could not be read, to see it was not counted",
                );
            }
            return;
        }
    };
    report.record(&NO_STORE, no_store(&answer.head));
    let listed = |url: &Url| listed(&stats, url);
    let seen = || ours(&stats, &nonce);
    report.record(
        &COUNTED,
        match (listed(&first), listed(&gif1)) {
            (Some(ping), Some(gif)) => counted(ping, 204, &referer, &first)
                .and_then(|()| counted(gif, 200, "", &gif1))
                .map_err(|why| format!("{why}; {}", seen())),
            _ => Err(format!(
                "the stats list no entry whose query is exactly {} or {}; {}",
                show(query_of(&first).as_bytes()),
                show(query_of(&gif1).as_bytes()),
                seen()
            )),
        },
    );
    let not_counted = |urls: &[&Url]| match urls.iter().find(|url| listed(url).is_some()) {
        Some(url) => Err(format!("{} was counted; {}", url.target, seen())),
        None => Ok(()),
    };
    report.record(
        &HEAD,
        heads.and_then(|()| not_counted(&[&looked, &looked_gif])),
    );
    report.record(
        &BAD_INPUT,
        refused.and_then(|urls| not_counted(&urls.iter().collect::<Vec<_>>())),
    );
}

/// The query of `url`, as sent.
fn query_of(url: &Url) -> &str {
    url.target.split_once('?').map_or("", |(_, q)| q)
}

/// The entries of the stats that carry this run's nonce, one per line, for a failure.
fn ours(stats: &Json, nonce: &str) -> String {
    let Some(Json::Array(pings)) = stats.get("recent") else {
        return String::new();
    };
    let lines: Vec<String> = pings
        .iter()
        .filter_map(|ping| {
            let query = ping.get("query").and_then(Json::as_str)?;
            let status = ping.get("status").and_then(Json::as_whole);
            let referer = ping.get("referer").and_then(Json::as_str).unwrap_or("?");
            query.contains(nonce).then(|| {
                format!(
                    "  status {}, query {}, referer {}",
                    status.map_or("?".to_string(), |s| s.to_string()),
                    show(query.as_bytes()),
                    show(referer.as_bytes())
                )
            })
        })
        .collect();
    if lines.is_empty() {
        "recent lists none of this check's pings".to_string()
    } else {
        format!(
            "this check's pings as recent lists them:\n{}",
            lines.join("\n")
        )
    }
}

/// A ping's own tag, so that its entry in the stats is found among anyone else's.
fn nonce() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("check{}{:09}", now.as_secs(), now.subsec_nanos())
}

/// `GET url`: its head, and whether it is a 204 with nothing after the head. The error is
/// for no answer at all.
fn answer_204(
    url: &Url,
    target: &Target,
    headers: &[(&str, &str)],
) -> Result<(Head, Result<(), String>), String> {
    let mut headers = headers.to_vec();
    headers.push(("Connection", "close"));
    let mut connection = Connection::open(url, target.patience)?;
    connection.send(&client::request("GET", url, &headers, b""))?;
    let head = connection.read_head(false)?;
    let verdict = is_204(&mut connection, &head, url);
    Ok((head, verdict))
}

fn is_204(connection: &mut Connection, head: &Head, url: &Url) -> Result<(), String> {
    let shown = head.shown();
    if head.status != 204 {
        let body = connection.read_body().unwrap_or_default();
        let mut all = head.raw.clone();
        all.extend_from_slice(&body);
        return Err(format!("{} should be 204: {}", url.target, show(&all)));
    }
    for name in ["Content-Type", "Content-Length", "Transfer-Encoding"] {
        if head.header(name).is_some() {
            // RFC 9110 §8.6: no Content-Length in a 204; and there is no content to type.
            return Err(format!("a 204 with {name}: {shown}"));
        }
    }
    // A 204 ends at its blank line (RFC 9112 §6.3): bytes after it would be read as the
    // start of the next response on a kept-alive connection.
    nothing_after(connection, "the 204's head", &shown)
}

/// Fails if bytes follow a head that ends its answer (a 204's, a HEAD's).
fn nothing_after(connection: &mut Connection, what: &str, shown: &str) -> Result<(), String> {
    let _ = connection.closes_before(Instant::now() + STRAY_BYTES_WAIT);
    let stray = connection.take_buffered();
    if stray.is_empty() {
        Ok(())
    } else {
        Err(format!("bytes after {what} {shown}: {}", show(&stray)))
    }
}

fn gif(answer: &Exchange) -> Result<(), String> {
    let head = &answer.head;
    if head.status != 200
        || head.media_type().as_deref() != Some("image/gif")
        || head.header("Content-Length") != Some("43")
        || answer.body != PIXEL_GIF
    {
        return Err(format!(
            "should be 200, image/gif, Content-Length: 43 and the bytes {}: {}",
            show(PIXEL_GIF),
            answer.shown()
        ));
    }
    Ok(())
}

fn no_store(head: &Head) -> Result<(), String> {
    if head.lists("Cache-Control", "no-store") {
        Ok(())
    } else {
        Err(format!("no Cache-Control: no-store in {}", head.shown()))
    }
}

/// `HEAD url`: the head `get` had (RFC 9110 §9.3.2), compared on what describes the answer.
fn head(url: &Url, get: &Head, target: &Target) -> Result<(), String> {
    let mut connection = Connection::open(url, target.patience)?;
    connection.send(&client::request(
        "HEAD",
        url,
        &[("Connection", "close")],
        b"",
    ))?;
    let head = &connection.read_head(true)?;
    let fields = |head: &Head| {
        let values = ["Content-Type", "Content-Length", "Cache-Control"]
            .map(|name| head.header(name).map(str::to_string));
        (head.status, values)
    };
    if fields(head) != fields(get) {
        return Err(format!(
            "HEAD {} should answer the head GET did, {}: {}",
            url.target,
            get.shown(),
            head.shown()
        ));
    }
    nothing_after(&mut connection, "the HEAD answer's head", &head.shown())
}

/// The two refusals and the longest query allowed; the refused URLs, to look for in the stats.
fn bad_input(url: &Url, target: &Target, nonce: &str) -> Result<Vec<Url>, String> {
    let sized = |bytes: usize| {
        let query = format!("nonce={nonce}&pad=");
        let pad = "a".repeat(bytes.saturating_sub(query.len()));
        url.with_query(&format!("{query}{pad}"))
    };
    let too_long = sized(MAX_QUERY_BYTES + 1);
    let bad_gif = url.with_query(&format!("nonce={nonce}&event=odd&gif=2"));
    for (url, status, reason) in [(&too_long, 414, TOO_LONG), (&bad_gif, 400, BAD_GIF)] {
        let answer = client::get(url, target.patience, &[])?;
        let plain = answer.head.media_type().as_deref() == Some("text/plain");
        if answer.head.status != status || !plain || answer.body != reason.as_bytes() {
            return Err(format!(
                "{} should be {status}, text/plain, with the body {}: {}",
                cut_target(url),
                show(reason.as_bytes()),
                answer.shown()
            ));
        }
    }
    let longest = sized(MAX_QUERY_BYTES);
    let answer = client::get(&longest, target.patience, &[])?;
    if answer.head.status != 204 {
        return Err(format!(
            "a query of exactly {MAX_QUERY_BYTES} bytes should be a ping (204): {}",
            answer.shown()
        ));
    }
    Ok(vec![too_long, bad_gif])
}

/// A long target, shortened for a message.
fn cut_target(url: &Url) -> String {
    match url.target.char_indices().nth(60) {
        Some((i, _)) => format!("{}… ({} bytes)", &url.target[..i], url.target.len()),
        None => url.target.clone(),
    }
}

/// The stats after the pings, read; checked that they are JSON with a count that grew by at
/// least the two pings that must count.
fn tally(before: &Exchange, after: &Exchange) -> Result<(Json, Exchange), String> {
    let read = |answer: &Exchange| -> Result<(Json, u64), String> {
        let json = answer.head.media_type().as_deref() == Some("application/json");
        if answer.head.status != 200 || !json {
            return Err(format!(
                "the stats should be 200 application/json: {}",
                answer.shown()
            ));
        }
        let stats = read_json(&answer.text()).map_err(|e| format!("{e}: {}", answer.shown()))?;
        let count = stats.get("count").and_then(Json::as_whole);
        let listed = matches!(stats.get("recent"), Some(Json::Array(_)));
        let kept = stats.get("kept").and_then(Json::as_whole);
        match (count, kept) {
            (Some(count), Some(_)) if listed => Ok((stats, count)),
            _ => Err(format!(
                "the stats need count and kept (whole numbers) and recent (a list): {}",
                answer.shown()
            )),
        }
    };
    let (_, count_before) = read(before)?;
    let (stats, count_after) = read(after)?;
    if count_after < count_before + 2 {
        return Err(format!(
            "count went from {count_before} to {count_after} over two pings: {}",
            after.shown()
        ));
    }
    Ok((stats, after.clone()))
}

/// The entry of `recent` whose query is `url`'s, as sent.
fn listed<'a>(stats: &'a Json, url: &Url) -> Option<&'a Json> {
    let query = query_of(url);
    match stats.get("recent") {
        Some(Json::Array(pings)) => pings
            .iter()
            .find(|ping| ping.get("query").and_then(Json::as_str) == Some(query)),
        _ => None,
    }
}

/// One entry: its number, time, status and Referer as the chapter's table says.
fn counted(ping: &Json, status: u64, referer: &str, url: &Url) -> Result<(), String> {
    let whole = |name: &str| ping.get(name).and_then(Json::as_whole);
    if whole("n").is_none() || whole("at").is_none() {
        return Err(format!(
            "the entry for {} needs n and at, whole numbers",
            url.target
        ));
    }
    if whole("status") != Some(status) {
        return Err(format!(
            "the entry for {} should say status {status}",
            url.target
        ));
    }
    if ping.get("referer").and_then(Json::as_str) != Some(referer) {
        return Err(format!(
            "the entry for {} should say referer {}",
            url.target,
            show(referer.as_bytes())
        ));
    }
    Ok(())
}
