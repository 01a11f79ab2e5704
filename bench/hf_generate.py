"""The reference for bench/search.sh: Hugging Face `generate(num_beams=B)` (unconstrained beam
search in PyTorch) on the same weights and the same targets as the Rust search, in the same run.
Prints one line: targets/s, and how many of the returned programs parse (seqsynth's parser).

Usage: python bench/hf_generate.py MODEL_DIR TARGETS_PARQUET N BEAMS THREADS SEQSYNTH
"""

import subprocess
import sys
import time

import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer
from transformers import T5ForConditionalGeneration


def spell(term, spelling):
    neg = term.startswith("-")
    mag = term.lstrip("-").lstrip("0") or "0"
    out = ["<->" if neg else "<+>"]
    if len(mag) > 10 or int(mag) > 1_000_000_000:
        return out + ["<nan>"]
    v = int(mag)
    if spelling == "base1000":
        chunks = []
        while True:
            chunks.append(v % 1000)
            v //= 1000
            if v == 0:
                break
        return out + [f"k{c}" for c in reversed(chunks)]
    return out + [f"n{d}" for d in str(v)]


def main():
    model_dir, targets, n, beams, threads, seqsynth = sys.argv[1:7]
    n, beams, threads = int(n), int(beams), int(threads)
    torch.set_num_threads(threads)
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    ids = tok.get_vocab(with_added_tokens=True)
    inv = {i: t for t, i in ids.items()}
    pad, eos = ids["<pad>"], ids["</s>"]
    spelling = "base1000" if "k0" in ids else "decimal"
    rows = pq.read_table(targets, columns=["terms"]).to_pydict()["terms"][:n]
    inputs = [[ids[t] for term in r[:25] for t in spell(term, spelling)] + [eos] for r in rows]
    model = T5ForConditionalGeneration.from_pretrained(model_dir).eval()
    programs = []
    start = time.time()
    with torch.no_grad():
        for i in range(0, len(inputs), 8):
            chunk = inputs[i : i + 8]
            width = max(len(x) for x in chunk)
            x = torch.tensor([c + [pad] * (width - len(c)) for c in chunk])
            out = model.generate(input_ids=x, attention_mask=(x != pad).long(), num_beams=beams,
                                 num_return_sequences=beams, max_new_tokens=48, do_sample=False,
                                 decoder_start_token_id=pad, eos_token_id=eos, pad_token_id=pad)
            for row in out.tolist():
                toks = [inv[t] for t in row[1:] if t not in (pad, eos)]
                programs.append(" ".join(toks))
    secs = time.time() - start
    text = "\n".join(p if p.strip() else "-" for p in programs) + "\n"
    res = subprocess.run([seqsynth, "dsl", "eval", "-"], input=text, capture_output=True, text=True)
    parsed = sum(not l.startswith("error: parse") for l in res.stdout.split("\n")[: len(programs)])
    print(f"Hugging Face generate(num_beams={beams}), {threads} threads: {len(inputs)} targets in "
          f"{secs:.1f}s = {len(inputs) / secs:.2f} targets/s; {parsed} of {len(programs)} programs parse")


if __name__ == "__main__":
    main()
