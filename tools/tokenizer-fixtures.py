#!/usr/bin/env python3
"""Reference tokenizations for tests/tokenizer.rs, from llama.cpp's own tokenizer through
llama-cpp-python (`Llama(path, vocab_only=True)`), and chat prompts rendered by Jinja2 from the
models' real templates. CI does not run this; it runs the Rust tests that read its output.

    V=/path/to/venv   # llama-cpp-python (0.3.x), gguf, jinja2
    $V/bin/python tools/tokenizer-fixtures.py LLAMA_CPP_DIR SMOLLM2_GGUF [QWEN25_GGUF]

LLAMA_CPP_DIR is the llama.cpp source the package was built from (its models/ holds the vocab-only
GGUFs, copied to tests/data/tokenizer/ with their .inp/.out files). Writes
tests/data/tokenizer/<name>.json for each vocabulary:

- cases: text, then the ids of llama_tokenize with (add_special, parse_special) = (false, true)
  `ids`, (false, false) `plain`, (true, true) `prompt`, and llama_detokenize(ids, remove_special
  false, unparse_special true) `decoded`;
- the special ids, add_bos/add_eos, the end-of-generation set, the control tokens, and a SHA-256
  over every token's piece (llama_token_to_piece, special on and off), which checks the decoding
  of the whole vocabulary without storing it.

tests/data/tokenizer/chat.json holds rendered chat prompts and their ids. With QWEN25_GGUF (the real
Qwen2.5 model, too large for CI) qwen2.5.json is written too, for an opt-in test.
"""
import ctypes
import datetime
import hashlib
import json
import os
import random
import struct
import sys
import tempfile

import gguf
import jinja2
import jinja2.sandbox
import llama_cpp
from llama_cpp import Llama

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "tokenizer")

# llama.cpp's models/ggml-vocab-*.gguf that the tests read (fetched into the cache by
# `tools/fetch-weights.sh vocabs`, not committed): the smallest set with one file per
# pre-tokenizer type and tokenizer model.
VOCABS = ["gpt-2", "llama-bpe", "qwen2", "llama-spm"]

CORPUS = [
    # Plain text and punctuation.
    "The capital of France is",
    "Hello, world! How are you?",
    "Mr. O'Neil's dog (a 'good boy') barked... twice!?",
    # Contractions, both cases (Llama 3 and Qwen2 fold case, GPT-2 does not).
    "don't I'll we've they're she'd it's I'M YOU'RE He'S 'tis o'clock",
    "'s 'S 'll 'LL 're 've 'd 'm 't ' s'",
    "'Twas HE'SAID I'Mhere 'LLAMA 'ReS'd we'VEgot",
    # Digits and numbers.
    "1234567890 and 3.14159 or 1,000,000.00 and 12345678901234567890",
    "31415926535897932384626433832795028841971693993751058209749445923",
    "year 2024, 7 days, 0.5%, -42, +3e10, 0x1F, v1.2.3, 10:30am, 2nd",
    "abc123def 4567xyz 89",
    "Arabic-Indic ٣٤٥٦, Devanagari १२३, fullwidth １２３４, superscript x²³, ½ ¾, Ⅻ, ①②",
    # Whitespace runs.
    "  leading spaces and trailing   ",
    "tabs\tand\t\ttabs\nnewlines\n\n\nand\r\ncarriage returns\r\r\n",
    "a  b   c    d     e",
    "     \n\n   \t\t  \n",
    "line one   \nline two\t\n   indented\n\n\n",
    " ",
    "\n",
    "\t",
    "   ",
    "",
    "x \u00a0y\u3000z\u2009w \u2028v\u0085u",
    "word \n\nword",
    # Unicode.
    "naïve café résumé über Straße Ærøskøbing ÅSA",
    "decomposed: cafe\u0301 n\u0303 a\u0308\u0301",
    "日本語のテキスト and 中文 and 한국어 텍스트",
    "我爱北京天安门，天安门上太阳升。",
    "Привет, мир! Γειά σου Κόσμε! Ελληνικά",
    "مرحبا بالعالم! שלום עולם! hello مرحبا",
    "हिन्दी में लिखा गया पाठ और ภาษาไทย",
    "emoji 🦀🚀 and 👨‍👩‍👧‍👦 family, 🇫🇷 flag, 👍🏽 thumbs, ❤️ heart",
    "symbols ©®™ ±×÷ ∑∫√∞ ≤≥≠ →⇒ €£¥ §¶ •…",
    "zero\u200bwidth\u200c\u200djoiners\ufeffbom",
    "controls \x00\x01\x07\x1b[0m\x7f end",
    "unassigned \u0378 private \ue000 new-in-16 \u1c89 \U0002ebf0",
    # Code.
    'fn main() { println!("{}", x[0] + 42); }',
    "def f(x):\n    if x > 0:\n        return x ** 2\n    return -x  # negative\n",
    '{"key": [1, 2.5, null, true], "nested": {"a": "b\\n"}}',
    "<div class=\"a\">Hello&nbsp;<b>world</b></div>\n<!-- comment -->",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}",
    "SELECT * FROM users WHERE id = 7 AND name LIKE '%o%';",
    "    indented code\n        more",
    "$ ls -la ~/.cache | grep -v '^d' && echo \"done\" >> log.txt",
    # Repetition.
    "a" * 100,
    " " * 64 + "x",
    "\n" * 20,
    "ab" * 40,
    "!!!???...---___===",
    "ALL CAPS WORDS, MixedCase, camelCaseNames and snake_case_names",
]

# Special-token texts in context, per vocabulary (control tokens need parse_special).
SPECIAL_CASES = {
    "gpt-2": ["<|endoftext|>Hello<|endoftext|>", "a <|endoftext|> b", "<|endoftext"],
    "smollm2": [
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|><|im_end|><|endoftext|>",
        "not special: <|im_start and im_end|>",
        " <|im_start|> spaced <|im_end|> ",
    ],
    "llama-bpe": [
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "text<|eot_id|>more text <|end_of_text|>",
        "<|reserved_special_token_5|><|reserved_special_token_50|>",
        "<|start_header_id|",
    ],
    "qwen2": [
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
        "<|endoftext|>[PAD151646] and [PAD151700]x",
        "  <|im_end|>  ",
    ],
    "qwen2.5": [
        "<|im_start|>user\n<tool_call>\n{\"name\": \"f\"}\n</tool_call><|im_end|>",
        "<|fim_prefix|>def f():\n<|fim_suffix|>\n<|fim_middle|>",
        "<|vision_start|><|image_pad|><|vision_end|>",
    ],
    "llama-spm": [
        "<s>[INST] Hello [/INST] Hi</s>",
        "text</s>more<s> text",
        "<unk> is unknown",
        " <s> ",
    ],
}

# Pieces for random strings: they meet at every kind of boundary.
POOL = (
    list("abcxyzABCXYZ0123456789") * 3
    + [" ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000"]
    + list(".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`")
    + ["'s", "'T", "'ll", "'RE", "n't", "'d"]
    + ["é", "ß", "ñ", "Ж", "λ", "中", "文", "日本", "한", "ع", "ש", "ह", "ि", "\u0301", "\u200d", "٣", "１", "²"]
    + ["🦀", "👍🏽", "🇫🇷", "€", "©", "\ufffd", "\x01", "\x7f"]
    + ["the", " the", "ing", "tion", "123", "4567", "...", "---", "    "]
)


def random_cases(seed, n):
    rng = random.Random(seed)
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 40))) for _ in range(n)]


class Vocab:
    def __init__(self, path):
        self.llm = Llama(path, vocab_only=True, verbose=False)
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.n = llama_cpp.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, text, add_special, parse_special):
        b = text.encode("utf-8")
        cap = len(b) + 16
        buf = (llama_cpp.llama_token * cap)()
        n = llama_cpp.llama_tokenize(self.vocab, b, len(b), buf, cap, add_special, parse_special)
        assert n >= 0, (text, n)
        return list(buf[:n])

    def piece(self, tok, special):
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, 256, 0, special)
        assert 0 <= n <= 256, (tok, n)
        return buf.raw[:n]

    def detokenize(self, ids):
        arr = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
        cap = 64 + 64 * len(ids)
        buf = ctypes.create_string_buffer(cap)
        n = llama_cpp.llama_detokenize(self.vocab, arr, len(ids), buf, cap, False, True)
        assert 0 <= n <= cap, n
        return buf.raw[:n]

    def token_id(self, f):
        t = f(self.vocab)
        return None if t < 0 else t

    def summary(self):
        h_special, h_display = hashlib.sha256(), hashlib.sha256()
        for t in range(self.n):
            for h, special in ((h_special, True), (h_display, False)):
                p = self.piece(t, special)
                h.update(struct.pack("<I", len(p)) + p)
        attrs = [llama_cpp.llama_vocab_get_attr(self.vocab, t) for t in range(self.n)]
        return {
            "n_tokens": self.n,
            "bos": self.token_id(llama_cpp.llama_vocab_bos),
            "eos": self.token_id(llama_cpp.llama_vocab_eos),
            "eot": self.token_id(llama_cpp.llama_vocab_eot),
            "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(self.vocab)),
            "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(self.vocab)),
            "end_of_generation": [t for t in range(self.n) if llama_cpp.llama_vocab_is_eog(self.vocab, t)],
            "control": [t for t, a in enumerate(attrs) if a & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL],
            "pieces_sha256": h_special.hexdigest(),
            "display_pieces_sha256": h_display.hexdigest(),
        }


def text_field(b):
    try:
        return {"decoded": b.decode("utf-8")}
    except UnicodeDecodeError:
        return {"decoded_hex": b.hex()}


def fixture(v, texts, source):
    cases = []
    for text in texts:
        ids = v.tokenize(text, False, True)
        case = {"text": text, "ids": ids}
        plain = v.tokenize(text, False, False)
        if plain != ids:
            case["plain"] = plain
        prompt = v.tokenize(text, True, True)
        if prompt != ids:
            case["prompt"] = prompt
        case.update(text_field(v.detokenize(ids)))
        cases.append(case)
    return {"source": source, "llama_cpp_python": llama_cpp.__version__, **v.summary(), "cases": cases}


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {os.path.getsize(path)} bytes", file=sys.stderr)


def inp_texts(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n__ggml_vocab_test__\n")


def with_metadata(src, dst, flags, renamed):
    """A copy of the vocabulary GGUF `src` with bool keys `flags` set and tokens `renamed`
    ([id, text, type] each)."""
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, arch=r.fields["general.architecture"].contents())
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in flags:
            continue
        value = field.contents()
        if key == "tokenizer.ggml.tokens":
            for i, text, _ in renamed:
                value[i] = text
        if key == "tokenizer.ggml.token_type":
            for i, _, ty in renamed:
                value[i] = ty
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            w.add_array(key, value)
        else:
            w.add_key_value(key, value, field.types[0])
    for key, value in flags.items():
        w.add_bool(key, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# Variants of committed vocabularies, rebuilt the same way by the Rust tests.
VARIANTS = {
    # Gemma's setting on the Llama SentencePiece vocabulary.
    "llama-spm-no-prefix": ("llama-spm", {"tokenizer.ggml.add_space_prefix": False}, []),
    # Gemma-shaped: no space prefix, Gemma's turn markers as control tokens and a user-defined
    # token (in place of the last, rare entries), to check SentencePiece with special tokens
    # and Gemma chat prompts. No Gemma 3 vocabulary is at hand (llama.cpp's ggml-vocab-gemma-4 is
    # a different tokenizer model, `gemma4`).
    "gemma-like": (
        "llama-spm",
        {"tokenizer.ggml.add_space_prefix": False},
        [[31999, "<start_of_turn>", 3], [31998, "<end_of_turn>", 3], [31997, "<start_of_image>", 4], [31996, "<table>", 4]],
    ),
}

GEMMA_CASES = [
    "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
    "a<table>b <table> c<start_of_image>",
    "<end_of_turn><end_of_turn>x",
]

# Chat templates: (name, Jinja text, vocabulary fixture the ids come from or None).
LLAMA3_0 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
# google/gemma-3-*-it tokenizer_config.json (not among llama.cpp's templates).
GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  What is 2+2?\n"}],
    [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": " Blue. "},
        {"role": "user", "content": "Another, in 日本語?"},
    ],
    [
        {"role": "system", "content": "You answer in French.\n"},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Thanks"},
    ],
]


def render(template, messages, add_generation_prompt, **extra):
    """As transformers' apply_chat_template renders (BOS text left out: the tokenizer adds BOS)."""

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, indent=indent, ensure_ascii=False)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token="", eos_token="", **extra
    )


def chat_fixture(llama_cpp_dir, vocabs, smollm2, qwen25):
    tdir = os.path.join(llama_cpp_dir, "models", "templates")
    read = lambda name: open(os.path.join(tdir, name), encoding="utf-8").read()  # noqa: E731
    meta = lambda path: gguf.GGUFReader(path).fields["tokenizer.chat_template"].contents()  # noqa: E731
    templates = [
        ("smollm2", meta(smollm2), "smollm2", {}),
        ("qwen2", meta(os.path.join(llama_cpp_dir, "models", "ggml-vocab-qwen2.gguf")), "qwen2", {}),
        ("qwen2.5", meta(qwen25) if qwen25 else read("Qwen-Qwen2.5-7B-Instruct.jinja"), "qwen2", {}),
        ("llama3.0", LLAMA3_0, "llama-bpe", {}),
        ("llama3.1", read("meta-llama-Llama-3.1-8B-Instruct.jinja"), "llama-bpe", {}),
        ("llama3.2", read("meta-llama-Llama-3.2-3B-Instruct.jinja"), "llama-bpe", {"today": "05 Dec 2026"}),
        ("llama3.3", read("meta-llama-Llama-3.3-70B-Instruct.jinja"), "llama-bpe", {}),
        ("gemma2", read("google-gemma-2-2b-it.jinja"), "gemma-like", {}),
        ("gemma3", GEMMA3, "gemma-like", {}),
    ]
    out = []
    for name, template, vocab, opts in templates:
        extra = {}
        if "today" in opts:
            extra["strftime_now"] = lambda fmt, d=opts["today"]: datetime.datetime.strptime(d, "%d %b %Y").strftime(fmt)
        renders = []
        for msgs in CONVERSATIONS:
            for gen in (True, False):
                try:
                    text = render(template, msgs, gen, **extra)
                except jinja2.exceptions.TemplateError as e:
                    renders.append({"messages": msgs, "add_generation_prompt": gen, "error": str(e)})
                    continue
                r = {"messages": msgs, "add_generation_prompt": gen, "rendered": text}
                if vocab:
                    r["ids"] = vocabs[vocab].tokenize(text, True, True)
                renders.append(r)
        out.append({"name": name, "template": template, "vocab": vocab, **opts, "renders": renders})
    return out


def main(llama_cpp_dir, smollm2, qwen25=None):
    os.makedirs(OUT, exist_ok=True)
    models = os.path.join(llama_cpp_dir, "models")
    vocabs = {}
    for name in VOCABS:
        src = os.path.join(models, f"ggml-vocab-{name}.gguf")
        v = vocabs[name] = Vocab(src)
        texts = CORPUS + SPECIAL_CASES[name] + inp_texts(src + ".inp") + random_cases(name, 60)
        write(f"{name}.json", fixture(v, texts, f"llama.cpp models/ggml-vocab-{name}.gguf"))
    vocabs["smollm2"] = Vocab(smollm2)
    texts = CORPUS + SPECIAL_CASES["smollm2"] + random_cases("smollm2", 60)
    write("smollm2.json", fixture(vocabs["smollm2"], texts, "SmolLM2-135M-Instruct.Q4_1.gguf (ecq fetch smollm2)"))
    if qwen25:
        # Not committed (491 MB); its vocabulary differs from ggml-vocab-qwen2 in the added tokens.
        v = Vocab(qwen25)
        texts = CORPUS + SPECIAL_CASES["qwen2"] + SPECIAL_CASES["qwen2.5"] + random_cases("qwen2.5", 60)
        write("qwen2.5.json", fixture(v, texts, "Qwen2.5-Coder-0.5B-Instruct GGUF (not committed)"))
    with tempfile.TemporaryDirectory() as tmp:
        for name, (base, flags, renamed) in VARIANTS.items():
            path = os.path.join(tmp, f"{name}.gguf")
            with_metadata(os.path.join(models, f"ggml-vocab-{base}.gguf"), path, flags, renamed)
            v = vocabs[name] = Vocab(path)
            texts = CORPUS + SPECIAL_CASES["llama-spm"] + GEMMA_CASES + random_cases(name, 30)
            obj = fixture(v, texts, f"ggml-vocab-{base}.gguf, changed")
            write(f"{name}.json", {"base": base, "flags": flags, "renamed": renamed, **obj})
        write("chat.json", chat_fixture(llama_cpp_dir, vocabs, smollm2, qwen25))


if __name__ == "__main__":
    main(*sys.argv[1:])
