//! The rules of websocket (`docs/12-websocket.md`), checked against `<url>`.

use super::{Report, Rule, Target, Technique};

pub static TECHNIQUE: Technique = Technique {
    name: "websocket",
    chapter: "12-websocket.md",
    endpoint: "/ws",
    rules: &[&ANSWERS],
    run,
};

static ANSWERS: Rule = Rule {
    id: "websocket.answers",
    says: "to be written",
    section: "Exercise: build it yourself",
};

fn run(_target: &Target, report: &mut Report) {
    report.skip(&ANSWERS, "not written yet");
}
