"""seqsynth train stage: finetunes a T5 policy on (sequence -> program) pairs and exports ONNX.

Iteration 0 finetunes from random weights or a checkpoint; iteration k continues from the model of
iteration k-1 (`init.kind = checkpoint` with `seqsynth_vocab`) on the pairs drawn by `sample@k`.

Started by the Rust runner (`seqsynth run stage=train`), which prepares the data and passes one
JSON file of settings (see `Settings` below). Everything this program writes goes into
`settings.out` (the stage's staging directory, committed atomically by the runner only if this
program exits 0):

- `config.json`, `model.safetensors`, `generation_config.json`: the weights (save_pretrained), to
  continue from in the next meta-iteration;
- `tokenizer.json`: the vocabulary (seqsynth's, or a checkpoint's own extended with seqsynth's
  tokens);
- `encoder.onnx`, `decoder_init.onnx`, `decoder_step.onnx`: the ONNX graphs for the Rust search
  (the decoder steps carry a self-attention key/value cache, and the first step also returns the
  cross-attention keys/values that later steps take as inputs; see `export_onnx`);
- `metrics.json`: per-epoch training loss, validation metric and timing, and the selected epoch.

Validation follows the paper: greedy decoding of the validation sequences, metric = % of terms
26..35 reproduced, with the programs executed by seqsynth's own evaluator (`seqsynth dsl eval -`).
"""

import argparse
import copy
import json
import math
import os
import random
import subprocess
import sys
import time

import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer
from transformers import T5Config, T5ForConditionalGeneration
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

# Named model sizes. `t5-small` is the architecture of CodeTrans/T5-small used in the paper.
SIZES = {
    "tiny": dict(d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=2),
    "small": dict(d_model=256, d_ff=1024, d_kv=32, num_heads=8, num_layers=4, num_decoder_layers=4),
    "t5-small": dict(d_model=512, d_ff=2048, d_kv=64, num_heads=8, num_layers=6, num_decoder_layers=6),
}


def log(msg):
    print(f"[train] {msg}", file=sys.stderr, flush=True)


def load_pairs(path):
    t = pq.read_table(path).to_pydict()
    return t["source"], t["target"], t.get("terms")


class Vocab:
    """Whitespace split + lookup, then </s>: the same rule as the Rust side (model/tokenizer.rs)."""

    def __init__(self, tok):
        self.tok = tok
        self.ids = tok.get_vocab(with_added_tokens=True)
        self.inv = {i: t for t, i in self.ids.items()}
        self.pad = self.ids["<pad>"]
        self.eos = self.ids["</s>"]

    def encode(self, text):
        return [self.ids[p] for p in text.split()] + [self.eos]

    def decode(self, ids):
        out = []
        for i in ids:
            if i == self.eos:
                break
            if i == self.pad:
                continue
            out.append(self.inv.get(i, "<unk>"))
        return " ".join(out)


def extend_tokenizer(path_in, seqsynth_tokens, path_out):
    """A checkpoint's own tokenizer with every seqsynth token added as a whole token."""
    tok = Tokenizer.from_file(path_in)
    have = tok.get_vocab(with_added_tokens=True)
    new = [t for t in seqsynth_tokens if t not in have]
    from tokenizers import AddedToken

    specials = {"<pad>", "</s>", "<unk>"}
    tok.add_special_tokens([AddedToken(t, normalized=False) for t in new if t in specials])
    tok.add_tokens([AddedToken(t, normalized=False, single_word=False) for t in new if t not in specials])
    tok.save(path_out)
    return len(new)


def build_model(s, vocab_size, pad, eos):
    init = s["init"]
    if init["kind"] == "random":
        cfg = T5Config(
            vocab_size=vocab_size,
            pad_token_id=pad,
            eos_token_id=eos,
            decoder_start_token_id=pad,
            dropout_rate=s["dropout"],
            feed_forward_proj="relu",
            tie_word_embeddings=True,
            **SIZES[s["size"]],
        )
        torch.manual_seed(s["seed"])
        model = T5ForConditionalGeneration(cfg)
    else:
        model = T5ForConditionalGeneration.from_pretrained(init["path"])
        model.config.pad_token_id = pad
        model.config.eos_token_id = eos
        model.config.decoder_start_token_id = pad
    if model.get_input_embeddings().weight.shape[0] != vocab_size:
        model.resize_token_embeddings(vocab_size)
    # eager attention traces to ONNX with dynamic shapes (sdpa bakes in causal flags)
    model.set_attn_implementation("eager")
    return model


def batches(n, size, rng, lengths=None, group=50):
    """Shuffled batches of `size` indices. With `lengths`, batches are grouped by length (the
    indices are shuffled, cut into pools of `group` batches, each pool sorted by length and cut
    into batches, and the batches shuffled): less padding for the same randomness of order."""
    idx = list(range(n))
    rng.shuffle(idx)
    if lengths is None:
        out = [idx[i : i + size] for i in range(0, n, size)]
    else:
        out = []
        pool = size * group
        for p in range(0, n, pool):
            chunk = sorted(idx[p : p + pool], key=lambda i: lengths[i])
            out.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
        rng.shuffle(out)
    yield from out


def pad_to(seqs, value):
    width = max(len(x) for x in seqs)
    return torch.tensor([x + [value] * (width - len(x)) for x in seqs], dtype=torch.long)


def greedy(model, vocab, inputs, max_len, device, batch=64):
    """Unconstrained greedy decoding (the paper's validation decoding)."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            chunk = inputs[i : i + batch]
            ids = pad_to(chunk, vocab.pad).to(device)
            mask = (ids != vocab.pad).long()
            gen = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_len,
                do_sample=False,
                num_beams=1,
                decoder_start_token_id=vocab.pad,
                eos_token_id=vocab.eos,
                pad_token_id=vocab.pad,
            )
            for row in gen.tolist():
                out.append(vocab.decode(row[1:]))
    return out


HEADER = ["lambda", "[", "#0", "]", "("]


def greedy_constrained(model, vocab, inputs, max_len, device, seqsynth, batch=64):
    """Greedy decoding restricted to the DSL's grammar, as the Rust search is: at each step the
    best-scoring token among those the grammar allows next and that still let the program close
    within max_len tokens (asked of `seqsynth dsl next`, the one automaton of the project). The
    fixed header `lambda [ #0 ] (` is given, not decoded. Every result is a whole program unless
    the grammar gives no token the vocabulary has."""
    model.eval()
    proc = subprocess.Popen([seqsynth, "dsl", "next", "--max-len", str(max_len)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(inputs), batch):
                chunk = inputs[i : i + batch]
                ids = pad_to(chunk, vocab.pad).to(device)
                mask = (ids != vocab.pad).long()
                hidden = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
                progs = [list(HEADER) for _ in chunk]
                active = list(range(len(chunk)))
                while active:
                    for j in active:
                        proc.stdin.write(" ".join(progs[j]) + "\n")
                    proc.stdin.flush()
                    allowed = {}
                    for j in active:
                        line = proc.stdout.readline()
                        if not line:
                            raise RuntimeError(f"seqsynth dsl next ended early (exit {proc.poll()})")
                        line = line.strip()
                        if line == "</s>" or line.startswith("error") or len(progs[j]) >= max_len:
                            continue
                        ok = [vocab.ids[t] for t in line.split() if t in vocab.ids]
                        if ok:
                            allowed[j] = ok
                    active = [j for j in active if j in allowed]
                    if not active:
                        break
                    # every active program has the same length: one token per step each
                    dec = torch.tensor([[vocab.pad] + [vocab.ids[t] for t in progs[j]] for j in active],
                                       dtype=torch.long, device=device)
                    rows = torch.tensor(active, dtype=torch.long, device=device)
                    logits = model(encoder_outputs=(hidden[rows],), attention_mask=mask[rows],
                                   decoder_input_ids=dec).logits[:, -1, :].float()
                    for r, j in enumerate(active):
                        cand = torch.tensor(allowed[j], dtype=torch.long, device=device)
                        best = allowed[j][int(torch.argmax(logits[r, cand]))]
                        progs[j].append(vocab.inv[best])
                out.extend(" ".join(p) for p in progs)
    finally:
        proc.stdin.close()
        code = proc.wait()
    if code != 0:
        raise RuntimeError(f"seqsynth dsl next failed (exit {code})")
    return out


def evaluate_programs(seqsynth, programs, dsl):
    """Terms of each program through seqsynth's own evaluator (None for errors)."""
    args = [seqsynth, "dsl", "eval", "-", "--len", str(dsl["input_len"]),
            "--max-steps", str(dsl["max_steps"]), "--max-abs-exp", str(dsl["max_abs_exp"])]
    text = "\n".join(p if p.strip() else "-" for p in programs) + "\n"
    res = subprocess.run(args, input=text, capture_output=True, text=True, check=True)
    lines = res.stdout.split("\n")[: len(programs)]
    return [None if l.startswith("error") else ([] if l == "" else l.split(",")) for l in lines]


def parse_failures(seqsynth, programs):
    """How many of the programs are not programs of the DSL (through seqsynth's own parser)."""
    text = "\n".join(p if p.strip() else "-" for p in programs) + "\n"
    res = subprocess.run([seqsynth, "dsl", "eval", "-", "--max-steps", "1"], input=text,
                         capture_output=True, text=True, check=True)
    return sum(l.startswith("error: parse") for l in res.stdout.split("\n")[: len(programs)])


def metric(predicted, targets, first, last):
    """% of target terms first..last (1-based) that the predicted outputs reproduce."""
    hit = total = 0
    for p, t in zip(predicted, targets):
        for i in range(first - 1, min(last, len(t))):
            total += 1
            if p is not None and i < len(p) and p[i] == t[i]:
                hit += 1
    return 100.0 * hit / total if total else 0.0


class DecoderInit(torch.nn.Module):
    """First decoder step: logits, the self-attention cache and the cross-attention keys/values
    (key, value per layer each). The cross-attention projections of the encoder states are the
    costly part of a step; computed once here, later steps take them as inputs."""

    def __init__(self, model):
        super().__init__()
        self.m = model

    def forward(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask):
        logits, cache = self.decode(decoder_input_ids, encoder_hidden_states, encoder_attention_mask,
                                    DynamicCache(), DynamicCache())
        return (logits, *flat_cache(cache.self_attention_cache), *flat_cache(cache.cross_attention_cache))

    def decode(self, ids, encoder_hidden_states, encoder_attention_mask, self_cache, cross_cache):
        """Runs the decoder on `ids` after the caches; returns logits and the new cache."""
        out = self.m.decoder(
            input_ids=ids,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            past_key_values=EncoderDecoderCache(self_cache, cross_cache),
            use_cache=True,
            return_dict=True,
        )
        h = out.last_hidden_state
        if self.m.config.tie_word_embeddings:
            h = h * (self.m.model_dim**-0.5)
        return self.m.lm_head(h), out.past_key_values


class DecoderStep(DecoderInit):
    """Later decoder steps: the new token, the encoder mask, the self-attention cache and the
    cross-attention keys/values in; logits and the extended self-attention cache out. (The
    encoder states are an input too: T5 takes the cross-attention mask's shape from them.)"""

    def forward(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask, *past):
        n = len(past) // 4
        self_cache, cross_cache = DynamicCache(), DynamicCache()
        for layer in range(n):
            self_cache.update(past[2 * layer], past[2 * layer + 1], layer)
            cross_cache.update(past[2 * n + 2 * layer], past[2 * n + 2 * layer + 1], layer)
        logits, cache = self.decode(decoder_input_ids, encoder_hidden_states, encoder_attention_mask,
                                    self_cache, cross_cache)
        return (logits, *flat_cache(cache.self_attention_cache))


def flat_cache(cache):
    flat = []
    for layer in cache.layers:
        flat += [layer.keys, layer.values]
    return flat


class Encoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.enc = model.get_encoder()

    def forward(self, input_ids, attention_mask):
        return self.enc(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state


def export_onnx(model, out_dir, opset=17):
    """Exports encoder, decoder_init and decoder_step with dynamic batch and lengths."""
    model = model.to("cpu").float().eval()
    model.set_attn_implementation("eager")
    n_layers = model.config.num_decoder_layers
    ids = torch.tensor([[3, 10, 4, 11, 1], [3, 12, 1, 0, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    with torch.no_grad():
        enc = Encoder(model)
        hidden = enc(ids, mask)
        torch.onnx.export(
            enc, (ids, mask), os.path.join(out_dir, "encoder.onnx"),
            input_names=["input_ids", "attention_mask"], output_names=["hidden"],
            dynamic_axes={"input_ids": {0: "batch", 1: "src"}, "attention_mask": {0: "batch", 1: "src"},
                          "hidden": {0: "batch", 1: "src"}},
            opset_version=opset, dynamo=False,
        )
        past_names = [f"past.{l}.{kv}" for l in range(n_layers) for kv in ("key", "value")]
        present_names = [f"present.{l}.{kv}" for l in range(n_layers) for kv in ("key", "value")]
        cross_names = [f"cross.{l}.{kv}" for l in range(n_layers) for kv in ("key", "value")]
        cache_axes = {0: "batch", 2: "past"}
        cross_axes = {0: "batch", 2: "src"}
        start = torch.zeros((2, 1), dtype=torch.long)
        init = DecoderInit(model)
        torch.onnx.export(
            init, (start, hidden, mask), os.path.join(out_dir, "decoder_init.onnx"),
            input_names=["decoder_input_ids", "encoder_hidden_states", "encoder_attention_mask"],
            output_names=["logits", *present_names, *cross_names],
            dynamic_axes={"decoder_input_ids": {0: "batch", 1: "tgt"},
                          "encoder_hidden_states": {0: "batch", 1: "src"},
                          "encoder_attention_mask": {0: "batch", 1: "src"},
                          "logits": {0: "batch", 1: "tgt"},
                          **{n: cache_axes for n in present_names},
                          **{n: cross_axes for n in cross_names}},
            opset_version=opset, dynamo=False,
        )
        # example past of length 2 (batch >= 2 and lengths >= 2 keep the axes dynamic)
        two = torch.zeros((2, 2), dtype=torch.long)
        _, *past = init(two, hidden, mask)
        step = DecoderStep(model)
        torch.onnx.export(
            step, (start, hidden, mask, *past), os.path.join(out_dir, "decoder_step.onnx"),
            input_names=["decoder_input_ids", "encoder_hidden_states", "encoder_attention_mask", *past_names,
                         *cross_names],
            output_names=["logits", *present_names],
            dynamic_axes={"decoder_input_ids": {0: "batch"},
                          "encoder_hidden_states": {0: "batch", 1: "src"},
                          "encoder_attention_mask": {0: "batch", 1: "src"},
                          "logits": {0: "batch"},
                          **{n: cache_axes for n in past_names},
                          **{n: cross_axes for n in cross_names},
                          **{n: {0: "batch", 2: "total"} for n in present_names}},
            opset_version=opset, dynamo=False,
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("settings", help="JSON file written by the Rust runner")
    s = json.load(open(ap.parse_args().settings))
    out = s["out"]
    torch.manual_seed(s["seed"])
    random.seed(s["seed"])
    device = "cuda" if torch.cuda.is_available() and not s.get("force_cpu") else "cpu"
    if s.get("threads"):
        torch.set_num_threads(s["threads"])
    if device == "cuda":
        # the same bytes for one key on one GPU model (the key names the GPU): deterministic
        # kernels where PyTorch has them (CUBLAS_WORKSPACE_CONFIG is set by the runner); an op
        # without one warns into the stage's log instead of failing
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    log(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")

    # vocabulary: seqsynth's, or the checkpoint's own extended with seqsynth's tokens
    tok_out = os.path.join(out, "tokenizer.json")
    init = s["init"]
    ck_tok = os.path.join(init.get("path", ""), "tokenizer.json")
    if init["kind"] == "checkpoint" and os.path.exists(ck_tok) and not init.get("seqsynth_vocab"):
        added = extend_tokenizer(ck_tok, s["seqsynth_tokens"], tok_out)
        log(f"checkpoint tokenizer extended with {added} seqsynth tokens")
    else:
        with open(s["tokenizer"]) as f_in, open(tok_out, "w") as f_out:
            f_out.write(f_in.read())
    vocab = Vocab(Tokenizer.from_file(tok_out))

    src, tgt, _ = load_pairs(s["train"])
    vsrc, vtgt, vterms = load_pairs(s["validation"])
    x = [vocab.encode(t) for t in src]
    y = [vocab.encode(t) for t in tgt]
    if s.get("validate_size") and len(vsrc) > s["validate_size"]:
        # model selection on the first validate_size validation pairs (a fixed subset)
        vsrc, vtgt, vterms = vsrc[: s["validate_size"]], vtgt[: s["validate_size"]], vterms[: s["validate_size"]]
    vx = [vocab.encode(t) for t in vsrc]
    log(f"{len(x)} training pairs, {len(vx)} validation pairs, vocabulary {len(vocab.ids)}")

    model = build_model(s, len(vocab.ids), vocab.pad, vocab.eos).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"])
    use_bf16 = device == "cuda"
    rng = random.Random(s["seed"])
    history = []
    timings = []
    best = (-1.0, None, None)
    steps = 0
    lengths = [len(a) + len(b) for a, b in zip(x, y)] if s.get("group_by_length") else None
    log_every = s.get("log_every_steps") or 0
    for epoch in range(1, s["epochs"] + 1):
        model.train()
        t0 = time.time()
        # the loss is summed on the device: no host sync per step
        total = torch.zeros((), device=device)
        count = 0
        for b in batches(len(x), s["batch_size"], rng, lengths):
            ids = pad_to([x[i] for i in b], vocab.pad).to(device, non_blocking=True)
            labels = pad_to([y[i] for i in b], -100).to(device, non_blocking=True)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(input_ids=ids, attention_mask=(ids != vocab.pad).long(), labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().float() * len(b)
            count += len(b)
            steps += 1
            if log_every and steps % log_every == 0:
                log(f"epoch {epoch} step {steps}: {count / (time.time() - t0):.0f} pairs/s")
        total = float(total)
        train_s = time.time() - t0
        # metrics.json is part of the artifact, so it holds only what is reproducible; wall times
        # go to a separate file that the Rust runner moves into the manifest
        row = {"epoch": epoch, "train_loss": total / max(count, 1), "steps": steps}
        timing = {"epoch": epoch, "train_seconds": train_s,
                  "pairs_per_second": count / train_s if train_s > 0 else None}
        if vx and (epoch % s["validate_every"] == 0 or epoch == s["epochs"]):
            t1 = time.time()
            if s.get("validate_grammar"):
                progs = greedy_constrained(model, vocab, vx, s["max_program_len"], device, s["seqsynth"])
            else:
                progs = greedy(model, vocab, vx, s["max_program_len"], device)
            preds = evaluate_programs(s["seqsynth"], progs, s["dsl"])
            row["val_metric"] = metric(preds, vterms, s["metric_first"], s["metric_last"])
            # valid programs, and programs that also evaluate without an error on [1..L]
            row["val_parsed"] = 1 - parse_failures(s["seqsynth"], progs) / len(progs)
            row["val_evaluated"] = sum(p is not None for p in preds) / len(preds)
            timing["val_seconds"] = time.time() - t1
            # ties go to the later epoch: it has trained longer on the same data (with the
            # local default's metric of 0 the earliest epoch would otherwise always be kept)
            if row["val_metric"] >= best[0]:
                best = (row["val_metric"], epoch, copy.deepcopy(model.state_dict()))
        history.append(row)
        timings.append(timing)
        log(json.dumps({**row, **timing}))
    if best[2] is not None:
        model.load_state_dict(best[2])
    selected = best[1] or s["epochs"]
    log(f"selected epoch {selected} (validation metric {best[0]:.2f})")

    model = model.to("cpu").float()
    model.save_pretrained(out, safe_serialization=True)
    export_onnx(model, out)
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"epochs": history, "selected_epoch": selected, "device": device,
                   "precision": "bf16" if use_bf16 else "fp32",
                   "size": s["size"], "init": init["kind"]}, f, indent=1)
    if s.get("timings_out"):
        with open(s["timings_out"], "w") as f:
            json.dump({"epochs": timings}, f, indent=1)
    if s.get("reference_inputs"):
        # greedy programs of PyTorch itself for given inputs, for the ONNX cross-check
        ref = json.load(open(s["reference_inputs"]))
        progs = greedy(model, vocab, [vocab.encode(t) for t in ref], s["max_program_len"], "cpu")
        with open(s["reference_out"], "w") as f:
            json.dump(progs, f)


if __name__ == "__main__":
    main()
