"""Build a tiny, deterministic token-classification model directory without torch.

The directory has the layout ``optimum-cli export onnx --task token-classification`` writes
(``model.onnx``, ``tokenizer.json``, ``tokenizer_config.json``, ``config.json`` with
``id2label``), so tests exercise the real loading path of the transformer tier.

The "model" is an ONNX graph: ``logits = table[input_ids] * attention_mask`` where each row of
``table`` is crafted so that a given token id predicts a given label. With ``edge_blind`` > 0 the
graph also adds a large "O" bias to the first and last ``edge_blind`` content positions of each
row (next to ``[CLS]``/``[SEP]``), imitating a real model's weak context at window edges, so a
test can tell whether overlapping windows are reconciled by preferring the central prediction.

Text is synthetic; the vocabulary is a few dozen lowercase word pieces.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]

LABELS = [
    "O",
    "B-PATIENT",
    "I-PATIENT",
    "B-DOCTOR",
    "I-DOCTOR",
    "B-DATE",
    "I-DATE",
    "B-HOSPITAL",
    "I-HOSPITAL",
    "B-AGE",
    "I-AGE",
    "B-PHONE",
    "I-PHONE",
    "B-PROFESSION",
    "I-PROFESSION",
]

#: Word piece -> label it predicts (pieces absent here predict "O").
PIECE_LABELS: dict[str, str] = {
    # "zabrinski" is not in the vocabulary: WordPiece splits it into zab ##rin ##ski.
    "zab": "B-PATIENT",
    "##rin": "I-PATIENT",
    "##ski": "O",  # the average over the word still says PATIENT
    "john": "B-PATIENT",
    "smith": "I-PATIENT",
    "jose": "B-PATIENT",  # "José" once accents are stripped
    "nunez": "I-PATIENT",  # "Núñez"
    "kowal": "I-DOCTOR",  # an I- label with no B- before it
    "mercy": "B-HOSPITAL",
    "general": "I-HOSPITAL",
    "march": "B-DATE",
    "3rd": "I-DATE",
    "2021": "I-DATE",
    "92": "B-AGE",
    "45": "B-AGE",
    "555": "B-PHONE",
    "-": "I-PHONE",  # only ever used inside a phone number in tests
    "0199": "I-PHONE",
    "nurse": "B-PROFESSION",
}

FILLER = [
    "the",
    "patient",
    "was",
    "seen",
    "by",
    "dr",
    "at",
    "on",
    "and",
    "call",
    "age",
    "years",
    "old",
    "in",
    "clinic",
    "note",
    "for",
    "follow",
    "up",
    ".",
    ",",
    ":",
    "(",
    ")",
]

VOCAB: list[str] = [*SPECIAL, *FILLER, *PIECE_LABELS]

#: Logit given to a piece's own label (others get 0); softmax of 8 vs 0 over 15 labels ~ 0.995.
STRENGTH = 8.0


def build_tiny_model(
    directory: Path,
    *,
    edge_blind: int = 0,
    token_type_ids: bool = False,
    model_max_length: int = 512,
    byte_level: bool = False,
) -> Path:
    """Write a tiny token-classification model directory and return it.

    Args:
        directory: where to write (created if missing).
        edge_blind: content positions at each edge of a row forced to predict "O".
        token_type_ids: declare a third ``token_type_ids`` input, as BERT exports do.
        model_max_length: written to ``tokenizer_config.json``.
        byte_level: a RoBERTa-style byte-level BPE tokenizer (``<s> ... </s>``, case-sensitive,
            spaces folded into the next token as ``Ġ``) instead of BERT WordPiece.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if byte_level:
        vocab = _write_byte_level_tokenizer(directory, model_max_length)
    else:
        vocab = VOCAB
        _write_tokenizer(directory, model_max_length)
    _write_config(directory)
    graph = _graph(vocab, edge_blind=edge_blind, token_type_ids=token_type_ids)
    onnx.save(graph, directory / "model.onnx")
    return directory


#: Cased words the byte-level tokenizer is trained on (each becomes one "Ġword" token).
BYTE_LEVEL_WORDS = ["John", "Smith", "Mercy", "General", "March", "3rd", "2021", "Kowal", "Dr"]


def _write_byte_level_tokenizer(directory: Path, model_max_length: int) -> list[str]:
    special = ["<s>", "<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2000,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [" ".join(BYTE_LEVEL_WORDS + FILLER)] * 50
    tok.train_from_iterator(corpus, trainer=trainer)
    vocab_map = tok.get_vocab()
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", vocab_map["</s>"]), ("<s>", vocab_map["<s>"]), trim_offsets=True
    )
    tok.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model_max_length,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    vocab = [""] * len(vocab_map)
    for piece, i in vocab_map.items():
        vocab[i] = piece.removeprefix("Ġ").lower()  # a whole word's token labels like WordPiece's
    return vocab


def _write_tokenizer(directory: Path, model_max_length: int) -> None:
    vocab = {piece: i for i, piece in enumerate(VOCAB)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "BertTokenizerFast",
        "do_lower_case": True,
        "model_max_length": model_max_length,
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    special_map = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]"}
    (directory / "special_tokens_map.json").write_text(
        json.dumps(special_map | {"unk_token": "[UNK]"})
    )


def _write_config(directory: Path) -> None:
    config = {
        "model_type": "bert",
        "architectures": ["BertForTokenClassification"],
        "id2label": {str(i): label for i, label in enumerate(LABELS)},
        "label2id": {label: i for i, label in enumerate(LABELS)},
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))


def _table(vocab: list[str]) -> np.ndarray:
    table = np.zeros((len(vocab), len(LABELS)), dtype=np.float32)
    for i, piece in enumerate(vocab):
        label = PIECE_LABELS.get(piece, "O")
        table[i, LABELS.index(label)] = STRENGTH
    return table


def _graph(vocab: list[str], *, edge_blind: int, token_type_ids: bool) -> onnx.ModelProto:
    num_labels = len(LABELS)
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
    ]
    if token_type_ids:
        inputs.append(
            helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, ["batch", "seq"])
        )
    output = helper.make_tensor_value_info(
        "logits", TensorProto.FLOAT, ["batch", "seq", num_labels]
    )
    o_bias = np.zeros((num_labels,), dtype=np.float32)
    o_bias[0] = 4 * STRENGTH
    inits = [
        numpy_helper.from_array(_table(vocab), "table"),
        numpy_helper.from_array(o_bias, "o_bias"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "axes_last"),
        numpy_helper.from_array(np.array(1, dtype=np.int64), "one"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array(edge_blind, dtype=np.int64), "blind"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_one"),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["emb"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axes_last"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
    ]
    final = "masked"
    if edge_blind > 0:
        # position p (0 = [CLS]) of a row with n real tokens is blind when
        # 1 <= p <= blind or n - 1 - blind <= p <= n - 2.
        nodes += [
            helper.make_node("Shape", ["input_ids"], ["shape"]),
            helper.make_node("Gather", ["shape", "one"], ["seq_len"], axis=0),
            helper.make_node("Range", ["zero", "seq_len", "one"], ["pos"]),  # [seq]
            helper.make_node("ReduceSum", ["attention_mask", "axes_one"], ["n"], keepdims=1),
            helper.make_node("Sub", ["n", "one"], ["last"]),  # [batch, 1]: index of [SEP]
            helper.make_node("Sub", ["last", "pos"], ["from_end"]),  # [batch, seq]
            helper.make_node("GreaterOrEqual", ["pos", "one"], ["left_a"]),
            helper.make_node("LessOrEqual", ["pos", "blind"], ["left_b"]),
            helper.make_node("And", ["left_a", "left_b"], ["left"]),
            helper.make_node("GreaterOrEqual", ["from_end", "one"], ["right_a"]),
            helper.make_node("LessOrEqual", ["from_end", "blind"], ["right_b"]),
            helper.make_node("And", ["right_a", "right_b"], ["right"]),
            helper.make_node("Or", ["left", "right"], ["edge"]),  # [batch, seq]
            helper.make_node("Cast", ["edge"], ["edge_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["edge_f", "axes_last"], ["edge3"]),
            helper.make_node("Mul", ["edge3", "o_bias"], ["bias"]),
            helper.make_node("Add", ["masked", "bias"], ["biased"]),
        ]
        final = "biased"
    nodes.append(helper.make_node("Identity", [final], ["logits"]))
    graph = helper.make_graph(nodes, "tiny_token_classifier", inputs, [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    onnx.checker.check_model(model)
    return model


def _bench(n_docs: int = 200, seed: int = 7) -> dict[str, float]:
    """Time the transformer tier over the tiny model (overhead only: the model is trivial).

    Each synthetic document is ~150 filler words with 5 planted entities; the run checks that
    exactly those are found before it reports docs/s (wall and CPU) for one-by-one and batched
    calls.
    """
    import random
    import tempfile
    import time

    from pipeline.detect.transformer_tier import TransformerOptions, TransformerRecognizer

    rng = random.Random(seed)
    entities = ["John Smith", "Zabrinski", "Mercy General", "March 3rd 2021", "555-0199"]
    plain = [w for w in FILLER if w not in {"(", ")"}]
    docs = []
    for _ in range(n_docs):
        words = [rng.choice(plain) for _ in range(150)]
        for entity in entities:
            words.insert(rng.randrange(1, len(words)), f"the {entity} the")
        docs.append(" ".join(words))
    with tempfile.TemporaryDirectory() as tmp:
        rec = TransformerRecognizer(TransformerOptions(build_tiny_model(Path(tmp) / "m")))
        rec.find_batch(docs[:4])  # warm-up
        result: dict[str, float] = {"docs": n_docs, "chars": sum(map(len, docs))}
        for mode in ("single", "batch32"):
            wall, cpu = time.perf_counter(), time.process_time()
            if mode == "single":
                spans = [rec.find(d) for d in docs]
            else:
                spans = [s for i in range(0, n_docs, 32) for s in rec.find_batch(docs[i : i + 32])]
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if any(len(s) != len(entities) for s in spans):
                raise SystemExit(f"{mode}: wrong number of spans")
            result[f"{mode}_docs_per_s_wall"] = round(n_docs / wall, 1)
            result[f"{mode}_docs_per_s_cpu"] = round(n_docs / cpu, 1)
    return result


if __name__ == "__main__":
    print(json.dumps(_bench()))
