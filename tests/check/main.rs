//! `webwire check` graded: every technique's rules pass against webwire and against a small
//! server written from the chapter alone, and each rule fails, alone, against that server
//! broken in exactly the way the rule forbids. A rule no server can fail would prove nothing.
//!
//! One module per technique; each holds its hand-written server (correct unless told which
//! rule to break) and its tests. `harness.rs` is what they share: a listener that parses a
//! request and hands it, with the socket, to the server under test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed test is the point

#[path = "../support/mod.rs"]
mod support;

mod harness;
mod hostile;
mod learners;

mod ajax;
mod cors;
mod iframe_streaming;
mod image_ping;
mod jsonp;
mod long_polling;
mod polling;
mod sse;
mod websocket;
mod xhr_streaming;

mod documented {
    //! The rules as the docs give them: a learner reads a rule in the chapter's exercise and
    //! in the reference, and follows its section link; all three must name it.

    use webwire::check::TECHNIQUES;

    fn read(path: &str) -> String {
        std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The heading texts of a Markdown file, without their `#`s (code fences skipped).
    fn headings(markdown: &str) -> Vec<String> {
        let mut in_fence = false;
        let mut found = Vec::new();
        for line in markdown.lines() {
            if line.starts_with("```") {
                in_fence = !in_fence;
            } else if !in_fence && line.starts_with('#') {
                found.push(line.trim_start_matches('#').trim().to_string());
            }
        }
        found
    }

    #[test]
    fn every_chapter_checked_has_its_exercise_and_every_rule_its_row_and_section() {
        for technique in TECHNIQUES {
            let chapter = read(&format!("docs/{}", technique.chapter));
            let headings = headings(&chapter);
            assert!(
                headings.iter().any(|h| h == "Exercise: build it yourself"),
                "{} has no exercise",
                technique.chapter
            );
            for rule in technique.rules {
                assert!(
                    chapter.contains(&format!("`{}`", rule.id)),
                    "{} does not list {}",
                    technique.chapter,
                    rule.id
                );
                assert!(
                    headings.iter().any(|h| h == rule.section),
                    "{}: {} points at a section {:?} that {} does not have",
                    technique.name,
                    rule.id,
                    rule.section,
                    technique.chapter
                );
            }
        }
    }

    #[test]
    fn the_reference_lists_every_rule_as_the_checker_states_it() {
        let reference = read("docs/reference.md");
        let listed = reference
            .split("<!-- rules: begin -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- rules: end -->").next())
            .expect("docs/reference.md has the generated rule table");
        let mut expected = String::new();
        for technique in TECHNIQUES {
            for rule in technique.rules {
                expected.push_str(&format!(
                    "| `{}` | {} | [{}]({}#{}) |\n",
                    rule.id,
                    rule.says.replace('|', "\\|"),
                    technique.chapter.trim_end_matches(".md"),
                    technique.chapter,
                    slug(rule.section)
                ));
            }
        }
        let rows: String = listed
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            rows == expected,
            "the rule table in docs/reference.md is out of date; its rows should be:\n{expected}"
        );
    }

    /// The anchor the site gives a heading (`site::markdown::slug`).
    fn slug(text: &str) -> String {
        webwire::site::markdown::slug(&text.replace('`', ""))
    }
}
