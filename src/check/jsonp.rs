//! The rules of jsonp (`docs/09-jsonp.md`), checked against `<url>`.

use super::{Report, Rule, Target, Technique};

pub static TECHNIQUE: Technique = Technique {
    name: "jsonp",
    chapter: "09-jsonp.md",
    endpoint: "/jsonp",
    rules: &[&ANSWERS],
    run,
};

static ANSWERS: Rule = Rule {
    id: "jsonp.answers",
    says: "to be written",
    section: "Exercise: build it yourself",
};

fn run(_target: &Target, report: &mut Report) {
    report.skip(&ANSWERS, "not written yet");
}
