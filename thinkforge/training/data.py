"""Conversations → pre-tokenized SFT rows: `input_ids` and `labels` (−100 = no loss) from per-segment masks.

The prompt (every turn before the last assistant turn, and the assistant header) never gets loss. The assistant
turn is a list of (text, mask) segments — one segment with mask 1 for an ordinary SFT row, the S²R actions for a
trajectory (earlier solves 0, verifications and the last solve 1) — followed by the template's end of turn, which
always gets loss (S²R's `<end>`). TRL uses a supplied `labels` column as is and appends no EOS to pre-tokenized rows.
"""

from __future__ import annotations

IGNORE = -100


def encode(
    tokenizer, messages: list[dict], segments: list[tuple[str, int]] | None = None, max_length: int = 2048
) -> dict:
    """{input_ids, labels, tokens, trained_tokens} of one conversation whose last message is the assistant's."""
    *context, last = messages
    assert last["role"] == "assistant", "the last message must be the assistant's"
    segments = segments or [(last["content"], 1)]
    content = "".join(text for text, _ in segments)
    prompt = tokenizer.apply_chat_template(context, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*context, {"role": "assistant", "content": content}], tokenize=False)
    if not (full.startswith(prompt) and full[len(prompt) :].startswith(content)):
        raise ValueError("the chat template changes the assistant content; cannot place the loss mask")
    suffix = full[len(prompt) + len(content) :]
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"] if text else []  # noqa: E731
    input_ids = ids(prompt)
    labels = [IGNORE] * len(input_ids)
    for text, mask in segments:
        piece = ids(text)
        input_ids += piece
        labels += piece if mask else [IGNORE] * len(piece)
    end = ids(suffix)
    input_ids += end
    labels += end
    input_ids, labels = input_ids[:max_length], labels[:max_length]
    return {
        "input_ids": input_ids,
        "labels": labels,
        "tokens": len(input_ids),
        "trained_tokens": sum(label != IGNORE for label in labels),
    }
