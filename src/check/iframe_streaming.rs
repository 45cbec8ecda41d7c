//! The rules of iframe-streaming (`docs/06-iframe-streaming.md`), checked against `<url>`.

use super::{Report, Rule, Target, Technique};

pub static TECHNIQUE: Technique = Technique {
    name: "iframe-streaming",
    chapter: "06-iframe-streaming.md",
    endpoint: "/htmlfile",
    rules: &[&ANSWERS],
    run,
};

static ANSWERS: Rule = Rule {
    id: "iframe-streaming.answers",
    says: "to be written",
    section: "Exercise: build it yourself",
};

fn run(_target: &Target, report: &mut Report) {
    report.skip(&ANSWERS, "not written yet");
}
