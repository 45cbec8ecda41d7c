//! The rules of xhr-streaming (`docs/05-xhr-streaming.md`), checked against `<url>`.

use super::{Report, Rule, Target, Technique};

pub static TECHNIQUE: Technique = Technique {
    name: "xhr-streaming",
    chapter: "05-xhr-streaming.md",
    endpoint: "/stream",
    rules: &[&ANSWERS],
    run,
};

static ANSWERS: Rule = Rule {
    id: "xhr-streaming.answers",
    says: "to be written",
    section: "Exercise: build it yourself",
};

fn run(_target: &Target, report: &mut Report) {
    report.skip(&ANSWERS, "not written yet");
}
