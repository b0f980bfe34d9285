"""Math answer verification with math-verify in worker processes."""

import re

from thinkforge.answers import reference_forms, stated_answer
from thinkforge.collect.adapters import champ, champ_records
from thinkforge.verify import MathVerifier, check_pair


def test_equivalent_forms_verify():
    assert check_pair("\\frac{1}{2}", "<think>half</think> The answer is $0.5$.").passed
    assert check_pair("6", "Subtracting, we get $x = 6$.").passed
    assert check_pair("6", "So the result is \\boxed{6}.").passed
    assert check_pair("\\frac{19}{12}", "\\boxed{\\dfrac{19}{12}}").passed


def test_wrong_and_unparsable_answers_are_verdicts():
    assert check_pair("6", "\\boxed{7}").verdict == "wrong"
    assert check_pair("6", "I could not solve it.").verdict == "no_answer"  # never "wrong": nothing was stated
    assert check_pair("No", "So such a labeling is not possible.").verdict == "text_reference"


def test_the_stated_answer_is_found_in_words_not_the_last_number():
    cases = {
        "There are 76 involutions on the set {1, 2, 3, 4, 5, 6}.": ("76", "conclusion"),
        "Thus, there are 144 ways to tile a 2 x 11 rectangle.": ("144", "conclusion"),
        "So the minimum value of sqrt(x^2+1)+1/sqrt(x^2+1) is 2, which can be achieved at x=0.": ("2", "conclusion"),
        "Thus, we have A(n, r)=C(n+1, r+1)/C(n, r)=(n+1)/(r+1).": ("(n+1)/(r+1)", "conclusion"),
        "Thus, the only solution to the original equation is x=6, y=5.": ("x=6, y=5", "conclusion"),
        "The largest value for such n+10 is 900, which means that n=890.": ("n=890", "conclusion"),
        "So 11 is the smallest possible value.": ("11", "conclusion"),
        "Two weeks have 14 days, so Tom reads 25 * 14 = 350 pages.": ("350", "conclusion"),
        "So the answer is 376 and 625.": ("376, 625", "phrase"),
        "Natalia sold 72 clips.\n#### 72": ("72", "phrase"),
        "So the result is \\boxed{6}, from 3 + 3.": ("6", "boxed"),
        "I do not know.": (None, "none"),
        "We tried 3 cases and none worked.": (None, "none"),
    }
    for text, expected in cases.items():
        assert stated_answer(text) == expected, text
    assert reference_forms("C(10, 5), or equivalently 252") == ["C(10, 5)", "252"]
    assert reference_forms("k-2 (i.e., all of them)") == ["k-2"]
    assert reference_forms("-3 is the only possible value") == ["-3"]
    assert reference_forms("It is not possible") is None and reference_forms("No") is None


def test_champ_solutions_that_state_the_reference_are_correct_and_wrong_ones_still_wrong():
    """The bundled CHAMP rows: every human solution whose closing sentence states the (numeric) reference answer is
    verified correct, never "wrong"; the same solution with that number changed is wrong."""
    honest, altered = [], []
    for _, record in champ_records():
        parsed = champ(record)
        ref = (parsed.reference_answer or "").strip()
        human = [r["text"] for r in parsed.responses if r["model"] == "human"]
        if not human or not re.fullmatch(r"-?\d+", ref):
            continue
        closing = human[0].strip().splitlines()[-1]
        if not re.search(rf"(?<![\w.^]){re.escape(ref)}(?![\w.^(])[^=]*$", closing):
            continue  # the conclusion does not state the reference as a value
        honest.append((ref, human[0]))
        wrong = str(int(ref) + 1)
        altered.append(
            (ref, human[0][: -len(closing)] + re.sub(rf"(?<![\w.]){re.escape(ref)}(?!\w|\.\d)", wrong, closing))
        )
    assert len(honest) >= 15  # 16 human solutions of the package; before this check most were called "wrong"
    with MathVerifier(workers=2) as verifier:
        verdicts = verifier.verify(honest)
        wrong = verifier.verify(altered)
    assert [
        (h[1].strip().splitlines()[-1], v.detail) for h, v in zip(honest, verdicts) if v.verdict != "correct"
    ] == []
    assert [(a[1].strip().splitlines()[-1], v.detail) for a, v in zip(altered, wrong) if v.verdict != "wrong"] == []


def test_pool_verifies_in_parallel_processes():
    pairs = [(str(i), f"The answer is $\\boxed{{{i if i % 2 else i + 1}}}$") for i in range(40)]
    with MathVerifier(workers=2, chunk=8) as verifier:
        verdicts = verifier.verify(pairs)
    assert [v.passed for v in verdicts] == [bool(i % 2) for i in range(40)]
