"""Model-based scores for responses: an LLM-as-a-judge rubric and an optional HF reward model."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack

from thinkforge.generation import GenerationStats, Generator, SamplingParams
from thinkforge.rows import TEMPLATES
from thinkforge.thinking import after_thinking

RUBRIC = (TEMPLATES / "judge_rubric.txt").read_text()
EXTRACT = (TEMPLATES / "judge_extract_answer.txt").read_text()
DIMENSIONS = ("correctness", "helpfulness", "coherence", "complexity", "verbosity")
HELPSTEER_ORDER = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")  # 5-head reward models


def rubric_prompt(row: dict) -> list[dict]:
    answer = after_thinking(row["response"]).strip()
    return [
        {
            "role": "user",
            "content": RUBRIC.format(
                domain=row["domain"],
                problem=row["problem"][:4000],
                reference=row.get("reference_answer") or "",
                answer=answer[:6000],
            ),
        }
    ]


def extraction_prompt(response: str) -> list[dict]:
    """Asks the judge for the final answer a solution states (the problem and the reference are not shown)."""
    answer = after_thinking(response).strip()
    return [{"role": "user", "content": EXTRACT.format(answer=answer[-3000:])}]


def _plain(text: str) -> str:
    return re.sub(r"[\s$]|\\[,;!]", "", text)


def parse_extracted_answer(reply: str | None, response: str) -> str | None:
    """The judge's answer when it is one the response itself writes (a judge that invents or recalls an answer is
    not believed); None for NONE, an empty reply or an answer the response does not contain."""
    first = (reply or "").strip().splitlines()[0].strip().rstrip(".") if (reply or "").strip() else ""
    first = re.sub(r"^(the )?(final )?answer( is)?\s*[:=]?\s*", "", first, flags=re.I).strip()
    if not first or first.upper().startswith("NONE") or len(first) > 80:
        return None
    plain = _plain(first)
    written = re.search(rf"(?<![\d.]){re.escape(plain)}(?!\d)", _plain(after_thinking(response))) if plain else None
    return first if written else None


def parse_rubric(text: str | None) -> dict:
    """score_judge_<dim> (1-5), judge_verdict (correct/incorrect/unsure) and judge_safe (bool); None where absent."""
    out: dict = {f"score_judge_{d}": None for d in DIMENSIONS} | {"judge_verdict": None, "judge_safe": None}
    if not text:
        return out
    for d in DIMENSIONS:
        m = re.search(rf"{d}\s*[:=]\s*([1-5])\b", text, re.I)
        out[f"score_judge_{d}"] = int(m.group(1)) if m else None
    m = re.search(r"verdict\s*[:=]\s*\**\s*(correct|incorrect|unsure)", text, re.I)
    out["judge_verdict"] = m.group(1).lower() if m else None
    m = re.search(r"safe\s*[:=]\s*\**\s*(yes|no)", text, re.I)
    out["judge_safe"] = (m.group(1).lower() == "yes") if m else None
    return out


class RewardModel:
    """Any HF sequence-classification reward model; 5 heads are read as HelpSteer dimensions, else one score."""

    def __init__(self, path: str, batch_size: int = 8):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from thinkforge.generation.backends import device

        self.device, self.batch_size = device(), batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = (
            AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).to(self.device).eval()
        )
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        labels = self.model.config.num_labels
        self.columns = (
            [f"score_reward_{d}" for d in HELPSTEER_ORDER] if labels == 5 else ["score_reward"] * (labels == 1)
        )
        if not self.columns:
            raise ValueError(
                f"{path}: reward model with {labels} outputs; expected 1 or 5 (helpfulness, correctness, coherence, complexity, verbosity)"
            )

    def score(self, rows: list[dict]) -> list[dict]:
        import torch

        texts = []
        for r in rows:
            chat = [{"role": "user", "content": r["problem"]}, {"role": "assistant", "content": r["response"] or ""}]
            texts.append(
                self.tokenizer.apply_chat_template(chat, tokenize=False)
                if self.tokenizer.chat_template
                else f"{r['problem']}\n\n{r['response']}"
            )
        out = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=2048,
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**enc).logits.float().cpu().tolist()
            out += [dict(zip(self.columns, row)) for row in logits]
        return out


class LazyJudge:
    """Greedy replies from a model that is loaded only on first use (and released with `stack`)."""

    def __init__(
        self, open_generator: Callable[[], AbstractContextManager[Generator]], stack: ExitStack, max_tokens: int
    ):
        self.open_generator, self.stack, self.max_tokens = open_generator, stack, max_tokens
        self.generator: Generator | None = None

    def __call__(self, conversations: list[list[dict]]) -> list[str | None]:
        if self.generator is None:
            self.generator = self.stack.enter_context(self.open_generator())
        replies = self.generator.generate(conversations, SamplingParams(temperature=0.0, max_tokens=self.max_tokens))
        return [r[0].text if r[0].ok else None for r in replies]

    @property
    def stats(self) -> GenerationStats:
        return self.generator.stats if self.generator else GenerationStats()
