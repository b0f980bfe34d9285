"""Conversations → pre-tokenized SFT rows: `input_ids` and `labels` (−100 = no loss) from per-segment masks.

The prompt (every turn before the last assistant turn, and the assistant header) never gets loss. The assistant
turn is a list of (text, mask) segments — one segment with mask 1 for an ordinary SFT row, the S²R actions for a
trajectory (earlier solves 0, verifications and the last solve 1) — followed by the template's end of turn, which
always gets loss (S²R's `<end>`). TRL uses a supplied `labels` column as is and appends no EOS to pre-tokenized rows.

Rows are never cut: the end of a row is always trained, so any cut would fall inside a trained span. A row longer than
`max_length` is left out whole with reason `too_long` and its token counts (`split_too_long`), and the training asset
counts what it dropped per source.
"""

from __future__ import annotations

IGNORE = -100
TOO_LONG = "too_long"


def encode(tokenizer, messages: list[dict], segments: list[tuple[str, int]] | None = None) -> dict:
    """{input_ids, labels, tokens, trained_tokens} of one whole conversation whose last message is the assistant's."""
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
    return {
        "input_ids": input_ids,
        "labels": labels,
        "tokens": len(input_ids),
        "trained_tokens": sum(label != IGNORE for label in labels),
    }


def too_long(row: dict, max_length: int) -> dict:
    """The reject of a row left out whole: id, source, reason `too_long` and its token counts."""
    return {
        "id": row["id"],
        "source": row["kind"],
        "reason": TOO_LONG,
        "detail": f"{row['tokens']} tokens > max_length {max_length}",
        "tokens": row["tokens"],
        "trained_tokens": row["trained_tokens"],
    }


def split_too_long(rows: list[dict], max_length: int) -> tuple[list[dict], list[dict]]:
    """(the rows that fit in `max_length` tokens, the rejects of the others)."""
    return [r for r in rows if r["tokens"] <= max_length], [
        too_long(r, max_length) for r in rows if r["tokens"] > max_length
    ]


def dropped_report(rows_in: list[dict], rejects: list[dict], sources: tuple[str, ...]) -> dict:
    """Rows and trained tokens dropped, in all and per source, and the dropped share of the rows."""
    per_source = {
        s: {
            "rows_in": sum(r["kind"] == s for r in rows_in),
            "rows_dropped": sum(r["source"] == s for r in rejects),
            "trained_tokens_dropped": sum(r["trained_tokens"] for r in rejects if r["source"] == s),
        }
        for s in sources
    }
    return {
        "rows_in": len(rows_in),
        "rows_dropped": len(rejects),
        "trained_tokens_dropped": sum(r["trained_tokens"] for r in rejects),
        "dropped_share": round(len(rejects) / len(rows_in), 4) if rows_in else 0.0,
        "dropped_by_source": per_source,
        "rejects": rejects,
    }
