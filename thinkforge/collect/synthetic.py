"""Seeded synthetic problems a 135M model can learn in minutes of CPU training: `make proof`'s learnable source.

Math: arithmetic word problems (1-3 operations on 2-3 digit numbers, several templates, two wordings each), each
with a worked solution, one step per line, ending in `\\boxed{answer}`. Code: small Python functions with `call`
test cases (the format `thinkforge.verify.code` runs) and a reference program. The same seed gives the same rows.

The held-out math comes from another seed and is drawn first; a training problem that shares a word n-gram with it
(the decontamination test of `deduped_problems`, `thinkforge.dedup.normalize.ngrams`) or repeats one of its number
tuples is skipped, so the training split survives decontamination and never asks a held-out question.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from thinkforge.dedup.normalize import ngrams

NAMES = (
    "Tom", "Sara", "Ali", "Mia", "Noah", "Lena", "Omar", "Emma", "Ravi", "Zoe", "Ivan", "Nora", "Kai", "Lucy",
    "Ben", "Yara", "Leo", "Ada", "Sam", "Ines", "Hugo", "Maya", "Finn", "Rosa",
)  # fmt: skip
ITEMS = (
    "apples", "pencils", "stickers", "marbles", "books", "cards", "shells", "coins", "stamps", "buttons",
    "beads", "candles", "cookies", "oranges", "tickets", "balloons", "erasers", "paper cranes",
)  # fmt: skip
PLACES = ("at the market", "at the shop", "from a friend", "online", "at the fair", "after school")


@dataclass(frozen=True)
class MathProblem:
    problem: str
    solution: str  # worked, one step per line, the last line ends with \boxed{answer}
    answer: int
    numbers: tuple[int, ...]


def _buy(r: random.Random, name: str, item: str) -> MathProblem:
    a, b = r.randint(10, 999), r.randint(10, 999)
    place = r.choice(PLACES)
    problem = r.choice(
        (
            f"{name} has {a} {item} and buys {b} more {place}. How many {item} does {name} have now?",
            f"There are {a} {item} in {name}'s box. {name} gets {b} more {item} {place}. How many {item} are in {name}'s box now?",
        )
    )
    steps = [f"{name} starts with {a} {item} and gets {b} more.", f"{a} + {b} = {a + b}."]
    return MathProblem(problem, _worked(steps, a + b), a + b, (a, b))


def _give(r: random.Random, name: str, item: str) -> MathProblem:
    a = r.randint(100, 999)
    b, c = r.randint(10, 99), r.randint(10, a // 2)
    friend = r.choice([n for n in NAMES if n != name])
    problem = r.choice(
        (
            f"{name} has {a} {item}, buys {b} more and then gives {c} of them to {friend}. How many {item} does {name} have left?",
            f"{name} collected {a} {item}. Later {name} found {b} more and gave {c} to {friend}. How many {item} does {name} keep?",
        )
    )
    steps = [f"After getting {b} more: {a} + {b} = {a + b}.", f"After giving {c} away: {a + b} - {c} = {a + b - c}."]
    return MathProblem(problem, _worked(steps, a + b - c), a + b - c, (a, b, c))


def _packs(r: random.Random, name: str, item: str) -> MathProblem:
    a, b = r.randint(11, 60), r.randint(11, 30)
    problem = r.choice(
        (
            f"{name} buys {a} packs of {item}. Each pack holds {b} {item}. How many {item} does {name} buy in all?",
            f"A shop sells {item} in boxes of {b}. {name} orders {a} boxes. How many {item} is that?",
        )
    )
    steps = [f"There are {a} groups of {b} {item}.", f"{a} × {b} = {a * b}."]
    return MathProblem(problem, _worked(steps, a * b), a * b, (a, b))


def _share(r: random.Random, name: str, item: str) -> MathProblem:
    each, groups = r.randint(10, 99), r.randint(11, 25)
    total = each * groups
    problem = r.choice(
        (
            f"{name} shares {total} {item} equally among {groups} friends. How many {item} does each of {name}'s friends get?",
            f"{name} packs {total} {item} into {groups} equal bags. How many {item} does {name} put in each bag?",
        )
    )
    steps = [f"Split {total} {item} into {groups} equal parts.", f"{total} ÷ {groups} = {each}."]
    return MathProblem(problem, _worked(steps, each), each, (total, groups))


def _change(r: random.Random, name: str, item: str) -> MathProblem:
    price, count = r.randint(12, 60), r.randint(2, 9)
    paid = price * count + r.randint(11, 250)
    problem = r.choice(
        (
            f"One box of {item} costs {price} dollars. {name} buys {count} boxes and pays with {paid} dollars. How much change does {name} get?",
            f"{name} buys {count} boxes of {item} at {price} dollars per box and pays with {paid} dollars. How much change does {name} get?",
        )
    )
    cost = price * count
    steps = [f"The boxes cost {count} × {price} = {cost} dollars.", f"The change is {paid} - {cost} = {paid - cost}."]
    return MathProblem(problem, _worked(steps, paid - cost), paid - cost, (price, count, paid))


def _week(r: random.Random, name: str, item: str) -> MathProblem:
    start, sold, made = r.randint(200, 999), r.randint(20, 150), r.randint(20, 150)
    day1, day2 = r.sample(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"), 2)
    twice = r.random() < 0.5
    end = start - sold + made
    total = end * 2 if twice else end
    tail = f" Then {name} doubles the {item}." if twice else ""
    problem = (
        f"{name}'s stall has {start} {item}. On {day1} {name} sells {sold} of them and on {day2} {name} makes "
        f"{made} new ones.{tail} How many {item} does {name}'s stall have now?"
    )
    steps = [
        f"After selling: {start} - {sold} = {start - sold}.",
        f"After making more: {start - sold} + {made} = {end}.",
    ]
    if twice:
        steps.append(f"After doubling: {end} × 2 = {total}.")
    return MathProblem(problem, _worked(steps, total), total, (start, sold, made, int(twice)))


MATH_TEMPLATES: tuple[Callable[[random.Random, str, str], MathProblem], ...] = (
    _buy,
    _give,
    _packs,
    _share,
    _change,
    _week,
)


def _worked(steps: list[str], answer: int) -> str:
    return "\n".join([*steps, f"The answer is \\boxed{{{answer}}}."])


def math_problems(seed: int) -> Iterator[MathProblem]:
    """An endless, seeded stream of word problems (template, wording, names and numbers drawn from `seed`)."""
    r = random.Random(seed)
    while True:
        template = r.choice(MATH_TEMPLATES)
        yield template(r, r.choice(NAMES), r.choice(ITEMS))


@dataclass(frozen=True)
class CodeTask:
    problem: str
    solution: str  # a worked answer: one sentence and a fenced Python program
    fn_name: str
    cases: tuple[tuple[list, object], ...]  # (arguments, expected return value)


def _sum_over(r: random.Random) -> CodeTask:
    k = r.randint(2, 50)
    name = f"sum_over_{k}"
    program = f"def {name}(xs):\n    return sum(x for x in xs if x > {k})\n"
    args = [[r.sample(range(-20, 120), r.randint(0, 8))] for _ in range(4)]
    return _task(
        f"Write a Python function `{name}(xs)` that returns the sum of the numbers in the list `xs` that are greater than {k}.",
        f"Keep the numbers above {k} and add them up.",
        name,
        program,
        args,
        lambda xs: sum(x for x in xs if x > k),
    )


def _count_multiples(r: random.Random) -> CodeTask:
    k = r.randint(2, 13)
    name = f"count_multiples_of_{k}"
    program = f"def {name}(xs):\n    return sum(1 for x in xs if x % {k} == 0)\n"
    args = [[r.sample(range(0, 200), r.randint(0, 8))] for _ in range(4)]
    return _task(
        f"Write a Python function `{name}(xs)` that returns how many numbers in the list `xs` are divisible by {k}.",
        f"Count the numbers whose remainder modulo {k} is 0.",
        name,
        program,
        args,
        lambda xs: sum(1 for x in xs if x % k == 0),
    )


def _affine(r: random.Random) -> CodeTask:
    a, b = r.randint(2, 19), r.randint(10, 99)
    name = f"scale_{a}_add_{b}"
    program = f"def {name}(x):\n    return {a} * x + {b}\n"
    args = [[r.randint(-100, 100)] for _ in range(4)]
    return _task(
        f"Write a Python function `{name}(x)` that returns {a} times `x` plus {b}.",
        f"Multiply by {a}, then add {b}.",
        name,
        program,
        args,
        lambda x: a * x + b,
    )


def _repeat_word(r: random.Random) -> CodeTask:
    sep = r.choice(("-", "+", "_", ":"))
    name = r.choice(("join_copies", "repeat_joined", "copies_with_sep"))
    program = f"def {name}(word, n):\n    return {sep!r}.join([word] * n)\n"
    words = ("cat", "sun", "abc", "tree", "go", "xy")
    args = [[r.choice(words), r.randint(0, 5)] for _ in range(4)]
    return _task(
        f"Write a Python function `{name}(word, n)` that returns `n` copies of the string `word` joined by {sep!r}.",
        f"Repeat the word n times and join the copies with {sep!r}.",
        name,
        program,
        args,
        lambda word, n: sep.join([word] * n),
    )


CODE_TEMPLATES: tuple[Callable[[random.Random], CodeTask], ...] = (_sum_over, _count_multiples, _affine, _repeat_word)


def _task(problem: str, idea: str, name: str, program: str, args: list[list], fn: Callable) -> CodeTask:
    solution = f"{idea}\n\n```python\n{program}```"
    return CodeTask(problem, solution, name, tuple((a, fn(*a)) for a in args))


def code_tasks(seed: int) -> Iterator[CodeTask]:
    """An endless, seeded stream of small function tasks with their tests."""
    r = random.Random(seed)
    while True:
        yield r.choice(CODE_TEMPLATES)(r)


def _math_row(i: int, p: MathProblem, split: str) -> dict:
    return {
        "id": f"{split}-math-{i}",
        "domain": "math",
        "problem": p.problem,
        "answer": str(p.answer),
        "solution": p.solution,
    }


def _code_row(i: int, t: CodeTask, split: str) -> dict:
    cases = [{"input": json.dumps(a), "output": json.dumps(out)} for a, out in t.cases]
    return {
        "id": f"{split}-code-{i}",
        "domain": "code",
        "problem": t.problem,
        "tests": {"kind": "call", "fn_name": t.fn_name, "cases": cases},
        "solution": t.solution,
    }


def _take(stream: Iterator, n: int, key: Callable, seen: set, grams: set, n_gram: int) -> list:
    """The first `n` items of `stream` whose key is not in `seen` and whose problem shares no word n-gram with
    `grams`."""
    out = []
    for item in stream:
        if len(out) == n:
            break
        if key(item) in seen or ngrams(item.problem, n_gram) & grams:
            continue
        seen.add(key(item))
        out.append(item)
    return out


def proof_splits(train_math: int, heldout_math: int, train_code: int, seed: int = 0, n_gram: int = 8) -> dict:
    """{"train": rows, "heldout": rows}: the held-out math drawn first from seed `seed + 1000`, then the training
    math from `seed`, repeating no held-out problem's answer with its numbers (in any order) and sharing no word `n_gram`-gram with one; the code
    tasks (training only: their fixed wordings share n-grams, so a held-out code split would decontaminate every
    training task away) from `seed`."""
    key = lambda p: (p.answer, tuple(sorted(p.numbers)))  # noqa: E731 (24 × 25 repeats 25 × 24)
    seen: set = set()
    heldout = _take(math_problems(seed + 1000), heldout_math, key, seen, set(), n_gram)
    grams = {g for p in heldout for g in ngrams(p.problem, n_gram)}
    train = _take(math_problems(seed), train_math, key, seen, grams, n_gram)
    code = _take(code_tasks(seed), train_code, lambda t: repr((t.fn_name, t.cases)), set(), set(), n_gram)
    return {
        "train": [_math_row(i, p, "train") for i, p in enumerate(train, start=1)]
        + [_code_row(i, t, "train") for i, t in enumerate(code, start=1)],
        "heldout": [_math_row(i, p, "heldout") for i, p in enumerate(heldout, start=1)],
    }
