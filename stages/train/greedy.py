"""Greedy decoding with PyTorch from a train artifact: the reference for the ONNX runtime.

Usage: python greedy.py MODEL_DIR INPUTS.json MAX_LEN
INPUTS.json is a list of sequence token texts (`<+> n1 <+> n4 ...`); prints a JSON list of the
greedy program texts (no grammar mask), decoded in one padded batch.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tokenizers import Tokenizer  # noqa: E402
from transformers import T5ForConditionalGeneration  # noqa: E402

from train import Vocab, greedy  # noqa: E402


def main():
    model_dir, inputs, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = T5ForConditionalGeneration.from_pretrained(model_dir, attn_implementation="eager")
    vocab = Vocab(Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json")))
    texts = json.load(open(inputs))
    ids = [vocab.encode(t) for t in texts]
    print(json.dumps({"programs": greedy(model, vocab, ids, max_len, "cpu", batch=len(ids)), "ids": ids}))


if __name__ == "__main__":
    main()
