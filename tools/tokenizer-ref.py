#!/usr/bin/env python3
"""Reference token ids for tests/tokenizer.rs, from Hugging Face `tokenizers` (an independent BPE
implementation) configured like SmolLM2's tokenizer.json: byte-level BPE over the GGUF's vocab and
merges, pre-tokenizer Sequence[Digits(individual), ByteLevel(no prefix space, GPT-2 regex)], the
17 control tokens as special added tokens.

    python3 -m venv /tmp/tokpy && /tmp/tokpy/bin/pip install tokenizers gguf numpy
    /tmp/tokpy/bin/python tools/tokenizer-ref.py ~/.cache/ecq/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        > tests/data/smollm2-tokens.json
"""
import json
import sys

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

CASES = [
    "The capital of France is",
    "Hello, world!",
    "  leading spaces and trailing   ",
    "don't I'll we've they're she'd it's",
    "1234567890 and 3.14159 or 1,000,000",
    "tabs\tand\nnewlines\n\n\nand\r\ncarriage returns",
    "naïve café résumé über Straße",
    "日本語のテキスト and 中文",
    "emoji 🦀🚀 and symbols ©®™ ±×÷",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|><|endoftext|>",
    "not special: <|im_start and im_end|>",
    "fn main() { println!(\"{}\", x[0] + 42); }",
    "    indented code\n        more",
    "a" * 50,
    "ALL CAPS WORDS, MixedCase and snake_case_names",
    "",
    " ",
    "\n",
    "Paris.",
    "bytes without a token are dropped: a\x04b !\x04! \x1d",
]


def main(path):
    r = gguf.GGUFReader(path)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    types = r.fields["tokenizer.ggml.token_type"].contents()
    merges = r.fields["tokenizer.ggml.merges"].contents()
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab, [tuple(m.split(" ", 1)) for m in merges])
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    out = []
    for text in CASES:
        ids = tok.encode(text, add_special_tokens=False).ids
        lossless = tok.decode(ids, skip_special_tokens=False) == text
        assert lossless or "dropped" in text, text
        out.append({"text": text, "ids": ids, "lossless": lossless})
    json.dump(out, sys.stdout, ensure_ascii=False, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
