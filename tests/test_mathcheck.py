"""Math answer verification with math-verify in worker processes."""

from thinkforge.verify import MathVerifier, check_pair


def test_equivalent_forms_verify():
    assert check_pair("\\frac{1}{2}", "<think>half</think> The answer is $0.5$.").passed
    assert check_pair("6", "Subtracting, we get $x = 6$.").passed
    assert check_pair("6", "So the result is \\boxed{6}.").passed
    assert check_pair("\\frac{19}{12}", "\\boxed{\\dfrac{19}{12}}").passed


def test_wrong_and_unparsable_answers_are_verdicts():
    assert check_pair("6", "\\boxed{7}").verdict == "wrong"
    assert check_pair("6", "I could not solve it.").verdict == "unparsed"


def test_pool_verifies_in_parallel_processes():
    pairs = [(str(i), f"The answer is $\\boxed{{{i if i % 2 else i + 1}}}$") for i in range(40)]
    with MathVerifier(workers=2, chunk=8) as verifier:
        verdicts = verifier.verify(pairs)
    assert [v.passed for v in verdicts] == [bool(i % 2) for i in range(40)]
