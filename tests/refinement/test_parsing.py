"""Checklist and evaluation replies: what parses, what does not, and how verdicts aggregate."""

from thinkforge.refinement.checklist import generic_criteria, parse_checklist
from thinkforge.refinement.critique import aggregate, parse_evaluation, review_text


def test_numbered_and_bulleted_checklists_parse():
    reply = "Here you go:\n1. Is the final answer 12?\n2) Are units given?\n- Does it define x?\n* Is the proof complete?\nThanks"
    items, status = parse_checklist(reply)
    assert status == "parsed" and items == [
        "Is the final answer 12?",
        "Are units given?",
        "Does it define x?",
        "Is the proof complete?",
    ]


def test_too_few_items_is_unparsed_and_long_lists_are_cut():
    assert parse_checklist("1. Is it right?") == ([], "unparsed: 1 criteria found, fewer than 4")
    assert parse_checklist(None)[1] == "unparsed: empty reply"
    items, status = parse_checklist("\n".join(f"{i}. Criterion number {i}?" for i in range(1, 14)))
    assert len(items) == 10 and status == "parsed: first 10 of 13"


def test_generic_criteria_executability_only_for_code():
    assert len(generic_criteria("code")) == 5 and len(generic_criteria("math")) == 4
    assert all(c["origin"] == "generic" for c in generic_criteria("chat"))


def test_evaluation_lines_score_and_missing_items():
    text = "1. PASS - fine\n**2.** FAIL: wrong sum\nSCORE: 6/10"
    e = parse_evaluation("m", text, 3)
    assert e.verdicts == [True, False, None] and e.critiques[1] == "wrong sum" and e.overall == 6.0 and e.parsed
    assert e.score() == 0.6
    assert not parse_evaluation("m", "no idea", 3).parsed
    assert parse_evaluation("m", "1. yes\n2. no", 2).score() == 0.5  # no SCORE line: the share of passes


def test_aggregate_majority_agreement_and_review_order():
    a = parse_evaluation("a", "1. PASS\n2. FAIL - off by one\nSCORE: 8", 2)
    b = parse_evaluation("b", "1. PASS\n2. PASS\nSCORE: 4", 2)
    c = parse_evaluation("c", "1. PASS\n2. FAIL - missing case\nSCORE: 6", 2)
    agg = aggregate([a, b, c], 2)
    assert agg.items_passed == [True, False] and agg.agreement == 0.5 and abs(agg.score - 0.6) < 1e-9
    review = review_text(["Answer stated?", "All cases?"], agg)
    assert review.splitlines()[0].startswith("- [FAIL] All cases?") and "off by one; missing case" in review
