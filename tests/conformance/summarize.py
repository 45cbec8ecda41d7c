# Reads the Autobahn report's index.json and prints a summary table; exits 1 unless every
# case passed: behaviour OK, NON-STRICT or INFORMATIONAL, and the close OK or INFORMATIONAL.
# Runs on Python 2.7 (the suite's virtualenv) and on Python 3.
from __future__ import print_function

import json
import os
import sys

PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")
CLEAN_CLOSE = ("OK", "INFORMATIONAL")


def case_key(case_id):
    return [int(part) for part in case_id.split(".")]


def main(path):
    with open(path) as index:
        agents = json.load(index)
    failed = 0
    for agent, cases in sorted(agents.items()):
        counts = {}
        not_ok = []
        for case_id in sorted(cases, key=case_key):
            result = cases[case_id]
            behavior, close = result["behavior"], result["behaviorClose"]
            counts[behavior] = counts.get(behavior, 0) + 1
            if behavior != "OK" or close not in CLEAN_CLOSE:
                not_ok.append((case_id, behavior, close, result.get("remoteCloseCode")))
            if behavior not in PASSING or close not in CLEAN_CLOSE:
                failed += 1
        print()
        print("| agent | cases | " + " | ".join(sorted(counts)) + " |")
        print("|---|---|" + "---|" * len(counts))
        print("| %s | %d | %s |" % (agent, len(cases), " | ".join(str(counts[k]) for k in sorted(counts))))
        for case_id, behavior, close, code in not_ok:
            print("  %-8s behaviour %-13s close %-13s code %s" % (case_id, behavior, close, code))
    # The report is the index.html beside the index.json it was given: webwire's for
    # run-autobahn, a learner's own for the chapter's recipe. Named from the current
    # directory when it is below it, else as given.
    report = os.path.join(os.path.dirname(path), "index.html")
    if not os.path.relpath(report).startswith(os.pardir):
        report = os.path.relpath(report)
    print()
    if failed:
        print("run-autobahn: %d case(s) FAILED (report: %s)" % (failed, report))
        return 1
    print("run-autobahn: every case passed (report: %s)" % report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
