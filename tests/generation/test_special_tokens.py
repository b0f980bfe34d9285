"""A chat template that emits BOS (Llama 3, Gemma, Mistral, R1-Distill-Llama): exactly one BOS reaches the model."""

from types import SimpleNamespace

from tokenizers import processors
from transformers import AutoTokenizer

from thinkforge.generation.backends import TransformersBackend, VLLMBackend

BOS_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _bos_tokenizer(tiny_model):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.bos_token = "<|endoftext|>"
    bos = tok.convert_tokens_to_ids("<|endoftext|>")
    # like Llama 3's tokenizer: the tokenizer itself prepends BOS when asked for special tokens
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", bos)]
    )
    tok.chat_template = BOS_TEMPLATE
    return tok, bos


def test_vllm_backend_hands_the_engine_token_ids_with_one_bos(tiny_model):
    tok, bos = _bos_tokenizer(tiny_model)
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "What is two plus two?"}], tokenize=False, add_generation_prompt=True
    )
    assert tok(rendered)["input_ids"].count(bos) == 2  # what LLM.generate(text) would have tokenized
    (prompt,) = VLLMBackend.token_prompts(SimpleNamespace(tokenizer=tok), [rendered])
    assert prompt["prompt_token_ids"].count(bos) == 1 and prompt["prompt_token_ids"][0] == bos


def test_transformers_backend_adds_no_second_bos(tiny_model):
    from thinkforge.generation import SamplingParams

    backend = TransformersBackend(str(tiny_model))
    tok, bos = _bos_tokenizer(tiny_model)
    backend.tokenizer = tok
    seen = []
    real_generate = backend.model.generate
    backend.model.generate = lambda **kw: seen.append(kw["input_ids"][0].tolist()) or real_generate(**kw)
    (rendered,) = backend.render([[{"role": "user", "content": "hi"}]])
    backend.generate([rendered], SamplingParams(temperature=0.0, max_tokens=2), [0])
    assert seen[0].count(bos) == 1 and seen[0][0] == bos
