"""A tiny random Llama with a byte-level BPE tokenizer trained here: fast, offline test model."""

from pathlib import Path

from thinkforge.checkpoints import CHATML

CORPUS = [
    "What is two plus two? The answer is four.",
    "Write a function that reverses a string in Python.",
    "The electron carries a negative charge; the proton a positive one.",
    "Explain why the sky is blue in one sentence.",
] * 50


def build_tiny_model(out: Path, hidden: int = 64, layers: int = 2) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML
    return _random_llama(fast, out, hidden, layers, max_positions=512)


def build_tiny_model_like(checkpoint: Path, out: Path, hidden: int = 64, layers: int = 2) -> Path:
    """A tiny random Llama with a real checkpoint's tokenizer and chat template: texts tokenize to the same lengths
    as with the real model (so length limits and masks behave as in `make demo`), at a tiny model's speed."""
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    positions = AutoConfig.from_pretrained(checkpoint).max_position_embeddings
    return _random_llama(tokenizer, out, hidden, layers, max_positions=positions)


def _random_llama(tokenizer, out: Path, hidden: int, layers: int, max_positions: int) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
