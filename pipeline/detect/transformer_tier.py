"""Optional TRANSFORMERS tier: a token-classification model run with ONNX Runtime.

Users point ``settings.models.transformer_path`` (``PHI_MODELS__TRANSFORMER_PATH``) at a local
directory exported with ``optimum-cli export onnx --task token-classification`` (see
``models/README.md``): ``model.onnx``, ``config.json`` (with ``id2label``) and a *fast*
tokenizer (``tokenizer.json`` + ``tokenizer_config.json``). Nothing is fetched from a hub.

How a text is processed:

1. The text is tokenized once, without special tokens, with character offsets
   (``offset_mapping``) and word ids. Tokenization is linear in the text length.
2. The token sequence is cut into windows of ``max_length`` minus the special tokens, each
   overlapping the previous one by ``stride`` tokens; the last window is aligned to the end of
   the text so that every window has full context. Windows (of all texts of a batch) go through
   the ONNX session ``batch_size`` at a time, so model memory is bounded by the batch size.
3. Overlaps are reconciled per token: a token's prediction is taken from the window in which it
   is furthest from an edge (ties go to the earlier window). For equal-length windows that is
   the window whose centre is nearest, so each window *owns* a contiguous token range computed
   in advance and predictions outside it are discarded.
4. Sub-tokens are aggregated into words by averaging their softmax probabilities, summed per
   entity type (``B-X`` + ``I-X`` + ... and ``O``): the word's type is the one with the most
   mass and its score that mass, in [0, 1]; the scheme prefix (B/I/L/U) is the first
   sub-token's best within that type. A word split into word pieces thus gets one label, a
   weak piece does not decide alone, and B/I disagreement between pieces does not split the
   vote (plain per-tag averaging would let ``O`` win over ``B-X`` 1/3 + ``I-X`` 1/3).
5. Word tags are decoded into entities (:func:`~pipeline.detect.transformer_labels.
   decode_entities`) and mapped to Safe Harbor labels; a word's character span runs from its
   first sub-token's start to its last sub-token's end, so spans cover whole words.

Memory: besides the model, the probabilities of the tokens of the texts being decoded
(``4 * num_labels`` bytes per token).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pipeline.config import Settings
from pipeline.detect.registry import Recognizer, register
from pipeline.detect.transformer_labels import (
    Word,
    decode_entities,
    entity_spans,
    load_label_map,
    model_categories,
    split_tag,
)
from pipeline.detect.types import Span
from pipeline.errors import ConfigError, DetectionError

if TYPE_CHECKING:
    import onnxruntime

NAME = "transformer_onnx.v1"

#: Name of a label-map override file picked up from the model directory when present.
MODEL_DIR_LABEL_MAP = "phi_label_map.yaml"

_SUPPORTED_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids"})
# Tokenizers without a real limit report a huge sentinel as model_max_length.
_NO_LIMIT = 1_000_000

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TransformerOptions:
    """How the tier runs a model directory.

    Attributes:
        path: the exported model directory.
        max_length: tokens per window, special tokens included (capped by the tokenizer's
            ``model_max_length``).
        stride: tokens shared by consecutive windows.
        batch_size: windows per ONNX session run.
        intra_op_threads: ONNX Runtime intra-op threads (0: ONNX Runtime's default, all cores).
        label_map: optional YAML override of the built-in label map.
    """

    path: Path
    max_length: int = 512
    stride: int = 64
    batch_size: int = 32
    intra_op_threads: int = 1
    label_map: Path | None = None


@dataclass(frozen=True, slots=True)
class _Window:
    """One model window over text ``doc``.

    Tokens ``[start, end)`` go through the model; the predictions of ``[own_start, own_end)``
    are kept.
    """

    doc: int
    start: int
    end: int
    own_start: int
    own_end: int


def plan_windows(n_tokens: int, content: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Return ``(start, end, own_start, own_end)`` token windows covering ``n_tokens`` tokens.

    Windows hold ``content`` tokens (the last one aligned to the end), consecutive ones overlap
    by at least ``stride`` tokens, and the owned ranges partition ``[0, n_tokens)``, each token
    owned by the window whose centre is nearest to it (the earlier one on a tie). The number of
    windows is about ``n_tokens / (content - stride)``: linear in the text length.
    """
    if n_tokens <= 0:
        return []
    if n_tokens <= content:
        return [(0, n_tokens, 0, n_tokens)]
    step = content - stride
    starts = list(range(0, n_tokens - content, step))
    starts.append(n_tokens - content)
    windows: list[tuple[int, int, int, int]] = []
    own_start = 0
    for k, start in enumerate(starts):
        if k + 1 < len(starts):
            # Largest i with |i - centre_k| <= |i - centre_k+1|, i.e. i <= the centres' midpoint.
            own_end = (start + starts[k + 1] + content - 1) // 2 + 1
        else:
            own_end = n_tokens
        windows.append((start, start + content, own_start, own_end))
        own_start = own_end
    return windows


def _softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = exp / exp.sum(axis=-1, keepdims=True)
    return result


#: Model types whose position ids start after the padding index (usable = max - pad - 1).
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "camembert", "longformer"})


def _read_config(path: Path) -> tuple[dict[int, str], int | None]:
    """Return ``id2label`` and the longest sequence the model's position embeddings allow."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        raw = config["id2label"]
        id2label = {int(k): str(v) for k, v in raw.items()}
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path / 'config.json'}") from exc
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path / 'config.json'} has no valid id2label") from exc
    if sorted(id2label) != list(range(len(id2label))) or not id2label:
        raise ConfigError(f"{path / 'config.json'}: id2label ids must be 0..n-1")
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int) or positions <= 0:
        return id2label, None
    if config.get("model_type") in _OFFSET_POSITIONS:
        pad = config.get("pad_token_id")
        positions -= (pad if isinstance(pad, int) else 1) + 1
    return id2label, positions


def _check_files(path: Path) -> None:
    if not path.is_dir():
        raise ConfigError(f"transformer model directory {path} does not exist")
    missing = [f for f in ("model.onnx", "config.json") if not (path / f).is_file()]
    if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        missing.append("tokenizer.json")
    if missing:
        raise ConfigError(f"transformer model directory {path} lacks {', '.join(missing)}")


def _load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer  # deferred: a slow import only this tier needs

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # transformers and tokenizers raise many, partly untyped, errors
        raise ConfigError(f"cannot load the tokenizer in {path}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"the tokenizer in {path} is not a fast tokenizer (tokenizer.json)")
    return tokenizer


def _load_session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # One request at a time per worker; parallelism comes from Faust workers, not inter-op.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(
            str(path / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ConfigError(f"cannot load {path / 'model.onnx'}") from exc


def _special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Return the ids the tokenizer puts before and after a single sequence."""
    probe = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)
    ids: list[int] = list(probe["input_ids"])
    mask: list[int] = list(probe["special_tokens_mask"])
    content = [i for i, m in enumerate(mask) if not m]
    if not content:
        return [], []
    return ids[: content[0]], ids[content[-1] + 1 :]


class TransformerRecognizer:
    """Token-classification recognizer over an ONNX model (``transformer_onnx.v1``).

    Attributes:
        name: the registered name.
        categories: Safe Harbor labels the model's tags map to.
    """

    name: str = NAME

    def __init__(self, options: TransformerOptions) -> None:
        _check_files(options.path)
        label_map_path = options.label_map
        if label_map_path is None and (options.path / MODEL_DIR_LABEL_MAP).is_file():
            label_map_path = options.path / MODEL_DIR_LABEL_MAP
        self._label_map = load_label_map(label_map_path)
        self._id2label, position_limit = _read_config(options.path)
        self._tags = [split_tag(self._id2label[i]) for i in range(len(self._id2label))]
        # Entity types, "O" (None) first; _type_matrix[tag, type] = 1 sums tags into types.
        self._types: list[str | None] = [None, *sorted({t for _, t in self._tags if t})]
        self._type_matrix = np.zeros((len(self._tags), len(self._types)), dtype=np.float32)
        for tag_id, (_, entity_type) in enumerate(self._tags):
            self._type_matrix[tag_id, self._types.index(entity_type)] = 1.0
        self.categories, unmapped = model_categories(self._id2label, self._label_map)
        self._tokenizer = _load_tokenizer(options.path)
        self._tokenizer_lock = threading.Lock()
        self._session = _load_session(options.path, options.intra_op_threads)
        self._inputs = [i.name for i in self._session.get_inputs()]
        unknown = sorted(set(self._inputs) - _SUPPORTED_INPUTS)
        if unknown or "input_ids" not in self._inputs:
            raise ConfigError(f"model.onnx inputs {self._inputs} are not supported")
        output = self._session.get_outputs()[0]
        self._output = output.name
        width = output.shape[-1] if output.shape else None
        if isinstance(width, int) and width != len(self._tags):
            raise ConfigError(
                f"model.onnx emits {width} labels but config.json id2label has {len(self._tags)}"
            )
        self._prefix, self._suffix = _special_tokens(self._tokenizer)
        pad = self._tokenizer.pad_token_id
        self._pad_id = int(pad) if pad is not None else 0
        # The window never exceeds what the tokenizer or the position embeddings allow (a
        # tokenizer_config.json without model_max_length reports a huge sentinel).
        limit = int(getattr(self._tokenizer, "model_max_length", _NO_LIMIT) or _NO_LIMIT)
        max_length = min(options.max_length, limit, position_limit or _NO_LIMIT)
        self._content = max_length - len(self._prefix) - len(self._suffix)
        if self._content < 2 or not 0 <= options.stride < self._content:
            raise ConfigError(
                f"transformer stride {options.stride} must be in [0, {self._content - 1}] "
                f"for max_length {max_length}"
            )
        self._stride = options.stride
        self._batch_size = max(1, options.batch_size)
        self._path = options.path
        logger.info(
            "transformer tier loaded: %d tags, categories %s, unmapped types %s, "
            "window %d tokens, stride %d",
            len(self._id2label),
            sorted(c.value for c in self.categories),
            unmapped,
            max_length,
            self._stride,
        )

    def __repr__(self) -> str:
        return f"TransformerRecognizer(path={str(self._path)!r})"

    def find(self, text: str) -> list[Span]:
        """Return the spans the model finds in ``text``."""
        return self.find_batch([text])[0]

    def find_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """Return the spans of each text; windows of all texts share ONNX session runs.

        Raises:
            DetectionError: tokenization or inference failed (the message carries no text).
        """
        if not texts:
            return []
        try:
            # The transformers wrapper may reconfigure the Rust tokenizer's truncation/padding
            # per call, which fails ("Already borrowed") if two threads encode at once.
            with self._tokenizer_lock:
                encoding = self._tokenizer(
                    list(texts),
                    add_special_tokens=False,
                    return_offsets_mapping=True,
                    return_attention_mask=False,
                    return_token_type_ids=False,
                    verbose=False,  # the "longer than max length" warning: we window anyway
                )
        except Exception as exc:  # tokenizers raise untyped errors; fail closed
            raise DetectionError("transformer tier: tokenization failed") from exc
        ids: list[IntArray] = [np.asarray(x, dtype=np.int64) for x in encoding["input_ids"]]
        probs = [np.zeros((len(x), len(self._tags)), dtype=np.float32) for x in ids]
        windows = [
            _Window(doc, *w)
            for doc, doc_ids in enumerate(ids)
            for w in plan_windows(len(doc_ids), self._content, self._stride)
        ]
        # Similar lengths share a batch, so short texts are not padded to a full window.
        windows.sort(key=lambda w: w.end - w.start)
        for first in range(0, len(windows), self._batch_size):
            self._run(windows[first : first + self._batch_size], ids, probs)
        return [
            self._spans(texts[doc], encoding["offset_mapping"][doc], encoding.word_ids(doc), p)
            for doc, p in enumerate(probs)
        ]

    def _run(self, batch: Sequence[_Window], ids: list[IntArray], probs: list[FloatArray]) -> None:
        """Run one batch of windows and store the owned tokens' probabilities."""
        lead = len(self._prefix)
        width = lead + max(w.end - w.start for w in batch) + len(self._suffix)
        input_ids = np.full((len(batch), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, w in enumerate(batch):
            length = lead + (w.end - w.start) + len(self._suffix)
            input_ids[row, :lead] = self._prefix
            input_ids[row, lead : lead + w.end - w.start] = ids[w.doc][w.start : w.end]
            input_ids[row, lead + w.end - w.start : length] = self._suffix
            mask[row, :length] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        feeds["token_type_ids"] = np.zeros_like(input_ids)
        try:
            (logits,) = self._session.run(
                [self._output], {k: v for k, v in feeds.items() if k in self._inputs}
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors; fail closed
            raise DetectionError("transformer tier: inference failed") from exc
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim != 3 or logits.shape[-1] != len(self._tags):
            raise DetectionError(
                f"transformer tier: logits shape {logits.shape} does not match "
                f"{len(self._tags)} labels"
            )
        for row, w in enumerate(batch):
            lo = lead + w.own_start - w.start
            hi = lead + w.own_end - w.start
            probs[w.doc][w.own_start : w.own_end] = _softmax(logits[row, lo:hi])

    def _spans(
        self,
        text: str,
        offsets: Sequence[tuple[int, int]],
        word_ids: Sequence[int | None],
        probs: FloatArray,
    ) -> list[Span]:
        """Aggregate token probabilities into words, decode entities, map to spans."""
        words = self._words(text, offsets, word_ids, probs)
        entities = decode_entities(words)
        return [
            Span(start, end, label, min(1.0, max(0.0, score)), NAME)
            for start, end, label, score in entity_spans(entities, text, self._label_map)
        ]

    def _words(
        self,
        text: str,
        offsets: Sequence[tuple[int, int]],
        word_ids: Sequence[int | None],
        probs: FloatArray,
    ) -> list[Word]:
        """Return the words of a text with their aggregated tags (vectorised over words).

        Only entity words are returned, with one "O" word standing for each run of visible
        non-entity words between two of them (O words only separate entities); words that
        cover no visible character (whitespace-only tokens) are left out.
        """
        n = len(offsets)
        if n == 0:
            return []
        ids = np.array([-1 if w is None else w for w in word_ids], dtype=np.int64)
        # A word starts at token 0, where the word id changes, and at every token without one.
        new_word = np.ones(n, dtype=bool)
        new_word[1:] = (ids[1:] != ids[:-1]) | (ids[1:] < 0)
        first = np.flatnonzero(new_word)
        counts = np.diff(np.append(first, n)).astype(np.float32)
        # Mass per entity type (B-X + I-X + ... summed), averaged over the sub-tokens: a word
        # whose pieces say B-PATIENT, I-PATIENT, O is a PATIENT word with score ~2/3.
        mass = (np.add.reduceat(probs, first, axis=0) / counts[:, None]) @ self._type_matrix
        best = mass.argmax(axis=1)
        score = mass[np.arange(len(first)), best]
        # The scheme position (B/I/L/U...) is the first sub-token's, within the chosen type.
        in_type = np.where(self._type_matrix.T[best] > 0, probs[first], -1.0)
        prefix_tag = in_type.argmax(axis=1)
        # Character span: first visible piece's start to the last end (zero-width pieces,
        # e.g. special or empty tokens, are ignored).
        span = np.asarray(offsets, dtype=np.int64).reshape(n, 2)
        visible = span[:, 1] > span[:, 0]
        starts = np.minimum.reduceat(np.where(visible, span[:, 0], len(text)), first)
        ends = np.maximum.reduceat(np.where(visible, span[:, 1], -1), first)
        words: list[Word] = []
        previous = -1
        # Only entity words are visited one by one (type 0 is "O"); O words matter only as
        # separators, so a gap between two entity words is scanned up to its first visible one.
        for k in np.flatnonzero((best != 0) & (starts < ends)).tolist():
            start, end = _trim(text, int(starts[k]), int(ends[k]))
            if start >= end:
                continue
            if previous >= 0 and _has_text(text, starts, ends, previous + 1, k):
                words.append(Word(start, start, "O", None, 0.0))
            prefix = self._tags[int(prefix_tag[k])][0]
            entity_type = self._types[int(best[k])]
            words.append(Word(start, end, prefix, entity_type, float(score[k])))
            previous = k
        return words


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Return ``(start, end)`` without surrounding whitespace.

    Byte-level BPE offsets may include the leading space (``trim_offsets`` off), and
    whitespace-only tokens ("Ġ", "Ċ") must not split "John  Smith" into two entities.
    """
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _has_text(text: str, starts: IntArray, ends: IntArray, first: int, last: int) -> bool:
    """Return whether any of words ``[first, last)`` covers a non-whitespace character."""
    for k in range(first, last):
        start, end = _trim(text, int(starts[k]), int(ends[k]))
        if start < end:
            return True
    return False


def options_from_settings(settings: Settings) -> TransformerOptions:
    """Build the tier's options from the settings.

    ``transformer_threads`` and ``transformer_label_map`` are read when ``ModelSettings`` has
    them (optional fields); otherwise one intra-op thread and the model directory's
    ``phi_label_map.yaml`` (if any) are used.

    Raises:
        ConfigError: ``settings.models.transformer_path`` is not set.
    """
    models = settings.models
    if models.transformer_path is None:
        raise ConfigError(
            "transformer_onnx.v1 needs settings.models.transformer_path "
            "(PHI_MODELS__TRANSFORMER_PATH)"
        )
    label_map = getattr(models, "transformer_label_map", None)
    return TransformerOptions(
        path=Path(models.transformer_path),
        max_length=models.transformer_max_length,
        stride=models.transformer_stride,
        batch_size=settings.detection.batch_size,
        intra_op_threads=int(getattr(models, "transformer_threads", 1)),
        label_map=Path(label_map) if label_map is not None else None,
    )


@register(NAME)
def transformer_onnx_v1(settings: Settings) -> Recognizer:
    """Build the transformer tier from ``settings.models`` (off unless a path is configured).

    Raises:
        ConfigError: no ``transformer_path``, missing files, or an unusable model/tokenizer.
    """
    return TransformerRecognizer(options_from_settings(settings))


__all__ = [
    "NAME",
    "TransformerOptions",
    "TransformerRecognizer",
    "options_from_settings",
    "plan_windows",
    "transformer_onnx_v1",
]
