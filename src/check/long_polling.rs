//! The rules of long-polling (`docs/04-long-polling.md`), checked against `<url>`.

use super::{Report, Rule, Target, Technique};

pub static TECHNIQUE: Technique = Technique {
    name: "long-polling",
    chapter: "04-long-polling.md",
    endpoint: "/longpoll",
    rules: &[&ANSWERS],
    run,
};

static ANSWERS: Rule = Rule {
    id: "long-polling.answers",
    says: "to be written",
    section: "Exercise: build it yourself",
};

fn run(_target: &Target, report: &mut Report) {
    report.skip(&ANSWERS, "not written yet");
}
