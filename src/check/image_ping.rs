//! The rules of image-ping (`docs/10-image-ping.md`), checked against `<url>`.

use super::{Report, Rule, Target, Technique};

pub static TECHNIQUE: Technique = Technique {
    name: "image-ping",
    chapter: "10-image-ping.md",
    endpoint: "/ping",
    rules: &[&ANSWERS],
    run,
};

static ANSWERS: Rule = Rule {
    id: "image-ping.answers",
    says: "to be written",
    section: "Exercise: build it yourself",
};

fn run(_target: &Target, report: &mut Report) {
    report.skip(&ANSWERS, "not written yet");
}
